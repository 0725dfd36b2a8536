//! `WriteBatch`: writes applied atomically, and the payload of a WAL record.
//!
//! ```text
//! batch := seq: u64 LE | count: u32 LE | op{count}
//! op    := kind: u8 (0 delete, 1 put, 2 range delete: in the keyspace "default";
//!                    3 delete, 4 put, 5 range delete: in the keyspace named next;
//!                    6 merge: in "default", 7 merge: in the keyspace named next;
//!                    8 expiring put: in "default", 9: in the keyspace named next)
//!          | keyspace id: varint               (kinds 3, 4, 5, 7 and 9 only)
//!          | key: varint len ++ bytes
//!          | value: varint len ++ bytes        (put: the value; range delete: the end
//!                                               key; merge: the operand; expiring
//!                                               put: expires_at_ms u64 LE ++ value)
//! ```
//! In a batch not yet written, an expiring put holds its time to live (ms) where the
//! expiry goes: the write turns it into the expiry by the database's clock.
//! The ops of a batch take the consecutive sequence numbers `seq, seq + 1, ...`.
//! Kinds 3 to 5 are new with keyspaces, 6 and 7 with merge operators; a batch of
//! puts and deletes in the default keyspace is encoded as before, so its WAL records
//! are unchanged.

use crate::coding::{put_length_prefixed, put_varint, Reader};
use crate::error::{LsmError, Result};
use crate::key::{SeqNo, ValueKind};

const HEADER_LEN: usize = 12;

/// A group of writes applied all together or not at all, also across a crash.
///
/// ```
/// let mut b = lsm::WriteBatch::new();
/// b.put(b"x", b"1");
/// b.delete(b"y");
/// assert_eq!(b.len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
    /// Some operation is in a keyspace other than `"default"`.
    keyspaces: bool,
    /// The database the keyspaces named by `put_in` and the like belong to (its
    /// instance number; 0: none named yet, `u64::MAX`: more than one), so a batch is
    /// never applied to keyspaces of another database that happen to share an id.
    origin: u64,
    /// Some operation is a merge.
    merges: bool,
    /// Where in `rep` the times to live of the expiring puts are, to be turned into
    /// expiries in place when the batch is written: the first (so a single
    /// `put_with_ttl` allocates nothing more), then the others.
    ttl_first: Option<usize>,
    ttl_more: Vec<usize>,
}

/// The offset added to the kind byte of a delete, put or range delete when a keyspace
/// id follows it.
const IN_KEYSPACE: u8 = 3;
/// The kind bytes of a merge: in "default", and with a keyspace id.
const MERGE: u8 = 6;
const MERGE_IN_KEYSPACE: u8 = 7;
/// The kind bytes of an expiring put: in "default", and with a keyspace id.
const EXPIRING: u8 = 8;
const EXPIRING_IN_KEYSPACE: u8 = 9;

/// The kind byte of an op of `kind`, with a keyspace id following when `in_ks`.
fn kind_byte(kind: ValueKind, in_ks: bool) -> u8 {
    match (kind, in_ks) {
        (ValueKind::Merge, false) => MERGE,
        (ValueKind::Merge, true) => MERGE_IN_KEYSPACE,
        (ValueKind::PutExpiring, false) => EXPIRING,
        (ValueKind::PutExpiring, true) => EXPIRING_IN_KEYSPACE,
        (k, false) => k as u8,
        (k, true) => k as u8 + IN_KEYSPACE,
    }
}

/// The kind of an op's kind byte, and whether a keyspace id follows it.
fn parse_kind_byte(b: u8) -> Option<(ValueKind, bool)> {
    match b {
        0..=2 => Some((ValueKind::from_u8(b)?, false)),
        3..=5 => Some((ValueKind::from_u8(b - IN_KEYSPACE)?, true)),
        MERGE => Some((ValueKind::Merge, false)),
        MERGE_IN_KEYSPACE => Some((ValueKind::Merge, true)),
        EXPIRING => Some((ValueKind::PutExpiring, false)),
        EXPIRING_IN_KEYSPACE => Some((ValueKind::PutExpiring, true)),
        _ => None,
    }
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("ops", &self.len())
            .field("bytes", &self.rep.len())
            .finish()
    }
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch::new()
    }
}

/// One operation of a batch, borrowed from its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp<'a> {
    /// Set `key` to `value`.
    Put(&'a [u8], &'a [u8]),
    /// Delete `key`.
    Delete(&'a [u8]),
    /// Delete every key in `[start, end)`.
    DeleteRange(&'a [u8], &'a [u8]),
    /// Merge operand `value` into `key` (see [`crate::MergeOperator`]).
    Merge(&'a [u8], &'a [u8]),
    /// Set `key` to an expiring value: `expires_at_ms: u64 LE ++ value` (see
    /// [`crate::ttl`]; in a batch not yet written, the time to live in ms).
    PutExpiring(&'a [u8], &'a [u8]),
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::with_capacity(0)
    }

    /// An empty batch with room for `bytes` of keys and values without reallocating.
    pub fn with_capacity(bytes: usize) -> WriteBatch {
        let mut rep = Vec::with_capacity(HEADER_LEN + bytes);
        rep.resize(HEADER_LEN, 0);
        WriteBatch {
            rep,
            keyspaces: false,
            origin: 0,
            merges: false,
            ttl_first: None,
            ttl_more: Vec::new(),
        }
    }

    /// Adds `key = value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(ValueKind::Put, key, Some(value))
    }

    /// Adds a deletion of `key`.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.push(ValueKind::Delete, key, None)
    }

    /// Adds a deletion of every key in `[start, end)`.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) -> &mut Self {
        self.push(ValueKind::RangeDelete, start, Some(end))
    }

    /// Adds `key = value` in keyspace `ks` (see [`crate::Lsm::keyspace`]).
    pub fn put_in(&mut self, ks: &crate::Keyspace, key: &[u8], value: &[u8]) -> &mut Self {
        self.note_origin(ks);
        self.push_in(ks.id(), ValueKind::Put, key, Some(value))
    }

    /// Adds merge operand `operand` for `key` (see [`crate::Lsm::merge`]).
    pub fn merge(&mut self, key: &[u8], operand: &[u8]) -> &mut Self {
        self.push(ValueKind::Merge, key, Some(operand))
    }

    /// Adds `key = value`, expiring `ttl` after the batch is written (see
    /// [`crate::Lsm::put_with_ttl`]).
    pub fn put_with_ttl(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl: std::time::Duration,
    ) -> &mut Self {
        self.push_expiring(crate::manifest::DEFAULT_KEYSPACE, key, value, ttl)
    }

    /// An expiring put, its time to live (ms) where the expiry goes, written without
    /// building the expiring value apart: the hot path of `Lsm::put_with_ttl`.
    fn push_expiring(
        &mut self,
        ks: u32,
        key: &[u8],
        value: &[u8],
        ttl: std::time::Duration,
    ) -> &mut Self {
        let in_ks = ks != crate::manifest::DEFAULT_KEYSPACE;
        self.rep.push(kind_byte(ValueKind::PutExpiring, in_ks));
        if in_ks {
            put_varint(&mut self.rep, u64::from(ks));
            self.keyspaces = true;
        }
        put_length_prefixed(&mut self.rep, key);
        put_varint(&mut self.rep, (crate::ttl::EXPIRY_LEN + value.len()) as u64);
        match self.ttl_first {
            None => self.ttl_first = Some(self.rep.len()),
            Some(_) => self.ttl_more.push(self.rep.len()),
        }
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.rep.extend_from_slice(&ms.to_le_bytes());
        self.rep.extend_from_slice(value);
        let n = self.len() as u32 + 1;
        self.rep[8..12].copy_from_slice(&n.to_le_bytes());
        self
    }

    /// Turns the times to live of the expiring puts into expiries at `now_ms`, in
    /// place (no default TTL to apply: see [`WriteBatch::resolved`]).
    pub(crate) fn resolve_in_place(&mut self, now_ms: u64) {
        for &at in self.ttl_first.iter().chain(&self.ttl_more) {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.rep[at..at + 8]);
            let expiry = crate::ttl::expiry(
                now_ms,
                std::time::Duration::from_millis(u64::from_le_bytes(b)),
            );
            self.rep[at..at + 8].copy_from_slice(&expiry.to_le_bytes());
        }
        self.ttl_first = None;
        self.ttl_more.clear();
    }

    /// [`WriteBatch::put_with_ttl`] in keyspace `ks`.
    pub fn put_with_ttl_in(
        &mut self,
        ks: &crate::Keyspace,
        key: &[u8],
        value: &[u8],
        ttl: std::time::Duration,
    ) -> &mut Self {
        self.note_origin(ks);
        self.push_expiring(ks.id(), key, value, ttl)
    }

    /// Adds merge operand `operand` for `key` in keyspace `ks`.
    pub fn merge_in(&mut self, ks: &crate::Keyspace, key: &[u8], operand: &[u8]) -> &mut Self {
        self.note_origin(ks);
        self.push_in(ks.id(), ValueKind::Merge, key, Some(operand))
    }

    /// Adds a deletion of `key` in keyspace `ks`.
    pub fn delete_in(&mut self, ks: &crate::Keyspace, key: &[u8]) -> &mut Self {
        self.note_origin(ks);
        self.push_in(ks.id(), ValueKind::Delete, key, None)
    }

    /// Adds a deletion of every key in `[start, end)` in keyspace `ks`.
    pub fn delete_range_in(&mut self, ks: &crate::Keyspace, start: &[u8], end: &[u8]) -> &mut Self {
        self.note_origin(ks);
        self.push_in(ks.id(), ValueKind::RangeDelete, start, Some(end))
    }

    /// [`WriteBatch::put_in`] by keyspace id.
    pub(crate) fn put_ks(&mut self, ks: u32, key: &[u8], value: &[u8]) -> &mut Self {
        self.push_in(ks, ValueKind::Put, key, Some(value))
    }

    /// [`WriteBatch::delete_in`] by keyspace id.
    pub(crate) fn delete_ks(&mut self, ks: u32, key: &[u8]) -> &mut Self {
        self.push_in(ks, ValueKind::Delete, key, None)
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.rep.clear();
        self.rep.resize(HEADER_LEN, 0);
        self.keyspaces = false;
        self.origin = 0;
        self.merges = false;
        self.ttl_first = None;
        self.ttl_more.clear();
    }

    /// True when some operation is a merge.
    pub(crate) fn has_merges(&self) -> bool {
        self.merges
    }

    /// True when some operation is an expiring put whose expiry is still to resolve.
    pub(crate) fn has_ttls(&self) -> bool {
        self.ttl_first.is_some()
    }

    /// This batch as written at `now_ms`: each expiring put's time to live becomes
    /// its expiry, and each plain put into a keyspace whose `default_ttl` is set
    /// becomes an expiring put.
    pub(crate) fn resolved(
        &self,
        now_ms: u64,
        default_ttl: impl Fn(u32) -> Option<std::time::Duration>,
    ) -> WriteBatch {
        let mut out = WriteBatch::with_capacity(self.rep.len() + 16);
        out.origin = self.origin;
        for (ks, op) in self.iter() {
            let expiring = |value: &[u8], ttl: std::time::Duration| {
                crate::ttl::join(crate::ttl::expiry(now_ms, ttl), value)
            };
            match op {
                BatchOp::Put(k, v) => match default_ttl(ks) {
                    Some(ttl) => {
                        out.push_in(ks, ValueKind::PutExpiring, k, Some(&expiring(v, ttl)))
                    }
                    None => out.push_in(ks, ValueKind::Put, k, Some(v)),
                },
                BatchOp::PutExpiring(k, raw) => {
                    let (ms, v) = crate::ttl::split(raw).unwrap_or((0, raw));
                    let ttl = std::time::Duration::from_millis(ms);
                    out.push_in(ks, ValueKind::PutExpiring, k, Some(&expiring(v, ttl)))
                }
                BatchOp::Delete(k) => out.push_in(ks, ValueKind::Delete, k, None),
                BatchOp::DeleteRange(s, e) => out.push_in(ks, ValueKind::RangeDelete, s, Some(e)),
                BatchOp::Merge(k, v) => out.push_in(ks, ValueKind::Merge, k, Some(v)),
            };
        }
        out.ttl_first = None;
        out.ttl_more.clear();
        out
    }

    fn note_origin(&mut self, ks: &crate::Keyspace) {
        let db = ks.instance();
        self.origin = match self.origin {
            0 => db,
            o if o == db => o,
            _ => u64::MAX,
        };
    }

    /// `InvalidArgument` unless every keyspace the batch names by handle belongs to
    /// the database whose instance number is `db`.
    pub(crate) fn check_origin(&self, db: u64) -> Result<()> {
        if self.origin == 0 || self.origin == db {
            Ok(())
        } else {
            Err(LsmError::InvalidArgument(
                "the batch writes into a keyspace of another database".into(),
            ))
        }
    }

    /// True when some operation is in a keyspace other than `"default"`.
    pub(crate) fn spans_keyspaces(&self) -> bool {
        self.keyspaces
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        u32::from_le_bytes([self.rep[8], self.rep[9], self.rep[10], self.rep[11]]) as usize
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the encoding in bytes (what the batch costs in the WAL).
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    /// The operations, in the order they were added, each with the id of its
    /// keyspace (0 for `"default"`).
    pub fn iter(&self) -> impl Iterator<Item = (u32, BatchOp<'_>)> + '_ {
        // A batch built through this API always decodes.
        BatchIter {
            r: Reader::new(&self.rep[HEADER_LEN..]),
        }
        .map_while(|op| op.ok())
    }

    fn push(&mut self, kind: ValueKind, key: &[u8], value: Option<&[u8]>) -> &mut Self {
        self.push_in(crate::manifest::DEFAULT_KEYSPACE, kind, key, value)
    }

    fn push_in(&mut self, ks: u32, kind: ValueKind, key: &[u8], value: Option<&[u8]>) -> &mut Self {
        if ks == crate::manifest::DEFAULT_KEYSPACE {
            self.rep.push(kind_byte(kind, false));
        } else {
            self.rep.push(kind_byte(kind, true));
            put_varint(&mut self.rep, u64::from(ks));
            self.keyspaces = true;
        }
        self.merges |= kind == ValueKind::Merge;
        put_length_prefixed(&mut self.rep, key);
        if let Some(v) = value {
            put_length_prefixed(&mut self.rep, v);
        }
        let n = self.len() as u32 + 1;
        self.rep[8..12].copy_from_slice(&n.to_le_bytes());
        self
    }

    #[cfg(test)]
    pub(crate) fn set_sequence(&mut self, seq: SeqNo) {
        self.rep[..8].copy_from_slice(&seq.to_le_bytes());
    }

    /// The encoded operations, without the header: a group commit concatenates the
    /// bodies of its batches under one header, since their sequence numbers follow on.
    pub(crate) fn body(&self) -> &[u8] {
        &self.rep[HEADER_LEN..]
    }

    /// The header of a batch of `count` operations starting at `seq`.
    pub(crate) fn header(seq: SeqNo, count: u32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&seq.to_le_bytes());
        h[8..].copy_from_slice(&count.to_le_bytes());
        h
    }

    #[cfg(test)]
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.rep
    }
}

/// A batch read back from a WAL record: its first sequence number and its operations.
pub(crate) struct DecodedBatch<'a> {
    pub seq: SeqNo,
    pub count: u32,
    body: &'a [u8],
}

impl<'a> DecodedBatch<'a> {
    /// Checks the header; the operations are checked by [`DecodedBatch::ops`].
    pub fn parse(rep: &'a [u8]) -> std::result::Result<DecodedBatch<'a>, String> {
        let mut r = Reader::new(rep);
        let seq = r.u64().ok_or("batch header truncated")?;
        let count = r.u32().ok_or("batch header truncated")?;
        Ok(DecodedBatch {
            seq,
            count,
            body: &rep[HEADER_LEN..],
        })
    }

    /// All operations with their keyspace ids, or a description of what is
    /// malformed.
    pub fn ops(&self) -> std::result::Result<Vec<(u32, BatchOp<'a>)>, String> {
        let mut out = Vec::with_capacity(self.count as usize);
        let mut it = BatchIter {
            r: Reader::new(self.body),
        };
        for _ in 0..self.count {
            match it.next() {
                Some(Ok(op)) => out.push(op),
                Some(Err(e)) => return Err(e),
                None => return Err("batch has fewer operations than its count".into()),
            }
        }
        if !it.r.is_empty() {
            return Err("batch has bytes after its last operation".into());
        }
        Ok(out)
    }
}

struct BatchIter<'a> {
    r: Reader<'a>,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = std::result::Result<(u32, BatchOp<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        let bad = || "malformed batch operation".to_string();
        let op = (|| {
            let (kind, in_ks) = parse_kind_byte(self.r.u8()?)?;
            let ks = if in_ks {
                u32::try_from(self.r.varint()?).ok()?
            } else {
                crate::manifest::DEFAULT_KEYSPACE
            };
            let key = self.r.length_prefixed()?;
            Some((
                ks,
                match kind {
                    ValueKind::Put => BatchOp::Put(key, self.r.length_prefixed()?),
                    ValueKind::Delete => BatchOp::Delete(key),
                    ValueKind::RangeDelete => BatchOp::DeleteRange(key, self.r.length_prefixed()?),
                    ValueKind::Merge => BatchOp::Merge(key, self.r.length_prefixed()?),
                    ValueKind::PutExpiring => {
                        let raw = self.r.length_prefixed()?;
                        if raw.len() < crate::ttl::EXPIRY_LEN {
                            return None;
                        }
                        BatchOp::PutExpiring(key, raw)
                    }
                },
            ))
        })();
        Some(op.ok_or_else(bad))
    }
}

/// Checks a key or value against the engine's size limits.
pub(crate) fn check_sizes(batch: &WriteBatch) -> Result<()> {
    for (_, op) in batch.iter() {
        let (k, v) = match op {
            BatchOp::Put(k, v) | BatchOp::Merge(k, v) => (k, v),
            BatchOp::PutExpiring(k, raw) => {
                (k, raw.get(crate::ttl::EXPIRY_LEN..).unwrap_or_default())
            }
            BatchOp::Delete(k) => (k, &[][..]),
            // Both ends of a range are keys.
            BatchOp::DeleteRange(s, e) => (if s.len() >= e.len() { s } else { e }, &[][..]),
        };
        if k.len() > MAX_KEY_LEN {
            return Err(LsmError::InvalidArgument(format!(
                "key of {} bytes is longer than the limit of {MAX_KEY_LEN}",
                k.len()
            )));
        }
        if v.len() > MAX_VALUE_LEN {
            return Err(LsmError::InvalidArgument(format!(
                "value of {} bytes is longer than the limit of {MAX_VALUE_LEN}",
                v.len()
            )));
        }
    }
    Ok(())
}

/// The longest key accepted (1 MiB; the contract promises at least 64 KiB).
pub const MAX_KEY_LEN: usize = 1 << 20;
/// The longest value accepted (256 MiB; the contract promises at least 64 MiB).
pub const MAX_VALUE_LEN: usize = 256 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_every_kind() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v").delete(b"d").delete_range(b"a", b"m");
        b.merge(b"c", b"+1")
            .push_in(9, ValueKind::Merge, b"c", Some(b"+2"));
        b.set_sequence(42);
        let d = DecodedBatch::parse(b.encoded()).unwrap();
        assert_eq!((d.seq, d.count), (42, 5));
        assert_eq!(
            d.ops().unwrap(),
            vec![
                (0, BatchOp::Put(b"k", b"v")),
                (0, BatchOp::Delete(b"d")),
                (0, BatchOp::DeleteRange(b"a", b"m")),
                (0, BatchOp::Merge(b"c", b"+1")),
                (9, BatchOp::Merge(b"c", b"+2")),
            ]
        );
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn operations_in_keyspaces_carry_their_id_and_default_ones_encode_as_before() {
        let mut plain = WriteBatch::new();
        plain.put(b"k", b"v");
        let mut b = WriteBatch::new();
        b.put_ks(0, b"k", b"v");
        assert_eq!(
            b.encoded(),
            plain.encoded(),
            "keyspace 0 is the old encoding"
        );
        assert!(!b.spans_keyspaces());
        b.put_ks(300, b"a", b"1").delete_ks(7, b"d").push_in(
            1 << 31,
            ValueKind::RangeDelete,
            b"x",
            Some(b"y"),
        );
        assert!(b.spans_keyspaces());
        b.set_sequence(9);
        let d = DecodedBatch::parse(b.encoded()).unwrap();
        assert_eq!(
            d.ops().unwrap(),
            vec![
                (0, BatchOp::Put(b"k", b"v")),
                (300, BatchOp::Put(b"a", b"1")),
                (7, BatchOp::Delete(b"d")),
                (1 << 31, BatchOp::DeleteRange(b"x", b"y")),
            ]
        );
        let enc = b.encoded().to_vec();
        for cut in HEADER_LEN..enc.len() {
            assert!(DecodedBatch::parse(&enc[..cut])
                .and_then(|d| d.ops())
                .is_err());
        }
        // An unknown kind byte after the merge kinds is malformed.
        let mut bad = plain.encoded().to_vec();
        bad[HEADER_LEN] = 10;
        assert!(DecodedBatch::parse(&bad).unwrap().ops().is_err());
        b.clear();
        assert!(!b.spans_keyspaces());
    }

    #[test]
    fn times_to_live_become_expiries_when_written() {
        let ttl = std::time::Duration::from_millis(1500);
        let mut b = WriteBatch::new();
        b.put(b"plain", b"p")
            .put_with_ttl(b"a", b"va", ttl)
            .push_expiring(9, b"b", b"vb", ttl);
        assert!(b.has_ttls());
        let mut in_place = b.clone();
        in_place.resolve_in_place(1_000);
        assert!(!in_place.has_ttls());
        let rebuilt = b.resolved(1_000, |_| None);
        for batch in [&in_place, &rebuilt] {
            let ops: Vec<_> = batch.iter().collect();
            assert_eq!(ops[0], (0, BatchOp::Put(b"plain", b"p")));
            for (i, (ks, key, value)) in
                [(0, b"a", b"va"), (9, b"b", b"vb")].into_iter().enumerate()
            {
                let (got_ks, op) = ops[i + 1];
                let BatchOp::PutExpiring(k, raw) = op else {
                    panic!("{op:?}")
                };
                assert_eq!((got_ks, k), (ks, &key[..]));
                assert_eq!(crate::ttl::split(raw), Some((2_500, &value[..])));
            }
        }
        // A default TTL turns plain puts into expiring ones.
        let with_default = b.resolved(1_000, |_| Some(std::time::Duration::from_secs(1)));
        let (_, op) = with_default.iter().next().unwrap();
        assert_eq!(
            op,
            BatchOp::PutExpiring(b"plain", &crate::ttl::join(2_000, b"p")[..])
        );
    }

    #[test]
    fn truncated_batches_are_rejected() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value");
        let enc = b.encoded();
        for cut in 0..enc.len() {
            let ok = DecodedBatch::parse(&enc[..cut]).and_then(|d| d.ops());
            assert!(ok.is_err(), "cut at {cut} decoded");
        }
    }
}
