//! The byte layout shared by [`LogWriter`](super::LogWriter) and
//! [`read_log`](super::read_log), and the header record of a WAL segment.
//!
//! Two framings exist. This build writes v2 and reads both; v1 is LevelDB's.
//!
//! ```text
//! log         := block* partial_block?
//! block       := fragment* trailer                     (exactly BLOCK_SIZE = 32768 bytes)
//! trailer     := 0x00{0..header_size-1}                (a block tail shorter than a header)
//! fragment_v1 := crc: u32 LE | length: u16 LE | type: u8 | payload: u8{length}
//! fragment_v2 := crc: u32 LE | length: u16 LE | type: u8 | log: u32 LE | synced: u32 LE
//!                | payload: u8{length}
//! type (v1)   := 1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST    (every other byte is invalid)
//! type (v2)   := 5 FULL | 6 FIRST | 7 MIDDLE | 8 LAST    (every other byte is invalid)
//! crc (v1)    := mask(crc32c(type ++ payload))
//! crc (v2)    := mask(crc32c(type ++ log ++ synced ++ payload))
//! mask(c)     := ((c >> 15) | (c << 17)) + 0xa282ead8     (wrapping, as in LevelDB)
//! record      := FULL | FIRST MIDDLE* LAST
//! log (v2)    := the low 32 bits of the file's number (WAL segment or manifest)
//! synced (v2) := bytes of the file known durable when the fragment was framed
//!                (saturating at u32::MAX)
//! ```
//!
//! A log is all v1 or all v2, and the type byte of its first fragment (byte 6 of the
//! file) says which, before any fragment is parsed: the two framings use disjoint type
//! codes, as RocksDB's recyclable format does. A file starting with a v1 fragment is
//! read as v1.
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
//! v2 adds two fields, both under the CRC. `log` makes a fragment belong to one file:
//! after damage the reader scans every offset for the next valid fragment, and a user
//! value holding bytes shaped like a fragment (a v1 fragment, or a v2 one of another
//! log, copied from some other file) is not taken for one. A value that embeds a valid
//! v2 fragment of the *same* log is still possible in theory: its writer must predict
//! the number of the segment the value will land in and compute the CRC over it. `synced`
//! lets the reader tell a hole that a power cut left in the unsynced end of the file (no
//! later fragment was framed after that point was synced) from damage to synced data
//! (a later fragment says the damaged bytes had been synced).
//!
//! A WAL segment is a log whose first record is the segment header:
//!
//! ```text
//! segment_header := magic: "LSMWAL\r\n" (8 bytes) | version: u32 LE | number: u64 LE
//! version        := 1 (v1 framing) | 2 (v2 framing); this build writes 2
//! wal_record     := WriteBatch encoding (see crate::batch)
//! ```

/// Size of a block; fragments never cross a multiple of it.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Bytes of a v2 fragment header, the framing this build writes: CRC (4), length (2),
/// type (1), log number (4), synced length (4).
pub const HEADER_SIZE: usize = 15;

/// Bytes of a v1 fragment header: CRC (4), length (2), type (1).
pub const HEADER_SIZE_V1: usize = 7;

/// The size of a 4 KiB page, the unit in which a disk persists unsynced data.
pub const PAGE_SIZE: usize = 4096;

/// Which framing a log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// LevelDB's 7-byte headers.
    V1,
    /// 15-byte headers with the log number and the synced length.
    #[default]
    V2,
}

impl Framing {
    /// Bytes of a fragment header.
    pub fn header_size(self) -> usize {
        match self {
            Framing::V1 => HEADER_SIZE_V1,
            Framing::V2 => HEADER_SIZE,
        }
    }

    /// The framing whose fragments carry `type_byte`, or `None` when neither does.
    pub fn of_type_byte(type_byte: u8) -> Option<Framing> {
        match type_byte {
            1..=4 => Some(Framing::V1),
            5..=8 => Some(Framing::V2),
            _ => None,
        }
    }

    /// The type byte of `ty` in this framing.
    pub fn type_byte(self, ty: FragmentType) -> u8 {
        match self {
            Framing::V1 => ty as u8,
            Framing::V2 => ty as u8 + 4,
        }
    }

    /// The type a byte read from disk names in this framing, or `None`.
    pub fn fragment_type(self, type_byte: u8) -> Option<FragmentType> {
        if Framing::of_type_byte(type_byte) != Some(self) {
            return None;
        }
        FragmentType::from_u8(match self {
            Framing::V1 => type_byte,
            Framing::V2 => type_byte - 4,
        })
    }
}

/// Which part of a record a fragment holds (the v1 type codes; see [`Framing::type_byte`]).
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
    /// The type for a v1 type byte, or `None` when it names no type.
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

fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// The stored CRC of a v1 fragment: masked crc32c of its type byte and its payload.
pub fn fragment_crc(type_byte: u8, payload: &[u8]) -> u32 {
    mask(crc32c::crc32c_append(crc32c::crc32c(&[type_byte]), payload))
}

/// The stored CRC of a v2 fragment: masked crc32c of its type byte, log number, synced
/// length and payload.
pub fn fragment_crc_v2(type_byte: u8, log: u32, synced: u32, payload: &[u8]) -> u32 {
    let mut head = [0u8; 9];
    head[0] = type_byte;
    head[1..5].copy_from_slice(&log.to_le_bytes());
    head[5..9].copy_from_slice(&synced.to_le_bytes());
    mask(crc32c::crc32c_append(crc32c::crc32c(&head), payload))
}

/// The low 32 bits of a file number, as v2 fragment headers carry it.
pub fn log_tag(file_number: u64) -> u32 {
    file_number as u32
}

/// A fragment header as read from disk, not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The stored CRC.
    pub crc: u32,
    /// Payload bytes.
    pub length: usize,
    /// The raw type byte.
    pub type_byte: u8,
    /// v2: the log number field (0 in v1).
    pub log: u32,
    /// v2: the synced length field (0 in v1).
    pub synced: u32,
}

impl FragmentHeader {
    /// The header at the start of `bytes`, or `None` when `bytes` is shorter than one.
    pub fn parse(framing: Framing, bytes: &[u8]) -> Option<FragmentHeader> {
        let h = bytes.get(..framing.header_size())?;
        // `h` holds a whole header, so every field is there; the fallbacks are unreachable.
        let u32_at = |i: usize| {
            h.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_le_bytes)
        };
        let length = h
            .get(4..6)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u16::from_le_bytes);
        Some(FragmentHeader {
            crc: u32_at(0),
            length: usize::from(length),
            type_byte: h.get(6).copied().unwrap_or(0),
            log: if framing == Framing::V2 { u32_at(7) } else { 0 },
            synced: if framing == Framing::V2 {
                u32_at(11)
            } else {
                0
            },
        })
    }

    /// True when the stored CRC matches `payload` (and, in v2, the header fields).
    pub fn crc_matches(&self, framing: Framing, payload: &[u8]) -> bool {
        let want = match framing {
            Framing::V1 => fragment_crc(self.type_byte, payload),
            Framing::V2 => fragment_crc_v2(self.type_byte, self.log, self.synced, payload),
        };
        self.crc == want
    }
}

/// Appends one v2 fragment (header and payload) of log `log` to `out`; `synced` is the
/// durable length of the file when it is framed.
///
/// REQUIRES: `payload.len() <= u16::MAX` and the fragment fits in the current block.
pub fn put_fragment(out: &mut Vec<u8>, ty: FragmentType, log: u32, synced: u32, payload: &[u8]) {
    debug_assert!(payload.len() <= usize::from(u16::MAX));
    let type_byte = Framing::V2.type_byte(ty);
    out.extend_from_slice(&fragment_crc_v2(type_byte, log, synced, payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.push(type_byte);
    out.extend_from_slice(&log.to_le_bytes());
    out.extend_from_slice(&synced.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends one v1 fragment to `out`. The engine no longer writes v1; this is kept so
/// that tests and fuzz seeds can make the old files this build must still read.
///
/// REQUIRES: as [`put_fragment`].
pub fn put_fragment_v1(out: &mut Vec<u8>, ty: FragmentType, payload: &[u8]) {
    debug_assert!(payload.len() <= usize::from(u16::MAX));
    out.extend_from_slice(&fragment_crc(ty as u8, payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.push(ty as u8);
    out.extend_from_slice(payload);
}

/// The log number the first fragment of `data` carries, when it is a v2 fragment: what
/// a tool reading a file of unknown name checks the others against.
pub fn first_log_number(data: &[u8]) -> Option<u32> {
    let h = FragmentHeader::parse(Framing::V2, data)?;
    (Framing::of_type_byte(h.type_byte) == Some(Framing::V2)).then_some(h.log)
}

/// First bytes of every WAL segment header; tells a WAL from a MANIFEST or a stray file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LSMWAL\r\n";

/// Version of the WAL segment format this build writes (v2 framing).
pub const WAL_FORMAT_VERSION: u32 = 2;

/// The oldest WAL segment format this build reads (v1 framing).
pub const WAL_FORMAT_VERSION_V1: u32 = 1;

/// Bytes of the segment header record payload.
pub const SEGMENT_HEADER_LEN: usize = 20;

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment number.
    pub number: u64,
    /// The format version: 1 or 2.
    pub version: u32,
}

impl SegmentHeader {
    /// The framing a segment of this version must use.
    pub fn framing(&self) -> Framing {
        if self.version == WAL_FORMAT_VERSION_V1 {
            Framing::V1
        } else {
            Framing::V2
        }
    }
}

/// The payload of the first record of segment `number`.
pub fn encode_segment_header(number: u64) -> [u8; SEGMENT_HEADER_LEN] {
    encode_segment_header_version(number, WAL_FORMAT_VERSION)
}

/// The header payload of segment `number` in format `version` (tests write v1 with it).
pub fn encode_segment_header_version(number: u64, version: u32) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..].copy_from_slice(&number.to_le_bytes());
    h
}

/// The header in a header record payload, or what is wrong with it.
pub fn decode_segment_header(payload: &[u8]) -> Result<SegmentHeader, String> {
    if payload.len() != SEGMENT_HEADER_LEN {
        return Err(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_LEN}",
            payload.len()
        ));
    }
    if payload.get(..8) != Some(&SEGMENT_MAGIC[..]) {
        return Err("segment header has a wrong magic (not a WAL segment)".into());
    }
    // The length was checked above, so the fields are there.
    let field = |r: std::ops::Range<usize>| payload.get(r).unwrap_or_default();
    let version = u32::from_le_bytes(field(8..12).try_into().map_err(|_| "short header")?);
    if !(WAL_FORMAT_VERSION_V1..=WAL_FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "WAL format version {version} is not supported (this build reads \
             {WAL_FORMAT_VERSION_V1}..={WAL_FORMAT_VERSION})"
        ));
    }
    let number = u64::from_le_bytes(field(12..20).try_into().map_err(|_| "short header")?);
    Ok(SegmentHeader { number, version })
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
    fn v2_crc_covers_the_log_number_and_the_synced_length() {
        let a = fragment_crc_v2(5, 7, 100, b"abc");
        assert_ne!(a, fragment_crc_v2(5, 8, 100, b"abc"));
        assert_ne!(a, fragment_crc_v2(5, 7, 101, b"abc"));
        assert_ne!(a, fragment_crc_v2(6, 7, 100, b"abc"));
        assert_ne!(a, fragment_crc_v2(5, 7, 100, b"abd"));
    }

    #[test]
    fn the_framings_have_disjoint_type_codes() {
        for ty in [
            FragmentType::Full,
            FragmentType::First,
            FragmentType::Middle,
            FragmentType::Last,
        ] {
            for f in [Framing::V1, Framing::V2] {
                let b = f.type_byte(ty);
                assert_eq!(Framing::of_type_byte(b), Some(f));
                assert_eq!(f.fragment_type(b), Some(ty));
            }
            assert_eq!(Framing::V2.fragment_type(Framing::V1.type_byte(ty)), None);
            assert_eq!(Framing::V1.fragment_type(Framing::V2.type_byte(ty)), None);
        }
        for b in [0u8, 9, 255] {
            assert_eq!(Framing::of_type_byte(b), None);
        }
    }

    #[test]
    fn a_v2_fragment_parses_back() {
        let mut out = Vec::new();
        put_fragment(&mut out, FragmentType::First, 0xdead_beef, 27, b"payload");
        assert_eq!(out.len(), HEADER_SIZE + 7);
        let h = FragmentHeader::parse(Framing::V2, &out).unwrap();
        assert_eq!(
            (h.length, h.type_byte, h.log, h.synced),
            (7, 6, 0xdead_beef, 27)
        );
        assert!(h.crc_matches(Framing::V2, &out[HEADER_SIZE..]));
        assert_eq!(first_log_number(&out), Some(0xdead_beef));
        let mut v1 = Vec::new();
        put_fragment_v1(&mut v1, FragmentType::Full, b"x");
        assert_eq!(first_log_number(&v1), None);
        let h = FragmentHeader::parse(Framing::V1, &v1).unwrap();
        assert!(h.crc_matches(Framing::V1, b"x"));
    }

    #[test]
    fn segment_header_round_trips_and_rejects_garbage() {
        let h = encode_segment_header(42);
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                number: 42,
                version: 2
            })
        );
        let v1 = encode_segment_header_version(42, 1);
        assert_eq!(
            decode_segment_header(&v1).map(|h| h.framing()),
            Ok(Framing::V1)
        );
        assert!(decode_segment_header(&h[..19]).is_err());
        let mut bad = h;
        bad[0] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
        let mut v3 = h;
        v3[8] = 3;
        assert!(decode_segment_header(&v3)
            .unwrap_err()
            .contains("version 3"));
    }
}
