//! The block cache: uncompressed data blocks and decoded index and filter blocks,
//! bounded by bytes, shared by every table.
//!
//! A sharded cache (quick_cache, S3-FIFO eviction) rather than one LRU behind one
//! lock, so concurrent readers do not queue on a single mutex. Every entry is charged
//! the memory it really holds ([`Block::charge`], [`Index::charge`],
//! [`BloomFilter::charge`]), so the tables' metadata is inside the budget too: the
//! memory of an open database follows `cache.block_cache_bytes`, not its data size.
//! (Level-0 tables may keep theirs pinned instead, see `cache.pin_l0_index_and_filter`.)
//!
//! A lookup of a missing entry loads it once: concurrent lookups of the same entry
//! wait for the first one's read instead of reading it again.

use crate::error::Result;
use crate::sstable::{Block, BloomFilter, Index};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One cached block of a table.
#[derive(Clone)]
pub(crate) enum Cached {
    Data(Arc<Block>),
    Index(Arc<Index>),
    Filter(Arc<BloomFilter>),
}

/// What an entry holds beyond its contents: quick_cache's slot (key, value and its
/// bookkeeping) and the `Arc`'s counts.
const SLOT_BYTES: usize = 64;

/// The allocator's header of each heap allocation (glibc: 16 bytes on 64-bit).
const ALLOCATION_BYTES: usize = 16;

impl Cached {
    /// The memory the entry really costs. A decoded 512-byte index partition holds
    /// some 600 bytes and costs about 160 more (computed from the constants below,
    /// not measured): counting only the contents let the cache exceed its budget.
    fn charge(&self) -> u64 {
        // Allocations: the `Arc` and the buffer; an index's five arrays.
        let (contents, allocations) = match self {
            Cached::Data(b) => (b.charge(), 2),
            Cached::Index(i) => (i.charge(), 6),
            Cached::Filter(f) => (f.charge(), 2),
        };
        (contents + SLOT_BYTES + ALLOCATION_BYTES * allocations) as u64
    }
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<(u64, u64), Cached> for ByBytes {
    fn weight(&self, _key: &(u64, u64), v: &Cached) -> u64 {
        v.charge()
    }
}

/// Bytes of index and filter entries held now.
#[derive(Default)]
struct MetaBytes {
    index: AtomicU64,
    filter: AtomicU64,
}

impl MetaBytes {
    fn counter(&self, v: &Cached) -> Option<&AtomicU64> {
        match v {
            Cached::Data(_) => None,
            Cached::Index(_) => Some(&self.index),
            Cached::Filter(_) => Some(&self.filter),
        }
    }
}

/// Keeps [`MetaBytes`] in step with evictions (admissions are counted by the loader,
/// before the entry is offered to the cache, so a rejected one nets to zero).
#[derive(Clone, Default)]
struct Tally(Arc<MetaBytes>);

impl Lifecycle<(u64, u64), Cached> for Tally {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _key: (u64, u64), v: Cached) {
        if let Some(c) = self.0.counter(&v) {
            c.fetch_sub(v.charge(), Ordering::Relaxed);
        }
    }
}

/// Blocks keyed by `(file number, block offset)`. File numbers are never reused and
/// every block of a file has its own offset, so an entry can never describe another
/// file's bytes, and data, index and filter blocks never share a key.
pub struct BlockCache {
    cache: Cache<(u64, u64), Cached, ByBytes, DefaultHashBuilder, Tally>,
    meta: Arc<MetaBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding about `bytes` of blocks.
    pub fn new(bytes: u64) -> BlockCache {
        // quick_cache sizes its tables from an item estimate: assume 4 KiB blocks.
        let items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(16);
        let tally = Tally::default();
        BlockCache {
            meta: tally.0.clone(),
            cache: Cache::with(
                items,
                bytes.max(1),
                ByBytes,
                DefaultHashBuilder::default(),
                tally,
            ),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The entry at `(file, offset)`, or `load()`'s, which is then cached. Errors are
    /// not cached.
    fn get_or_load(
        &self,
        file: u64,
        offset: u64,
        load: impl FnOnce() -> Result<Cached>,
    ) -> Result<Cached> {
        self.cache.get_or_insert_with(&(file, offset), || {
            let v = load()?;
            if let Some(c) = self.meta.counter(&v) {
                c.fetch_add(v.charge(), Ordering::Relaxed);
            }
            Ok::<_, crate::error::LsmError>(v)
        })
    }

    /// [`BlockCache::get_or_load`], counted in [`BlockCache::hits`] and
    /// [`BlockCache::misses`] (data blocks only: index and filter lookups, two per
    /// get, would cost two more shared counter updates on the hot path).
    fn get_or_load_counted(
        &self,
        file: u64,
        offset: u64,
        load: impl FnOnce() -> Result<Cached>,
    ) -> Result<Cached> {
        let mut missed = false;
        let v = self.get_or_load(file, offset, || {
            missed = true;
            load()
        })?;
        let counter = if missed { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(v)
    }

    /// The cached data block, or `read()`'s, which is then cached.
    pub fn get_or_read(
        &self,
        file: u64,
        offset: u64,
        read: impl Fn() -> Result<Block>,
    ) -> Result<Arc<Block>> {
        match self.get_or_load_counted(file, offset, || Ok(Cached::Data(Arc::new(read()?))))? {
            Cached::Data(b) => Ok(b),
            // Cannot happen (an offset names one block); read past the cache.
            _ => Ok(Arc::new(read()?)),
        }
    }

    /// The cached decoded index block, or `read()`'s, which is then cached.
    pub(crate) fn index(
        &self,
        file: u64,
        offset: u64,
        read: impl Fn() -> Result<Index>,
    ) -> Result<Arc<Index>> {
        match self.get_or_load(file, offset, || Ok(Cached::Index(Arc::new(read()?))))? {
            Cached::Index(i) => Ok(i),
            _ => Ok(Arc::new(read()?)),
        }
    }

    /// The cached decoded filter block, or `read()`'s, which is then cached.
    pub(crate) fn filter(
        &self,
        file: u64,
        offset: u64,
        read: impl Fn() -> Result<BloomFilter>,
    ) -> Result<Arc<BloomFilter>> {
        match self.get_or_load(file, offset, || Ok(Cached::Filter(Arc::new(read()?))))? {
            Cached::Filter(f) => Ok(f),
            _ => Ok(Arc::new(read()?)),
        }
    }

    /// The cached decoded filter block at `(file, offset)`, without reading it on a
    /// miss (a lookup, so it counts as a use for eviction).
    pub(crate) fn cached_filter(&self, file: u64, offset: u64) -> Option<Arc<BloomFilter>> {
        match self.cache.get(&(file, offset))? {
            Cached::Filter(f) => Some(f),
            _ => None,
        }
    }

    /// True when the entry at `(file, offset)` is cached now (not counted as a use).
    pub(crate) fn holds(&self, file: u64, offset: u64) -> bool {
        self.cache.contains_key(&(file, offset))
    }

    /// Data block lookups answered from memory.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Data block lookups that read the disk.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// Bytes of decoded index blocks held now (part of [`BlockCache::used_bytes`]).
    pub fn index_bytes(&self) -> u64 {
        self.meta.index.load(Ordering::Relaxed)
    }

    /// Bytes of decoded filter blocks held now (part of [`BlockCache::used_bytes`]).
    pub fn filter_bytes(&self) -> u64 {
        self.meta.filter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry is charged its contents and what holding it costs besides, once.
    #[test]
    fn entries_are_charged_their_overhead() {
        let cache = BlockCache::new(1 << 20);
        let mut raw = vec![0u8; 1000];
        raw.push(6); // six probes
        let f = cache
            .filter(1, 0, || Ok(BloomFilter::decode(raw.clone()).unwrap()))
            .unwrap();
        let contents = f.charge() as u64;
        let charged = contents + (SLOT_BYTES + 2 * ALLOCATION_BYTES) as u64;
        assert_eq!(cache.used_bytes(), charged);
        assert_eq!(cache.filter_bytes(), charged);
        assert_eq!(cache.index_bytes(), 0);
        // A second lookup is a hit: nothing more is charged.
        cache
            .filter(1, 0, || panic!("cached: must not be read again"))
            .unwrap();
        assert_eq!(cache.used_bytes(), charged);
    }
}
