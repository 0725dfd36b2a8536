//! `MemTable`: the in-memory write buffer, a lock-free skiplist over internal keys.
//!
//! Writes come from any number of threads at once (each writer inserts its own group
//! after the WAL lock, see `db/write.rs`; the skiplist orders their inserts among
//! themselves); reads from any number of threads, without locks. Range deletions sit
//! beside the skiplist, since they are few and checked as a set.

#[expect(
    unsafe_code,
    reason = "the arena skiplist links raw nodes in its own blocks (see its module docs)"
)]
mod skiplist;

pub(crate) use skiplist::ArenaValue;

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{self, SeqNo, ValueKind};
use crate::range_del::{RangeTombstone, TombstoneIndex};
use parking_lot::RwLock;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

/// Internal keys up to this long are built on the stack for a lookup or a cursor
/// bound, without a heap allocation.
const INLINE: usize = 30;

/// An encoded internal key (a lookup target or a cursor's bound).
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

    /// The key that sorts before every version of `user_key` visible at `seq` (see
    /// [`key::lookup_key`]), built without a heap allocation for short keys.
    fn lookup(user_key: &[u8], seq: SeqNo) -> MemKey {
        MemKey::from_trailer(user_key, (seq << 8) | 0xff)
    }

    fn from_trailer(user_key: &[u8], trailer: u64) -> MemKey {
        let trailer = trailer.to_le_bytes();
        let n = user_key.len() + key::TRAILER_LEN;
        if n <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..user_key.len()].copy_from_slice(user_key);
            buf[user_key.len()..n].copy_from_slice(&trailer);
            MemKey::Inline { len: n as u8, buf }
        } else {
            let mut v = Vec::with_capacity(n);
            v.extend_from_slice(user_key);
            v.extend_from_slice(&trailer);
            MemKey::Heap(v.into_boxed_slice())
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

/// A concurrent bloom filter over the user keys of a memtable: one bit per 8 bytes of
/// the memtable's budget (a power of two from 2^12 to 2^23 bits, i.e. 512 B to 1 MiB,
/// about 1.6% of the budget), three probes. At a full memtable's key count (an entry
/// takes well over 100 bytes) that is more than 12 bits per key: it answers "not
/// here" for about 99% of absent keys.
///
/// Blocked, as RocksDB's DynamicBloom: a key's three bits lie in one 64-byte cache
/// line, chosen by the hash. A 1 MiB filter does not stay in the cache beside a
/// 64 MiB memtable, so every probe of a plain filter is a cache miss; here a put (and
/// a get of a key that lives in a table) pays one, not three, for a slightly higher
/// false-positive rate.
struct MemFilter {
    lines: Box<[Line]>,
    /// Lines minus one (the line count is a power of two).
    mask: u64,
}

/// One cache line of a [`MemFilter`]: 512 bits.
#[repr(align(64))]
struct Line([AtomicU64; 8]);

const MIN_FILTER_BITS: u64 = 1 << 12;
const MAX_FILTER_BITS: u64 = 1 << 23;

impl MemFilter {
    fn new(budget_bytes: usize) -> MemFilter {
        let bits = (budget_bytes as u64 / 8)
            .clamp(MIN_FILTER_BITS, MAX_FILTER_BITS)
            .next_power_of_two();
        let lines = bits / 512;
        MemFilter {
            lines: (0..lines)
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            mask: lines - 1,
        }
    }

    /// Bytes of memory the filter holds.
    fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }

    /// The line of `hash` and its three bits in it (0..512): the line from the low
    /// half of the hash (`mask` keeps it in range: the line count is a power of two),
    /// the bits from 27 bits of the high half.
    #[inline]
    fn probes(&self, hash: u64) -> (&Line, [u32; 3]) {
        let h = (hash >> 32) as u32;
        (
            &self.lines[(hash & self.mask) as usize],
            [h & 511, (h >> 9) & 511, (h >> 18) & 511],
        )
    }

    /// Starts loading the line of `hash`, so that [`MemFilter::insert`] a moment later
    /// does not wait for it.
    fn prefetch(&self, hash: u64) {
        skiplist::prefetch(self.probes(hash).0 as *const Line);
    }

    /// Sets the bits of `hash`. Writers insert concurrently, so a bit is set with a
    /// locked `fetch_or`, but only when a plain load finds it clear: in a filling
    /// memtable most bits a key needs are already set, and those cost a load. A
    /// reader that can see the entry sees the bits, set before the entry's sequence
    /// number is published.
    fn insert(&self, hash: u64) {
        let (line, bits) = self.probes(hash);
        for bit in bits {
            let w = &line.0[(bit / 64) as usize];
            let m = 1u64 << (bit % 64);
            if w.load(AtomicOrdering::Relaxed) & m == 0 {
                w.fetch_or(m, AtomicOrdering::Relaxed);
            }
        }
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (line, bits) = self.probes(hash);
        bits.iter().all(|&bit| {
            line.0[(bit / 64) as usize].load(AtomicOrdering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }
}

/// What the allocator takes for a request of `n` bytes: glibc's malloc (and most
/// size-class allocators) adds an 8-byte header and rounds up to 16, 32 at least.
const fn allocated(n: usize) -> usize {
    let chunk = (n + 8 + 15) & !15;
    if chunk < 32 {
        32
    } else {
        chunk
    }
}

/// Memory a range deletion takes: its slot in the vector (which may be twice the
/// length it needs) and the two keys' allocations.
fn range_del_bytes(start: usize, end: usize) -> usize {
    2 * std::mem::size_of::<RangeTombstone>() + allocated(start) + allocated(end)
}

/// Memory of an empty memtable besides its filter and its skiplist's arena (which
/// [`skiplist::SkipList::memory`] counts, head node included): the structures around
/// them.
const BASE_BYTES: usize = 256;

/// The write buffer. Full ones become immutable and are flushed to SSTables.
pub struct MemTable {
    /// Point entries: nodes, keys and values in the list's arena.
    list: skiplist::SkipList<InternalOrder>,
    range_dels: RwLock<Vec<RangeTombstone>>,
    /// `range_dels` fragmented, built by the first get after a deletion was added (a
    /// deletion clears it): gets search it instead of scanning every deletion.
    range_index: RwLock<Option<TombstoneIndex>>,
    /// Set once a range deletion is added: most memtables have none, and reads skip
    /// the lock then.
    has_range_dels: std::sync::atomic::AtomicBool,
    /// Point keys added, as a bloom filter: most lookups of keys that live in tables
    /// skip the skiplist search (a chain of cache misses in a large memtable).
    filter: MemFilter,
    entries: AtomicUsize,
    bytes: AtomicUsize,
    /// The largest [`MemTable::approximate_bytes`] a writer has reported to the write
    /// buffer's total (see [`MemTable::growth`]).
    reported: AtomicUsize,
    max_seq: AtomicU64,
    /// The WAL segment that holds this memtable's writes.
    wal_number: u64,
}

impl MemTable {
    /// An empty memtable whose writes are logged in WAL segment `wal_number`, for a
    /// budget of `max_bytes` (`memtable.max_bytes`, which sizes its filter).
    pub fn new(wal_number: u64, max_bytes: usize) -> MemTable {
        let filter = MemFilter::new(max_bytes);
        MemTable {
            // Blocks of a 32nd of the budget (4 KiB to 2 MiB, a huge page): a fresh
            // block, counted whole, takes a memtable at most ~3% past its budget.
            list: skiplist::SkipList::new((max_bytes / 32).clamp(4 << 10, 2 << 20)),
            range_dels: RwLock::new(Vec::new()),
            range_index: RwLock::new(None),
            has_range_dels: std::sync::atomic::AtomicBool::new(false),
            bytes: AtomicUsize::new(BASE_BYTES + filter.bytes()),
            filter,
            entries: AtomicUsize::new(0),
            reported: AtomicUsize::new(0),
            max_seq: AtomicU64::new(0),
            wal_number,
        }
    }

    /// The WAL segment holding this memtable's writes.
    pub fn wal_number(&self) -> u64 {
        self.wal_number
    }

    /// [`MemTable::add_hashed`], hashing the key itself.
    #[cfg(test)]
    pub fn add(&self, seq: SeqNo, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        self.add_hashed(seq, kind, user_key, key::hash(user_key), value);
    }

    /// Adds a point entry (put or delete); `hash` is [`key::hash`] of `user_key`,
    /// computed once by the caller for this filter and the key cache.
    ///
    /// Safe to call from several writers at once. REQUIRES: `seq` unique.
    pub fn add_hashed(
        &self,
        seq: SeqNo,
        kind: ValueKind,
        user_key: &[u8],
        hash: u64,
        value: &[u8],
    ) {
        // The node's bytes are counted by the arena (`approximate_bytes`).
        self.account(seq, 0);
        let trailer = ((seq << 8) | kind as u64).to_le_bytes();
        // The filter's line (a cache miss in a large memtable) loads during the
        // skiplist's search. Its bits are set before the entry's sequence number is
        // published, so a reader that can see the entry finds them.
        self.filter.prefetch(hash);
        self.list.insert(user_key, &trailer, value);
        self.filter.insert(hash);
    }

    /// Adds a deletion of `[start, end)`.
    pub fn add_range_tombstone(&self, start: &[u8], end: &[u8], seq: SeqNo) {
        self.account(seq, range_del_bytes(start.len(), end.len()));
        let mut dels = self.range_dels.write();
        dels.push(RangeTombstone {
            start: start.to_vec(),
            end: end.to_vec(),
            seq,
        });
        // Cleared under the list's lock: an index built later includes this one.
        *self.range_index.write() = None;
        drop(dels);
        self.has_range_dels.store(true, AtomicOrdering::Release);
    }

    fn account(&self, seq: SeqNo, bytes: usize) {
        self.entries.fetch_add(1, AtomicOrdering::Relaxed);
        self.bytes.fetch_add(bytes, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The newest point entry of `user_key` visible at `snapshot`.
    #[cfg(test)]
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        self.get_hashed(user_key, key::hash(user_key), snapshot)
    }

    /// [`MemTable::get`] with the key's [`key::hash`] already computed.
    pub fn get_hashed(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
        self.find(user_key, hash, snapshot)
            .map(|(seq, kind, v)| (seq, kind, v.to_vec()))
    }

    /// False when no point entry of the user key whose [`key::hash`] is `hash` was
    /// ever added (its filter rules it out).
    pub fn may_contain(&self, hash: u64) -> bool {
        self.filter.may_contain(hash)
    }

    /// The newest point entry of `user_key` visible at `snapshot`, its value borrowed
    /// from the arena.
    fn find(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Option<(SeqNo, ValueKind, &[u8])> {
        if !self.filter.may_contain(hash) {
            return None;
        }
        let target = MemKey::lookup(user_key, snapshot);
        let e = self.list.seek_ge(target.as_slice())?;
        let ik = e.key();
        if key::user_key(ik) != user_key {
            return None;
        }
        Some((key::seq(ik), key::kind(ik)?, e.value()))
    }

    /// [`MemTable::get_hashed`] without copying the value: it stays in the arena,
    /// which the returned value keeps alive.
    pub fn get_pinned(
        self: &Arc<Self>,
        user_key: &[u8],
        hash: u64,
        snapshot: SeqNo,
    ) -> Option<(SeqNo, ValueKind, skiplist::ArenaValue<MemTable>)> {
        let mut found = None;
        let value = skiplist::ArenaValue::pin(Arc::clone(self), |mem| {
            let (seq, kind, v) = mem.find(user_key, hash, snapshot)?;
            found = Some((seq, kind));
            Some(v)
        })?;
        let (seq, kind) = found?;
        Some((seq, kind, value))
    }

    /// The sequence number of the newest range deletion covering `user_key` visible at
    /// `snapshot` (0 when there is none).
    pub fn max_covering_tombstone(&self, user_key: &[u8], snapshot: SeqNo) -> SeqNo {
        if !self.has_range_dels.load(AtomicOrdering::Acquire) {
            return 0;
        }
        if let Some(index) = &*self.range_index.read() {
            return index.max_covering(user_key, snapshot);
        }
        // The list's lock first, as in `add_range_tombstone`, so the index stored is
        // of the list as it is.
        let dels = self.range_dels.read();
        let index = TombstoneIndex::new(dels.iter());
        let seq = index.max_covering(user_key, snapshot);
        *self.range_index.write() = Some(index);
        seq
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

    /// The memory the memtable holds, as the allocator sees it: the skiplist's arena
    /// blocks (every node with its tower, key and value), the range deletions and the
    /// filter. What `memtable.max_bytes` bounds. An empty memtable counts 0, so one
    /// entry always fits, whatever the budget.
    pub fn approximate_bytes(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.bytes.load(AtomicOrdering::Relaxed) + self.list.memory()
    }

    /// What [`MemTable::approximate_bytes`] grew by since a writer last asked: called
    /// by each writer after its inserts, it hands out every byte exactly once however
    /// the writers interleave (each claims the part of the current size above the
    /// largest one claimed so far), and once they all have, the claims add up to the
    /// memtable's size: the last writer to ask asks after every insert.
    pub fn growth(&self) -> usize {
        let now = self.approximate_bytes();
        now.saturating_sub(self.reported.fetch_max(now, AtomicOrdering::AcqRel))
    }

    /// The largest sequence number added (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(AtomicOrdering::Relaxed)
    }

    /// Calls `f` on every point entry in order (for flushing).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        for e in std::iter::successors(self.list.first(), |e| e.next()) {
            f(e.key(), e.value())?;
        }
        Ok(())
    }

    /// A cursor over the point entries.
    pub fn iter(self: &Arc<Self>) -> MemTableIterator {
        MemTableIterator {
            mem: Arc::clone(self),
            buf: Vec::new(),
            entries: Vec::new(),
            pos: 0,
            chunk: FIRST_CHUNK,
        }
    }
}

type Entry<'a> = skiplist::Entry<'a, InternalOrder>;

/// Internal keys in [`key::compare`] order.
struct InternalOrder;

impl skiplist::KeyOrder for InternalOrder {
    #[inline]
    fn cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        key::compare(a, b)
    }
}

/// Entries copied per refill of a memtable cursor, at most.
const CHUNK: usize = 128;
/// Entries copied by the first refill after a seek: a seek usually reads a key or
/// two, and copying 128 entries (values included) made a seek into a full memtable
/// several times dearer than a get (issue 15). Each further refill in the same walk
/// copies twice as many, up to [`CHUNK`], so a long scan still refills rarely.
const FIRST_CHUNK: usize = 4;

/// A cursor over a memtable. It owns no borrow of the skiplist (so it can live as long
/// as the iterator holding it): it copies a run of neighbouring entries (few after a
/// seek, more as the walk goes on, see [`FIRST_CHUNK`]) into one buffer and walks
/// that, searching the skiplist again only at the run's ends.
/// Entries inserted meanwhile carry newer sequence numbers than any reader of this
/// cursor can see, so a run copied earlier is as good as a fresh one.
pub struct MemTableIterator {
    mem: Arc<MemTable>,
    /// Keys and values of the run, back to back.
    buf: Vec<u8>,
    /// Per entry of the run: (key start, key end = value start, value end) in `buf`.
    entries: Vec<(usize, usize, usize)>,
    pos: usize,
    /// Entries the next refill copies.
    chunk: usize,
}

impl MemTableIterator {
    fn fill<'a>(&mut self, run: impl Iterator<Item = Entry<'a>>, backward: bool) {
        self.buf.clear();
        self.entries.clear();
        let take = self.chunk;
        self.chunk = (self.chunk * 2).min(CHUNK);
        for e in run.take(take) {
            let k = e.key();
            let v: &[u8] = e.value();
            let start = self.buf.len();
            self.buf.extend_from_slice(k);
            self.buf.extend_from_slice(v);
            self.entries
                .push((start, start + k.len(), start + k.len() + v.len()));
        }
        if backward {
            self.entries.reverse();
            self.pos = self.entries.len().saturating_sub(1);
        } else {
            self.pos = 0;
        }
    }

    fn fill_forward(&mut self, from: Bound<MemKey>) {
        let mem = self.mem.clone();
        let start = match &from {
            Bound::Unbounded => mem.list.first(),
            Bound::Included(k) => mem.list.seek_ge(k.as_slice()),
            Bound::Excluded(k) => mem.list.seek_ge(k.as_slice()).and_then(|e| {
                if e.key() == k.as_slice() {
                    e.next()
                } else {
                    Some(e)
                }
            }),
        };
        self.fill(std::iter::successors(start, |e| e.next()), false);
    }

    fn fill_backward(&mut self, to: Bound<MemKey>) {
        let mem = self.mem.clone();
        let start = match &to {
            Bound::Unbounded => mem.list.last(),
            Bound::Included(k) => mem.list.seek_le(k.as_slice()),
            Bound::Excluded(k) => mem.list.seek_lt(k.as_slice()),
        };
        self.fill(std::iter::successors(start, |e| e.prev()), true);
    }

    fn current(&self) -> Option<(usize, usize, usize)> {
        self.entries.get(self.pos).copied()
    }
}

impl InternalIterator for MemTableIterator {
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }

    fn seek_to_first(&mut self) {
        self.chunk = FIRST_CHUNK;
        self.fill_forward(Bound::Unbounded);
    }

    fn seek_to_last(&mut self) {
        self.chunk = FIRST_CHUNK;
        self.fill_backward(Bound::Unbounded);
    }

    fn seek(&mut self, target: &[u8]) {
        self.chunk = FIRST_CHUNK;
        self.fill_forward(Bound::Included(MemKey::new(target)));
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.chunk = FIRST_CHUNK;
        self.fill_backward(Bound::Included(MemKey::new(target)));
    }

    fn next(&mut self) {
        let Some((ks, ke, _)) = self.current() else {
            return;
        };
        if self.pos + 1 < self.entries.len() {
            self.pos += 1;
        } else {
            let last = MemKey::new(&self.buf[ks..ke]);
            self.fill_forward(Bound::Excluded(last));
        }
    }

    fn prev(&mut self) {
        let Some((ks, ke, _)) = self.current() else {
            return;
        };
        if self.pos > 0 {
            self.pos -= 1;
        } else {
            let first = MemKey::new(&self.buf[ks..ke]);
            self.fill_backward(Bound::Excluded(first));
        }
    }

    fn key(&self) -> &[u8] {
        self.current()
            .and_then(|(ks, ke, _)| self.buf.get(ks..ke))
            .unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.current()
            .and_then(|(_, ke, ve)| self.buf.get(ke..ve))
            .unwrap_or_default()
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }

    fn may_hold(&self, _target: &[u8], hash: u64) -> bool {
        self.mem.may_contain(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_sees_the_newest_version_at_the_snapshot() {
        let m = MemTable::new(1, 1 << 20);
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
        let m = Arc::new(MemTable::new(1, 1 << 20));
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
    fn cursor_crosses_chunk_boundaries_both_ways() {
        let m = Arc::new(MemTable::new(1, 1 << 20));
        let n = CHUNK as u64 * 3 + 7;
        for i in 0..n {
            m.add(
                i + 1,
                ValueKind::Put,
                format!("{i:05}").as_bytes(),
                &i.to_le_bytes(),
            );
        }
        let mut it = m.iter();
        it.seek_to_first();
        let mut seen = 0u64;
        while it.valid() {
            assert_eq!(key::user_key(it.key()), format!("{seen:05}").as_bytes());
            assert_eq!(it.value(), seen.to_le_bytes());
            seen += 1;
            it.next();
        }
        assert_eq!(seen, n);
        it.seek_to_last();
        let mut back = n;
        while it.valid() {
            back -= 1;
            assert_eq!(key::user_key(it.key()), format!("{back:05}").as_bytes());
            it.prev();
        }
        assert_eq!(back, 0);
        // Change direction right at a chunk edge.
        it.seek(&key::lookup_key(
            format!("{:05}", CHUNK - 1).as_bytes(),
            u64::MAX >> 8,
        ));
        it.next();
        assert_eq!(key::user_key(it.key()), format!("{CHUNK:05}").as_bytes());
        it.prev();
        it.prev();
        assert_eq!(
            key::user_key(it.key()),
            format!("{:05}", CHUNK - 2).as_bytes()
        );
    }

    /// Random seeks, each followed by a random walk that changes direction, against
    /// the sorted entries: runs that start small after a seek and grow as the walk
    /// goes on never skip or repeat an entry.
    #[test]
    fn growing_runs_after_seeks_match_the_sorted_entries() {
        let m = Arc::new(MemTable::new(1, 1 << 20));
        let n = 1000u64;
        for i in 0..n {
            m.add(
                i + 1,
                ValueKind::Put,
                format!("{:05}", i * 2).as_bytes(),
                b"v",
            );
        }
        let mut x = 7u64;
        let mut rnd = |below: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % below
        };
        let mut it = m.iter();
        for _ in 0..300 {
            let target = rnd(2 * n + 2);
            it.seek(&key::lookup_key(
                format!("{target:05}").as_bytes(),
                u64::MAX >> 8,
            ));
            // The first entry at or after the target.
            let mut at = target.div_ceil(2);
            for _ in 0..rnd(400) {
                if at >= n {
                    assert!(!it.valid());
                    break;
                }
                assert_eq!(key::user_key(it.key()), format!("{:05}", at * 2).as_bytes());
                if rnd(5) == 0 && at > 0 {
                    it.prev();
                    at -= 1;
                } else {
                    it.next();
                    at += 1;
                }
            }
        }
    }

    #[test]
    fn the_filter_never_hides_an_added_key() {
        // 50,000 small entries take about 5.6 MB: a budget they fit in.
        let m = MemTable::new(1, 8 << 20);
        for i in 0..50_000u32 {
            m.add(u64::from(i) + 1, ValueKind::Put, &i.to_be_bytes(), b"v");
        }
        for i in 0..50_000u32 {
            assert!(m.get(&i.to_be_bytes(), u64::MAX >> 8).is_some(), "{i}");
        }
        let absent = (50_000..150_000u32)
            .filter(|i| m.filter.may_contain(key::hash(&i.to_be_bytes())))
            .count();
        assert!(absent < 2_000, "{absent} false positives in 100,000");
    }

    #[test]
    fn range_tombstones_cover_older_entries_only() {
        let m = MemTable::new(1, 1 << 20);
        m.add_range_tombstone(b"b", b"d", 5);
        assert_eq!(m.max_covering_tombstone(b"c", 9), 5);
        assert_eq!(m.max_covering_tombstone(b"c", 4), 0);
        assert_eq!(m.max_covering_tombstone(b"d", 9), 0);
    }

    #[test]
    fn the_accounting_counts_the_arena_and_the_filter() {
        let m = MemTable::new(1, 4 << 20);
        assert_eq!(
            m.approximate_bytes(),
            0,
            "an empty memtable always has room"
        );
        m.add(1, ValueKind::Put, b"k", b"");
        let filter = 4 << 20 >> 6; // one bit per 8 bytes of budget
                                   // The filter and the arena's first block (4 KiB, the head node in it).
        assert!(m.approximate_bytes() >= filter + (4 << 10));
        let before = m.approximate_bytes();
        for i in 0..10_000u32 {
            m.add(u64::from(i) + 2, ValueKind::Put, &i.to_be_bytes(), &[7; 16]);
        }
        // A node is its 16-byte header, a tower of 8-byte links (4/3 on average),
        // the 12-byte internal key and the value, rounded to 8: about 56 bytes. The
        // arena's blocks double up to 1 MiB, so at most about half of the last one
        // is unused.
        let grown = m.approximate_bytes() - before;
        assert!(grown >= 10_000 * 48, "{grown}");
        assert!(grown <= 10_000 * 56 * 2 + (1 << 20), "{grown}");
        let used_before = m.approximate_bytes();
        let big = vec![1u8; 3 << 20];
        m.add(20_000, ValueKind::Put, b"big", &big);
        assert!(
            m.approximate_bytes() - used_before >= big.len(),
            "a value larger than a block gets a block of its own"
        );
        assert_eq!(m.get(b"big", 20_000).unwrap().2, big);
    }

    #[test]
    fn concurrent_writers_lose_no_entry_and_their_growth_adds_up() {
        let m = Arc::new(MemTable::new(1, 8 << 20));
        let threads = 4u64;
        let per = 5_000u64;
        let claimed: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let m = &m;
                    s.spawn(move || {
                        let mut claimed = 0u64;
                        for i in 0..per {
                            // Interleaved keys, so the writers splice next to each other.
                            let k = (i * threads + t).to_be_bytes();
                            let seq = 1 + i * threads + t;
                            m.add(seq, ValueKind::Put, &k, &seq.to_le_bytes());
                            claimed += m.growth() as u64;
                        }
                        claimed
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(m.len() as u64, threads * per);
        assert_eq!(
            claimed,
            m.approximate_bytes() as u64,
            "every byte claimed exactly once"
        );
        let mut n = 0u64;
        m.for_each(|ik, v| {
            assert_eq!(key::user_key(ik), n.to_be_bytes());
            assert_eq!(v, (n + 1).to_le_bytes());
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, threads * per);
        for k in 0..threads * per {
            assert!(
                m.may_contain(key::hash(&k.to_be_bytes())),
                "filter lost {k}"
            );
        }
    }
}
