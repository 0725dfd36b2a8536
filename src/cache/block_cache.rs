//! The block cache: uncompressed data blocks, bounded by bytes, shared by every table.
//!
//! A sharded cache (quick_cache, S3-FIFO eviction) rather than one LRU behind one
//! lock, so concurrent readers do not queue on a single mutex.

use crate::error::Result;
use crate::sstable::Block;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone)]
struct ByBytes;

impl Weighter<(u64, u64), Arc<Block>> for ByBytes {
    fn weight(&self, _key: &(u64, u64), block: &Arc<Block>) -> u64 {
        block.charge() as u64
    }
}

/// Blocks keyed by `(file number, block offset)`. File numbers are never reused, so an
/// entry can never describe another file's bytes.
pub struct BlockCache {
    cache: Cache<(u64, u64), Arc<Block>, ByBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding about `bytes` of blocks.
    pub fn new(bytes: u64) -> BlockCache {
        // quick_cache sizes its tables from an item estimate: assume 4 KiB blocks.
        let items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(16);
        BlockCache {
            cache: Cache::with_weighter(items, bytes.max(1), ByBytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached block, or `read()`'s, which is then cached. Errors are not cached.
    pub fn get_or_read(
        &self,
        file: u64,
        offset: u64,
        read: impl FnOnce() -> Result<Block>,
    ) -> Result<Arc<Block>> {
        if let Some(b) = self.cache.get(&(file, offset)) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(b);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let b = Arc::new(read()?);
        self.cache.insert((file, offset), b.clone());
        Ok(b)
    }

    /// Lookups answered from memory.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that read the disk.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> u64 {
        self.cache.weight()
    }
}
