//! The key cache (the original design's `Cache`): values of hot keys, bounded by a
//! number of entries and by bytes (whichever is reached first evicts), persisted on
//! close so a restart is warm.
//!
//! Both bounds come from one weighted cache: an entry weighs its real bytes
//! ([`entry_bytes`]: key, value and bookkeeping) but at least `bytes / entries`, and
//! the weights may sum to `bytes`. So the real bytes never exceed `bytes`, and the
//! count never exceeds `entries`.
//!
//! It must never return a value the database no longer holds. Writers invalidate a key
//! *before* their write becomes visible, and record the write's sequence number in the
//! key's stripe; a reader that looked a key up at snapshot `s` may only insert what it
//! read if no write newer than `s` touched that stripe (or any range deletion happened)
//! since. Both checks run under the stripe's lock, so an insert cannot slip in between
//! a writer's invalidation and its write.
//!
//! ```text
//! cache file := "LSMKCACH" | version: u32 LE (= 1) | last_seq: u64 LE | count: u32 LE
//!               | entry{count} | crc32c: u32 LE (of everything before it)
//! entry      := key: varint len ++ bytes | value: varint len ++ bytes
//! ```
//! The file is valid only for a database whose last sequence number is `last_seq`:
//! any write since it was saved makes it stale, and a stale, damaged or missing file
//! means a cold start.

// Decoders of on-disk bytes: a bad byte must be an error value, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::coding::{put_length_prefixed, Reader};
use crate::fs::FileSystem;
use crate::key::SeqNo;
use parking_lot::{Mutex, RwLock};
use quick_cache::sync::Cache as QuickCache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"LSMKCACH";
/// Format version of the cache file.
pub const KEY_CACHE_VERSION: u32 = 1;
const STRIPES: usize = 256;

/// Memory of an entry beyond its key and value bytes: the key's `Vec` (24 bytes), the
/// value's `Arc<[u8]>` pointer (16) and counts (16), quick_cache's slot (hash, links
/// and state, about 32) and allocator rounding of the two heap blocks (about 16).
const ENTRY_OVERHEAD: u64 = 104;

/// The memory one cached entry holds.
fn entry_bytes(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

/// An entry's weight: its bytes, but at least the per-entry share of the budget.
#[derive(Clone)]
struct Charge {
    min: u64,
}

impl Weighter<Vec<u8>, Arc<[u8]>> for Charge {
    fn weight(&self, k: &Vec<u8>, v: &Arc<[u8]>) -> u64 {
        entry_bytes(k, v).max(self.min).max(1)
    }
}

/// Keeps the real bytes held in step with evictions.
#[derive(Clone, Default)]
struct Tally(Arc<AtomicU64>);

impl Lifecycle<Vec<u8>, Arc<[u8]>> for Tally {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), k: Vec<u8>, v: Arc<[u8]>) {
        self.0.fetch_sub(entry_bytes(&k, &v), Ordering::Relaxed);
    }
}

type Inner = QuickCache<Vec<u8>, Arc<[u8]>, Charge, DefaultHashBuilder, Tally>;

/// The key cache (`Cache` in the original design): hot keys and their values.
pub struct Cache {
    cache: Inner,
    capacity: usize,
    /// Real bytes held ([`entry_bytes`] of every entry).
    bytes: Arc<AtomicU64>,
    /// Per stripe of the key space: the newest write's sequence number.
    stripes: Vec<Mutex<SeqNo>>,
    /// The newest range deletion's sequence number.
    range_seq: RwLock<SeqNo>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Admission filter: a key is cached on its second miss within a window, so a
    /// scan or a uniform random read does not pay for inserting keys it never reads
    /// again. A bit per hash bucket; cleared every `DOOR_WINDOW * capacity` misses.
    door: Vec<AtomicU64>,
    door_misses: AtomicU64,
    /// False until the first insert: a write-only workload then skips the cache's
    /// own lookup on every invalidation. Set and read under a stripe lock, like the
    /// stripe's sequence number.
    populated: std::sync::atomic::AtomicBool,
}

const DOOR_BITS: usize = 1 << 20;
const DOOR_WINDOW: u64 = 4;

impl Cache {
    /// A cache of at most `entries` keys holding at most `bytes` of memory.
    pub fn new(entries: usize, bytes: u64) -> Cache {
        let tally = Tally::default();
        let charge = Charge {
            min: bytes / entries.max(1) as u64,
        };
        Cache {
            bytes: tally.0.clone(),
            // quick_cache sizes its shards from the item estimate: no more items
            // than the bytes can hold at a small entry's size.
            cache: QuickCache::with(
                entries
                    .min(usize::try_from(bytes / 256).unwrap_or(usize::MAX))
                    .max(1),
                bytes.max(1),
                charge,
                DefaultHashBuilder::default(),
                tally,
            ),
            capacity: entries,
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            range_seq: RwLock::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            door: (0..DOOR_BITS / 64).map(|_| AtomicU64::new(0)).collect(),
            door_misses: AtomicU64::new(0),
            populated: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True when the key with `hash` missed recently already (and should be cached
    /// now); marks it.
    fn admit(&self, hash: u64) -> bool {
        let n = self.door_misses.fetch_add(1, Ordering::Relaxed);
        if n > 0 && n.is_multiple_of(DOOR_WINDOW * self.capacity.max(1024) as u64) {
            for w in &self.door {
                w.store(0, Ordering::Relaxed);
            }
        }
        let bit = (hash >> 20) as usize % DOOR_BITS;
        let mask = 1u64 << (bit % 64);
        // `bit < DOOR_BITS`, the doorkeeper's size in bits.
        self.door
            .get(bit / 64)
            .is_some_and(|w| w.fetch_or(mask, Ordering::Relaxed) & mask != 0)
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "an index modulo STRIPES, the array's length, is always in range"
    )]
    fn stripe(&self, hash: u64) -> &Mutex<SeqNo> {
        &self.stripes[hash as usize % STRIPES]
    }

    /// The cached value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        // quick_cache's Borrow-based lookup needs the owned key type; a Vec<u8> key
        // borrows as [u8], so no allocation happens here.
        let v = self.cache.get(key);
        let c = if v.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
        v
    }

    /// Caches `value` for `key` (whose [`crate::key::hash`] is `hash`), read at
    /// `snapshot`, unless a newer write may have changed it.
    pub fn insert(&self, key: &[u8], hash: u64, value: &[u8], snapshot: SeqNo) {
        if !self.admit(hash) {
            return;
        }
        self.insert_now(key, hash, value, snapshot);
    }

    fn insert_now(&self, key: &[u8], hash: u64, value: &[u8], snapshot: SeqNo) {
        let range = self.range_seq.read();
        if *range > snapshot {
            return;
        }
        let stripe = self.stripe(hash).lock();
        if *stripe > snapshot {
            return;
        }
        self.populated.store(true, Ordering::Relaxed);
        self.put(key, value);
    }

    /// Inserts, keeping `bytes` exact. REQUIRES: no other insert or removal of `key`
    /// at the same time (they all hold its stripe's lock, or run alone during load).
    fn put(&self, key: &[u8], value: &[u8]) {
        self.remove(key);
        // Counted before the insert: an entry the cache rejects (larger than a shard)
        // is "evicted" at once, which takes it off again.
        self.bytes
            .fetch_add(entry_bytes(key, value), Ordering::Relaxed);
        self.cache.insert(key.to_vec(), Arc::from(value));
    }

    fn remove(&self, key: &[u8]) {
        if let Some((k, v)) = self.cache.remove(key) {
            self.bytes.fetch_sub(entry_bytes(&k, &v), Ordering::Relaxed);
        }
    }

    /// Called by the writer before a write of `key` (hash `hash`) at `seq` becomes
    /// visible.
    pub fn invalidate(&self, key: &[u8], hash: u64, seq: SeqNo) {
        let mut stripe = self.stripe(hash).lock();
        *stripe = (*stripe).max(seq);
        if self.populated.load(Ordering::Relaxed) {
            self.remove(key);
        }
    }

    /// Called by the writer before a range deletion at `seq` becomes visible.
    pub fn invalidate_all(&self, seq: SeqNo) {
        let mut range = self.range_seq.write();
        *range = (*range).max(seq);
        for (k, v) in self.cache.drain() {
            self.bytes.fetch_sub(entry_bytes(&k, &v), Ordering::Relaxed);
        }
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that went to the tree.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Bytes held: keys, values and per-entry bookkeeping.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Writes the cache to `path` (via a synced temporary file and a rename) for a
    /// database whose last sequence number is `last_seq`.
    pub fn save(&self, fs: &dyn FileSystem, path: &Path, last_seq: SeqNo) -> std::io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&KEY_CACHE_VERSION.to_le_bytes());
        out.extend_from_slice(&last_seq.to_le_bytes());
        let count_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        let mut count = 0u32;
        for (k, v) in self.cache.iter() {
            if count as usize >= self.capacity {
                break;
            }
            put_length_prefixed(&mut out, &k);
            put_length_prefixed(&mut out, &v);
            count += 1;
        }
        if let Some(slot) = out.get_mut(count_at..count_at + 4) {
            slot.copy_from_slice(&count.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());

        let tmp = path.with_extension("tmp");
        let f = fs.create(&tmp)?;
        f.append(&out)?;
        f.sync()?;
        drop(f);
        fs.rename(&tmp, path)?;
        fs.sync_dir(&crate::fs::parent_dir(path))
    }

    /// Loads entries saved for a database at `last_seq`. Returns how many were loaded;
    /// a missing, damaged or stale file loads nothing and says why.
    pub fn load(&self, fs: &dyn FileSystem, path: &Path, last_seq: SeqNo) -> Result<usize, String> {
        let data = fs.read_all(path).map_err(|e| e.to_string())?;
        let body_len = data.len().checked_sub(4).ok_or("file too short")?;
        let (body, crc) = data.split_at(body_len);
        let stored = u32::from_le_bytes(crc.try_into().map_err(|_| "file too short")?);
        if crc32c::crc32c(body) != stored {
            return Err("checksum mismatch".into());
        }
        let mut r = Reader::new(body);
        if r.bytes(8) != Some(&MAGIC[..]) {
            return Err("not a key cache file".into());
        }
        match r.u32() {
            Some(KEY_CACHE_VERSION) => {}
            v => return Err(format!("unsupported version {v:?}")),
        }
        let saved_seq = r.u64().ok_or("truncated header")?;
        if saved_seq != last_seq {
            return Err(format!(
                "stale: saved at sequence {saved_seq}, database is at {last_seq}"
            ));
        }
        let count = r.u32().ok_or("truncated header")?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let k = r.length_prefixed().ok_or("truncated entry")?;
            let v = r.length_prefixed().ok_or("truncated entry")?;
            entries.push((k, v));
        }
        if !r.is_empty() {
            return Err("bytes after the last entry".into());
        }
        let n = entries.len().min(self.capacity);
        if n > 0 {
            self.populated.store(true, Ordering::Relaxed);
        }
        for (k, v) in entries.into_iter().take(n) {
            self.put(k, v);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    fn h(key: &[u8]) -> u64 {
        crate::key::hash(key)
    }

    #[test]
    fn an_insert_racing_a_newer_write_is_refused() {
        let c = Cache::new(10, 1 << 20);
        c.invalidate(b"k", h(b"k"), 5);
        c.insert_now(b"k", h(b"k"), b"old", 4); // read before the write at 5
        assert!(c.get(b"k").is_none());
        c.insert(b"k", h(b"k"), b"new", 5);
        assert!(c.get(b"k").is_none(), "admitted on the first miss");
        c.insert(b"k", h(b"k"), b"new", 5);
        assert_eq!(c.get(b"k").as_deref(), Some(&b"new"[..]));
        c.invalidate_all(9);
        assert!(c.get(b"k").is_none());
        c.insert_now(b"k", h(b"k"), b"x", 8);
        assert!(c.get(b"k").is_none());
    }

    #[test]
    fn save_and_load_round_trip_and_reject_stale_or_damaged_files() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db")).unwrap();
        let p = Path::new("db/cache");
        let c = Cache::new(10, 1 << 20);
        c.insert_now(b"a", h(b"a"), b"1", 0);
        c.insert_now(b"b", h(b"b"), b"", 0);
        c.save(&fs, p, 42).unwrap();
        let warm = Cache::new(10, 1 << 20);
        assert_eq!(warm.load(&fs, p, 42), Ok(2));
        assert_eq!(warm.get(b"b").as_deref(), Some(&b""[..]));
        assert!(Cache::new(10, 1 << 20).load(&fs, p, 43).is_err());
        let mut bytes = fs.read_all(p).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x10;
            fs.write_raw(p, bytes.clone()).unwrap();
            assert!(
                Cache::new(10, 1 << 20).load(&fs, p, 42).is_err(),
                "flip at {i}"
            );
            bytes[i] ^= 0x10;
        }
        fs.write_raw(p, bytes[..bytes.len() - 1].to_vec()).unwrap();
        assert!(Cache::new(10, 1 << 20).load(&fs, p, 42).is_err());
        assert!(Cache::new(10, 1 << 20)
            .load(&fs, Path::new("db/none"), 42)
            .is_err());
    }
}
