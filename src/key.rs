//! Internal keys: a user key tagged with the sequence number and kind of the write.
//!
//! ```text
//! internal key := user_key ++ trailer
//! trailer      := u64 little-endian of (seq << 8 | kind)     (8 bytes)
//! ```
//!
//! Internal keys sort by user key ascending (bytewise), then by sequence number
//! descending, so the newest version of a key comes first. A snapshot is a sequence
//! number: it sees the first entry of each user key whose `seq <= snapshot`.

use std::cmp::Ordering;

/// A sequence number. Only the low 56 bits are used.
pub type SeqNo = u64;

/// The largest sequence number that fits the trailer.
pub const MAX_SEQ: SeqNo = (1 << 56) - 1;

/// Length of the trailer appended to every user key.
pub const TRAILER_LEN: usize = 8;

/// What a point entry says about its key. Range deletions are kept apart from point
/// entries (see `range_del`), so they never appear in a point-key stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// The key was deleted.
    Delete = 0,
    /// The key holds the entry's value.
    Put = 1,
    /// `[key, value)` was deleted (only in WAL records and range-deletion blocks).
    RangeDelete = 2,
    /// The value is a merge operand, folded onto the key's older versions by the
    /// merge operator.
    Merge = 3,
    /// The value is `expires_at_ms: u64 LE ++ value` (see [`crate::ttl`]): a put that
    /// reads as a deletion from its expiry on.
    PutExpiring = 4,
}

impl ValueKind {
    /// Decodes a kind byte; `None` for anything unknown (corrupt data).
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::RangeDelete),
            3 => Some(ValueKind::Merge),
            4 => Some(ValueKind::PutExpiring),
            _ => None,
        }
    }
}

/// Appends `user_key ++ trailer(seq, kind)` to `out`.
pub fn encode_into(out: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
    out.extend_from_slice(user_key);
    out.extend_from_slice(&((seq << 8) | kind as u64).to_le_bytes());
}

/// `user_key ++ trailer(seq, kind)` as a new vector.
pub fn encode(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_into(&mut v, user_key, seq, kind);
    v
}

/// The key to seek to for "the newest version of `user_key` visible at `seq`": every
/// entry of `user_key` with a sequence number `<= seq` sorts at or after it.
pub fn lookup_key(user_key: &[u8], seq: SeqNo) -> Vec<u8> {
    // The highest kind byte sorts first among equal sequence numbers.
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    v.extend_from_slice(user_key);
    v.extend_from_slice(&((seq << 8) | 0xff).to_le_bytes());
    v
}

/// The user-key part of an internal key. An internal key shorter than a trailer (only
/// possible in corrupt data, which decoders reject first) yields an empty user key.
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    ikey.get(..ikey.len().saturating_sub(TRAILER_LEN))
        .unwrap_or_default()
}

/// The raw trailer `seq << 8 | kind` (0 for a malformed key).
#[inline]
pub fn trailer(ikey: &[u8]) -> u64 {
    match ikey
        .len()
        .checked_sub(TRAILER_LEN)
        .and_then(|at| ikey.get(at..))
    {
        Some(t) => {
            let mut b = [0u8; 8];
            b.copy_from_slice(t);
            u64::from_le_bytes(b)
        }
        None => 0,
    }
}

/// The sequence number of an internal key.
#[inline]
pub fn seq(ikey: &[u8]) -> SeqNo {
    trailer(ikey) >> 8
}

/// The kind of an internal key; `None` when the kind byte is unknown.
#[inline]
pub fn kind(ikey: &[u8]) -> Option<ValueKind> {
    ValueKind::from_u8((trailer(ikey) & 0xff) as u8)
}

/// True when `ikey` is long enough to hold a trailer and its kind byte is known.
pub fn is_well_formed(ikey: &[u8]) -> bool {
    ikey.len() >= TRAILER_LEN && kind(ikey).is_some()
}

/// The total order of internal keys: user key ascending, then trailer descending.
#[inline]
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match compare_bytes(user_key(a), user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

/// Bytewise comparison, eight bytes at a time. Keys are short (16 to 32 bytes is
/// typical), where a call into libc's `memcmp` costs more than the comparison itself;
/// this runs inline in the memtable's and the blocks' searches.
#[inline]
pub fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    while let (Some(x), Some(y)) = (ca.next(), cb.next()) {
        let (x, y) = (word(x), word(y));
        if x != y {
            return x.cmp(&y);
        }
    }
    let done = a.len().min(b.len()) / 8 * 8;
    a.get(done..)
        .unwrap_or_default()
        .cmp(b.get(done..).unwrap_or_default())
}

#[inline]
fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_be_bytes(w)
}

/// A 64-bit hash of a user key, computed once per lookup and shared by every bloom
/// filter probed for it.
#[inline]
pub fn hash(user_key: &[u8]) -> u64 {
    // Two CRC32C lanes with different seeds give 64 well-mixed bits at hardware speed.
    let lo = crc32c::crc32c_append(0x9747_b28c, user_key) as u64;
    let hi = crc32c::crc32c_append(0x85eb_ca6b, user_key) as u64;
    (hi << 32) | lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_version_sorts_first() {
        let a5 = encode(b"a", 5, ValueKind::Put);
        let a9 = encode(b"a", 9, ValueKind::Delete);
        let ab1 = encode(b"ab", 1, ValueKind::Put);
        let b0 = encode(b"b", 0, ValueKind::Put);
        let mut v = vec![b0.clone(), ab1.clone(), a5.clone(), a9.clone()];
        v.sort_by(|x, y| compare(x, y));
        assert_eq!(v, vec![a9, a5, ab1, b0]);
    }

    #[test]
    fn lookup_key_precedes_every_visible_entry() {
        let l = lookup_key(b"k", 7);
        assert_eq!(
            compare(&l, &encode(b"k", 7, ValueKind::Put)),
            Ordering::Less
        );
        assert_eq!(
            compare(&l, &encode(b"k", 3, ValueKind::Delete)),
            Ordering::Less
        );
        assert_eq!(
            compare(&l, &encode(b"k", 8, ValueKind::Put)),
            Ordering::Greater
        );
    }

    #[test]
    fn compare_bytes_agrees_with_slice_order() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefgi",
            b"abcdefghabcdefgh",
            b"abcdefghabcdefgg",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"b",
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(compare_bytes(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn parts_round_trip() {
        let k = encode(b"user", 12345, ValueKind::Delete);
        assert_eq!(user_key(&k), b"user");
        assert_eq!(seq(&k), 12345);
        assert_eq!(kind(&k), Some(ValueKind::Delete));
        assert!(!is_well_formed(b"short"));
    }
}
