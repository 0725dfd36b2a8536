//! The byte layout shared by [`LogWriter`](super::LogWriter) and
//! [`read_log`](super::read_log), and the header record of a WAL segment.
//!
//! ```text
//! log       := block* partial_block?
//! block     := fragment* trailer                       (exactly BLOCK_SIZE = 32768 bytes)
//! trailer   := 0x00{0..6}                              (a block tail shorter than a header)
//! fragment  := crc: u32 LE | length: u16 LE | type: u8 | payload: u8{length}
//! type      := 1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST     (0 and 5..=255 are invalid)
//! crc       := mask(crc32c(type ++ payload))
//! mask(c)   := ((c >> 15) | (c << 17)) + 0xa282ead8     (wrapping, as in LevelDB)
//! record    := FULL | FIRST MIDDLE* LAST
//! ```
//!
//! A fragment never crosses a block boundary, so after damage a reader can find the next
//! fragment at the next multiple of `BLOCK_SIZE` and go on. A record that does not fit in
//! what is left of a block is cut into FIRST, MIDDLE..., LAST fragments; a record may be
//! empty (a FULL fragment of length 0).
//!
//! The CRC is masked because a log may hold records that themselves carry CRCs (the
//! MANIFEST, or a value that is a file); the CRC of a string holding its own CRC is badly
//! distributed, and masking breaks that. It covers the type byte so that a fragment whose
//! type was flipped does not pass as a different kind of fragment.
//!
//! A WAL segment is a log whose first record is the segment header:
//!
//! ```text
//! segment_header := magic: "LSMWAL\r\n" (8 bytes) | version: u32 LE = 1 | number: u64 LE
//! wal_record     := WriteBatch encoding (see crate::batch)
//! ```

/// Size of a block; fragments never cross a multiple of it.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Bytes of a fragment header: CRC (4), length (2), type (1).
pub const HEADER_SIZE: usize = 7;

/// Which part of a record a fragment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentType {
    /// A whole record.
    Full = 1,
    /// The first piece of a record spanning several fragments.
    First = 2,
    /// A piece that is neither first nor last.
    Middle = 3,
    /// The last piece.
    Last = 4,
}

impl FragmentType {
    /// The type for a byte read from disk, or `None` when it names no type.
    pub fn from_u8(b: u8) -> Option<FragmentType> {
        match b {
            1 => Some(FragmentType::Full),
            2 => Some(FragmentType::First),
            3 => Some(FragmentType::Middle),
            4 => Some(FragmentType::Last),
            _ => None,
        }
    }
}

const MASK_DELTA: u32 = 0xa282_ead8;

/// The stored CRC of a fragment: masked crc32c of its type byte followed by its payload.
pub fn fragment_crc(type_byte: u8, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[type_byte]), payload);
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Appends one fragment (header and payload) to `out`.
///
/// REQUIRES: `payload.len() <= u16::MAX` and the fragment fits in the current block.
pub fn put_fragment(out: &mut Vec<u8>, ty: FragmentType, payload: &[u8]) {
    debug_assert!(payload.len() <= usize::from(u16::MAX));
    out.extend_from_slice(&fragment_crc(ty as u8, payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.push(ty as u8);
    out.extend_from_slice(payload);
}

/// First bytes of every WAL segment header; tells a WAL from a MANIFEST or a stray file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LSMWAL\r\n";

/// Version of the WAL segment format described above.
pub const WAL_FORMAT_VERSION: u32 = 1;

/// Bytes of the segment header record payload.
pub const SEGMENT_HEADER_LEN: usize = 20;

/// The payload of the first record of segment `number`.
pub fn encode_segment_header(number: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    h[12..].copy_from_slice(&number.to_le_bytes());
    h
}

/// The segment number in a header record payload, or what is wrong with it.
pub fn decode_segment_header(payload: &[u8]) -> Result<u64, String> {
    if payload.len() != SEGMENT_HEADER_LEN {
        return Err(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_LEN}",
            payload.len()
        ));
    }
    if payload[..8] != SEGMENT_MAGIC {
        return Err("segment header has a wrong magic (not a WAL segment)".into());
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&payload[8..12]);
    let version = u32::from_le_bytes(v);
    if version != WAL_FORMAT_VERSION {
        return Err(format!(
            "WAL format version {version} is not supported (expected {WAL_FORMAT_VERSION})"
        ));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&payload[12..]);
    Ok(u64::from_le_bytes(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_covers_type_and_payload() {
        let a = fragment_crc(1, b"abc");
        assert_ne!(a, fragment_crc(2, b"abc"));
        assert_ne!(a, fragment_crc(1, b"abd"));
        // The mask changes the value, so an embedded raw CRC does not look valid.
        let raw = crc32c::crc32c_append(crc32c::crc32c(&[1]), b"abc");
        assert_ne!(a, raw);
    }

    #[test]
    fn segment_header_round_trips_and_rejects_garbage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        assert!(decode_segment_header(&h[..19]).is_err());
        let mut bad = h;
        bad[0] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
        let mut v2 = h;
        v2[8] = 2;
        assert!(decode_segment_header(&v2)
            .unwrap_err()
            .contains("version 2"));
    }
}
