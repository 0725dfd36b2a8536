//! `MemTable`: the in-memory write buffer, a lock-free skiplist over internal keys.
//!
//! Writes come from one thread at a time (the group-commit leader); reads from any
//! number of threads, without locks. Range deletions sit beside the skiplist, since
//! they are few and checked as a set.

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{self, SeqNo, ValueKind};
use crate::range_del::RangeTombstone;
use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

/// Internal keys up to this long are stored inside the skiplist node itself, so a
/// search compares keys without chasing a pointer to another cache line.
const INLINE: usize = 30;

/// An encoded internal key ordered by [`key::compare`].
#[derive(Clone)]
enum MemKey {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl MemKey {
    fn new(ikey: &[u8]) -> MemKey {
        if ikey.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..ikey.len()].copy_from_slice(ikey);
            MemKey::Inline {
                len: ikey.len() as u8,
                buf,
            }
        } else {
            MemKey::Heap(ikey.into())
        }
    }

    fn from_parts(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> MemKey {
        let trailer = ((seq << 8) | kind as u64).to_le_bytes();
        let n = user_key.len() + key::TRAILER_LEN;
        if n <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..user_key.len()].copy_from_slice(user_key);
            buf[user_key.len()..n].copy_from_slice(&trailer);
            MemKey::Inline { len: n as u8, buf }
        } else {
            MemKey::Heap(key::encode(user_key, seq, kind).into_boxed_slice())
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            MemKey::Inline { len, buf } => &buf[..*len as usize],
            MemKey::Heap(b) => b,
        }
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for MemKey {}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        key::compare(self.as_slice(), other.as_slice())
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-entry bookkeeping counted against `memtable.max_bytes` besides key and value.
const ENTRY_OVERHEAD: usize = 48;

/// The write buffer. Full ones become immutable and are flushed to SSTables.
pub struct MemTable {
    map: SkipMap<MemKey, Box<[u8]>>,
    range_dels: RwLock<Vec<RangeTombstone>>,
    entries: AtomicUsize,
    bytes: AtomicUsize,
    max_seq: AtomicU64,
    /// The WAL segment that holds this memtable's writes.
    wal_number: u64,
}

impl MemTable {
    /// An empty memtable whose writes are logged in WAL segment `wal_number`.
    pub fn new(wal_number: u64) -> MemTable {
        MemTable {
            map: SkipMap::new(),
            range_dels: RwLock::new(Vec::new()),
            entries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_seq: AtomicU64::new(0),
            wal_number,
        }
    }

    /// The WAL segment holding this memtable's writes.
    pub fn wal_number(&self) -> u64 {
        self.wal_number
    }

    /// Adds a point entry (put or delete).
    ///
    /// REQUIRES: one writer at a time; `seq` unique.
    pub fn add(&self, seq: SeqNo, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        self.account(seq, user_key.len() + key::TRAILER_LEN + value.len());
        self.map
            .insert(MemKey::from_parts(user_key, seq, kind), value.into());
    }

    /// Adds a deletion of `[start, end)`.
    pub fn add_range_tombstone(&self, start: &[u8], end: &[u8], seq: SeqNo) {
        self.account(seq, start.len() + end.len());
        self.range_dels.write().push(RangeTombstone {
            start: start.to_vec(),
            end: end.to_vec(),
            seq,
        });
    }

    fn account(&self, seq: SeqNo, bytes: usize) {
        self.entries.fetch_add(1, AtomicOrdering::Relaxed);
        self.bytes
            .fetch_add(bytes + ENTRY_OVERHEAD, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The newest point entry of `user_key` visible at `snapshot`.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        let target = MemKey::new(&key::lookup_key(user_key, snapshot));
        let e = self.map.lower_bound(Bound::Included(&target))?;
        let ik = e.key().as_slice();
        if key::user_key(ik) != user_key {
            return None;
        }
        let kind = key::kind(ik)?;
        Some((key::seq(ik), kind, e.value().to_vec()))
    }

    /// The sequence number of the newest range deletion covering `user_key` visible at
    /// `snapshot` (0 when there is none).
    pub fn max_covering_tombstone(&self, user_key: &[u8], snapshot: SeqNo) -> SeqNo {
        let dels = self.range_dels.read();
        dels.iter()
            .filter(|t| {
                t.seq <= snapshot && t.start.as_slice() <= user_key && user_key < t.end.as_slice()
            })
            .map(|t| t.seq)
            .max()
            .unwrap_or(0)
    }

    /// A copy of the range deletions.
    pub fn range_tombstones(&self) -> Vec<RangeTombstone> {
        self.range_dels.read().clone()
    }

    /// Entries added (point and range).
    pub fn len(&self) -> usize {
        self.entries.load(AtomicOrdering::Relaxed)
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate memory used by keys and values.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// The largest sequence number added (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(AtomicOrdering::Relaxed)
    }

    /// Calls `f` on every point entry in order (for flushing).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        for e in self.map.iter() {
            f(e.key().as_slice(), e.value())?;
        }
        Ok(())
    }

    /// A cursor over the point entries.
    pub fn iter(self: &Arc<Self>) -> MemTableIterator {
        MemTableIterator {
            mem: Arc::clone(self),
            current: None,
        }
    }
}

/// A cursor over a memtable. It copies the entry it stands on, so it owns no borrow of
/// the skiplist and can live as long as the iterator that holds it.
pub struct MemTableIterator {
    mem: Arc<MemTable>,
    current: Option<(MemKey, Box<[u8]>)>,
}

type Entry<'a> = crossbeam_skiplist::map::Entry<'a, MemKey, Box<[u8]>>;

fn copy(e: Option<Entry<'_>>) -> Option<(MemKey, Box<[u8]>)> {
    e.map(|e| (e.key().clone(), e.value().clone()))
}

impl InternalIterator for MemTableIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) {
        self.current = copy(self.mem.map.front());
    }

    fn seek_to_last(&mut self) {
        self.current = copy(self.mem.map.back());
    }

    fn seek(&mut self, target: &[u8]) {
        let t = MemKey::new(target);
        self.current = copy(self.mem.map.lower_bound(Bound::Included(&t)));
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        let t = MemKey::new(target);
        self.current = copy(self.mem.map.upper_bound(Bound::Included(&t)));
    }

    fn next(&mut self) {
        if let Some((k, _)) = self.current.take() {
            self.current = copy(self.mem.map.lower_bound(Bound::Excluded(&k)));
        }
    }

    fn prev(&mut self) {
        if let Some((k, _)) = self.current.take() {
            self.current = copy(self.mem.map.upper_bound(Bound::Excluded(&k)));
        }
    }

    fn key(&self) -> &[u8] {
        self.current
            .as_ref()
            .map(|(k, _)| k.as_slice())
            .unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.current
            .as_ref()
            .map(|(_, v)| &v[..])
            .unwrap_or_default()
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_sees_the_newest_version_at_the_snapshot() {
        let m = MemTable::new(1);
        m.add(1, ValueKind::Put, b"k", b"v1");
        m.add(2, ValueKind::Put, b"k", b"v2");
        m.add(3, ValueKind::Delete, b"k", b"");
        m.add(4, ValueKind::Put, b"kk", b"x");
        assert_eq!(m.get(b"k", 1).unwrap().2, b"v1");
        assert_eq!(m.get(b"k", 2).unwrap().2, b"v2");
        assert_eq!(m.get(b"k", 9).unwrap().1, ValueKind::Delete);
        assert!(m.get(b"k", 0).is_none());
        assert!(m.get(b"j", 9).is_none());
        assert_eq!(m.len(), 4);
        assert_eq!(m.max_seq(), 4);
    }

    #[test]
    fn cursor_walks_both_ways() {
        let m = Arc::new(MemTable::new(1));
        for (i, k) in [b"a", b"b", b"c"].iter().enumerate() {
            m.add(i as u64 + 1, ValueKind::Put, *k, *k);
        }
        let mut it = m.iter();
        it.seek_to_first();
        let mut fwd = Vec::new();
        while it.valid() {
            fwd.push(key::user_key(it.key()).to_vec());
            it.next();
        }
        assert_eq!(fwd, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        it.seek_for_prev(&key::encode(b"bz", 0, ValueKind::Delete));
        assert_eq!(key::user_key(it.key()), b"b");
        it.prev();
        assert_eq!(it.value(), b"a");
        it.prev();
        assert!(!it.valid());
    }

    #[test]
    fn range_tombstones_cover_older_entries_only() {
        let m = MemTable::new(1);
        m.add_range_tombstone(b"b", b"d", 5);
        assert_eq!(m.max_covering_tombstone(b"c", 9), 5);
        assert_eq!(m.max_covering_tombstone(b"c", 4), 0);
        assert_eq!(m.max_covering_tombstone(b"d", 9), 0);
    }
}
