//! One `Engine` trait, implemented for lsm, RocksDB and fjall, so every workload in
//! `main.rs` is written once. Each implementation uses its engine's fastest ordinary
//! public API (a reusable cursor where the engine has one, pinned reads where it has
//! them) and the same budgets: see `options()` of each, which the report prints.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, String>;

pub const MEMTABLE_BYTES: usize = 64 << 20;
pub const CACHE_BYTES: usize = 64 << 20;
pub const BLOOM_BITS: u32 = 10;
pub const BLOCK_SIZE: usize = 4096;

/// A cursor that can be positioned again and again.
pub trait Cursor {
    /// Seeks to the first key `>= key`, reads that entry and `nexts` more; returns
    /// whether the entry it landed on is `key`, and the bytes read.
    fn seek_scan(&mut self, key: &[u8], nexts: usize) -> Res<(bool, usize)>;
}

pub trait Engine: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()>;
    /// Puts every key of `keys` with `value` in one atomic batch.
    fn put_batch(&self, keys: &[Vec<u8>], value: &[u8]) -> Res<()>;
    /// Reads `key`; the value's length when found.
    fn get(&self, key: &[u8]) -> Res<Option<usize>>;
    fn delete(&self, key: &[u8]) -> Res<()>;
    fn cursor(&self) -> Box<dyn Cursor + '_>;
    /// Seek + `nexts` nexts with a fresh cursor.
    #[allow(dead_code)]
    fn scan_from(&self, key: &[u8], nexts: usize) -> Res<(bool, usize)> {
        self.cursor().seek_scan(key, nexts)
    }
    /// Reads every entry in key order; the number of entries.
    fn scan_all(&self) -> Res<u64>;
    /// Reads every entry in reverse key order; the number of entries.
    fn reverse_all(&self) -> Res<u64>;
    /// Writes the memtable out and waits.
    fn flush(&self) -> Res<()>;
    /// Background work, for [`settle`]: whether a flush or compaction is running or
    /// pending now, and a number that changes whenever one finishes (0 if the engine
    /// reports no such counter).
    fn background(&self) -> Res<(bool, u64)>;
    /// Closes the database (also what dropping does).
    fn close(self: Box<Self>) -> Res<()>;
    /// The engine's own statistics, if it has a cheap machine-readable form (for the
    /// results file only; nothing is compared on them).
    fn stats_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Waits (untimed) until background flushes and compactions are done, at most
/// `timeout`: done when, for 5 checks in a row 100 ms apart, the engine reports no
/// background work, its completion counter has not moved, and the process has not
/// written a byte (`wchar` of `/proc/self/io`: a compaction that the engine's own
/// counters only show when it ends still writes its output meanwhile). Returns the
/// seconds waited and whether it settled before the timeout.
pub fn settle(db: &dyn Engine, timeout: Duration) -> Res<(f64, bool)> {
    let t = Instant::now();
    let mut last = (db.background()?.1, crate::metrics::Io::now().wchar);
    let mut quiet = 0;
    while quiet < 5 {
        if t.elapsed() >= timeout {
            return Ok((t.elapsed().as_secs_f64(), false));
        }
        std::thread::sleep(Duration::from_millis(100));
        let (busy, done) = db.background()?;
        let now = (done, crate::metrics::Io::now().wchar);
        if !busy && now == last {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
    Ok((t.elapsed().as_secs_f64(), true))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lsm,
    RocksDb,
    /// RocksDB with its index and filter blocks charged to the block cache, as lsm
    /// charges its own (not in the default set: `--engines rocksdb-bounded`).
    RocksDbBounded,
    Fjall,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lsm => "lsm",
            Kind::RocksDb => "rocksdb",
            Kind::RocksDbBounded => "rocksdb-bounded",
            Kind::Fjall => "fjall",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "lsm" => Some(Kind::Lsm),
            "rocksdb" => Some(Kind::RocksDb),
            "rocksdb-bounded" => Some(Kind::RocksDbBounded),
            "fjall" => Some(Kind::Fjall),
            _ => None,
        }
    }

    pub fn open(self, dir: &Path) -> Res<Box<dyn Engine>> {
        Ok(match self {
            Kind::Lsm => Box::new(LsmEngine::open(dir)?),
            #[cfg(feature = "rocksdb")]
            Kind::RocksDb => Box::new(RocksEngine::open(dir, false)?),
            #[cfg(feature = "rocksdb")]
            Kind::RocksDbBounded => Box::new(RocksEngine::open(dir, true)?),
            #[cfg(not(feature = "rocksdb"))]
            Kind::RocksDb | Kind::RocksDbBounded => {
                return Err("built without the `rocksdb` feature".into())
            }
            Kind::Fjall => Box::new(FjallEngine::open(dir)?),
        })
    }

    /// What the engine may hold in memtables and caches with the options below, in
    /// bytes, and how that is counted (the "max RSS <= memtables + caches + 10%" goal
    /// is checked against it).
    pub fn memory_budget(self, key_size: usize, value_size: usize) -> (u64, String) {
        let mib = |b: u64| format!("{} MiB", b >> 20);
        match self {
            Kind::Lsm => {
                let c = lsm_config(Path::new("unused")).unwrap_or_else(|_| lsm::Config::default());
                let mem = c.memtable.max_bytes as u64 * (1 + c.memtable.max_immutable as u64);
                let block = c.cache.block_cache_bytes;
                let keys = c.cache.key_cache_entries as u64 * (key_size + value_size) as u64;
                (
                    mem + block + keys,
                    format!(
                        "memtables {} x (1 active + {} immutable) + block cache {} + key cache {} entries x {} B",
                        mib(c.memtable.max_bytes as u64),
                        c.memtable.max_immutable,
                        mib(block),
                        c.cache.key_cache_entries,
                        key_size + value_size
                    ),
                )
            }
            Kind::RocksDb | Kind::RocksDbBounded => (
                2 * MEMTABLE_BYTES as u64 + CACHE_BYTES as u64,
                format!(
                    "write buffers {} x 2 (max_write_buffer_number) + block cache {}",
                    mib(MEMTABLE_BYTES as u64),
                    mib(CACHE_BYTES as u64)
                ),
            ),
            Kind::Fjall => (
                2 * MEMTABLE_BYTES as u64 + CACHE_BYTES as u64,
                format!(
                    "memtable {} active + {} sealed (nominal: fjall's max_write_buffer_size is unset, so sealed memtables are not capped) + cache {}",
                    mib(MEMTABLE_BYTES as u64),
                    mib(MEMTABLE_BYTES as u64),
                    mib(CACHE_BYTES as u64)
                ),
            ),
        }
    }

    /// The options each engine runs with, as text for the report.
    pub fn options(self) -> Vec<String> {
        let mut o = self.base_options();
        if defaults() {
            o.push(match self {
                Kind::Lsm => "--defaults: sstable.compression left at lsm's default".into(),
                Kind::RocksDb | Kind::RocksDbBounded => {
                    "--defaults: compression and bottommost_compression left at RocksDB's defaults (snappy on every level)".into()
                }
                Kind::Fjall => {
                    "--defaults: data and index block compression left at fjall's defaults".into()
                }
            });
        }
        if self == Kind::Lsm {
            for (k, v) in LSM_SET.get().into_iter().flatten() {
                o.push(format!("--lsm-set {k} = {v:?}"));
            }
        }
        o
    }

    fn base_options(self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        match self {
            Kind::Lsm => s(&[
                "Config::with_root(dir), then Config::set:",
                "wal.sync = \"none\" (WAL on, each write handed to the OS, no fsync per write)",
                "memtable.max_bytes = 64 MiB (memtable.max_entries, max_immutable: defaults 1000000, 4)",
                "cache.block_cache_bytes = 64 MiB",
                "cache.key_cache_entries = 100000 (the default; cache.persist_on_close default true)",
                "sstable.bloom_bits_per_key = 10, sstable.block_size = 4096, sstable.compression = \"none\"",
                "compaction: defaults (L0 trigger 4 / slowdown 20 / stop 36, fanout 10, L1 256 MiB, 64 MiB files, 2 background threads)",
                "reads: Lsm::get_pinned; scans and seeks: Lsm::raw_iter (one reusable cursor)",
            ]),
            Kind::RocksDb => s(&[
                "Options: create_if_missing, write_buffer_size = 64 MiB (max_write_buffer_number default 2)",
                "compression = None, bottommost_compression = None",
                "manual_wal_flush = false; WriteOptions::default() (sync = false, WAL enabled)",
                "BlockBasedOptions: block cache LRU 64 MiB, bloom filter 10 bits/key (full filter), block_size 4096",
                "everything else default (max_background_jobs 2, L0 trigger 4 / slowdown 20 / stop 36, max_bytes_for_level_base 256 MiB, target_file_size_base 64 MiB)",
                "reads: DB::get_pinned; scans and seeks: DB::raw_iterator (one reusable cursor)",
            ]),
            Kind::RocksDbBounded => s(&[
                "as rocksdb, and in BlockBasedOptions: cache_index_and_filter_blocks = true, pin_l0_filter_and_index_blocks_in_cache = true,",
                "index_type = TwoLevelIndexSearch, partition_filters = true, pin_top_level_index_and_filter = true (metadata_block_size default 4096):",
                "the index and filter partitions are charged to the 64 MiB block cache, as lsm charges its own",
            ]),
            Kind::Fjall => s(&[
                "Database::builder(dir): cache_size = 64 MiB, journal_compression = None, manual_journal_persist = false (PersistMode::Buffer per write: handed to the OS, no fsync)",
                "worker_threads default (min(cores, 4) = 2 here), max_write_buffer_size default",
                "keyspace \"bench\": max_memtable_size = 64 MiB, data and index block compression None on all levels",
                "filter_policy = Bloom 10 bits/key on all levels, data_block_size 4096",
                "everything else default (leveled compaction)",
                "reads: Keyspace::get; scans: Keyspace::iter; seeks: Keyspace::range(key..) (fjall has no reusable seekable cursor)",
            ]),
        }
    }
}

// ---------------------------------------------------------------------------- lsm

pub struct LsmEngine {
    db: lsm::Lsm,
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// `--defaults`: every engine keeps its own default compression instead of none.
pub static DEFAULT_COMPRESSION: AtomicBool = AtomicBool::new(false);
/// `--lsm-set key=value`: lsm options set after the ones below (to measure variants).
pub static LSM_SET: OnceLock<Vec<(String, String)>> = OnceLock::new();

fn defaults() -> bool {
    DEFAULT_COMPRESSION.load(Ordering::Relaxed)
}

pub fn lsm_config(dir: &Path) -> Res<lsm::Config> {
    let mut c = lsm::Config::with_root(dir);
    for (k, v) in [
        ("wal.sync", "none".to_string()),
        ("memtable.max_bytes", MEMTABLE_BYTES.to_string()),
        ("cache.block_cache_bytes", CACHE_BYTES.to_string()),
        ("sstable.bloom_bits_per_key", BLOOM_BITS.to_string()),
        ("sstable.block_size", BLOCK_SIZE.to_string()),
    ] {
        c.set(k, &v).map_err(e)?;
    }
    if !defaults() {
        c.set("sstable.compression", "none").map_err(e)?;
    }
    for (k, v) in LSM_SET.get().into_iter().flatten() {
        c.set(k, v)
            .map_err(|err| format!("--lsm-set {k}={v}: {err}"))?;
    }
    Ok(c)
}

impl LsmEngine {
    fn open(dir: &Path) -> Res<LsmEngine> {
        Ok(LsmEngine {
            db: lsm::Lsm::open_with_config(lsm_config(dir)?).map_err(e)?,
        })
    }
}

struct LsmCursor(lsm::RawIterator);

impl Cursor for LsmCursor {
    fn seek_scan(&mut self, key: &[u8], nexts: usize) -> Res<(bool, usize)> {
        let it = &mut self.0;
        it.seek(key);
        let hit = it.valid() && it.key() == key;
        let mut bytes = 0;
        let mut n = 0;
        while it.valid() {
            bytes += it.key().len() + it.value().len();
            if n == nexts {
                break;
            }
            n += 1;
            it.next();
        }
        it.status().map_err(e)?;
        Ok((hit, bytes))
    }
}

impl Engine for LsmEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.db.put(key, value).map_err(e)
    }
    fn put_batch(&self, keys: &[Vec<u8>], value: &[u8]) -> Res<()> {
        let mut b = lsm::WriteBatch::new();
        for k in keys {
            b.put(k, value);
        }
        self.db.write(b).map_err(e)
    }
    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        // Pinned, as RocksDB's get_pinned: the value is not copied.
        Ok(self.db.get_pinned(key).map_err(e)?.map(|v| v.len()))
    }
    fn delete(&self, key: &[u8]) -> Res<()> {
        self.db.delete(key).map_err(e)
    }
    fn cursor(&self) -> Box<dyn Cursor + '_> {
        Box::new(LsmCursor(self.db.raw_iter()))
    }
    fn scan_all(&self) -> Res<u64> {
        let mut it = self.db.raw_iter();
        it.seek_to_first();
        let mut n = 0u64;
        let mut bytes = 0usize;
        while it.valid() {
            bytes += it.key().len() + it.value().len();
            n += 1;
            it.next();
        }
        it.status().map_err(e)?;
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn reverse_all(&self) -> Res<u64> {
        let mut it = self.db.raw_iter();
        it.seek_to_last();
        let mut n = 0u64;
        let mut bytes = 0usize;
        while it.valid() {
            bytes += it.key().len() + it.value().len();
            n += 1;
            it.prev();
        }
        it.status().map_err(e)?;
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn flush(&self) -> Res<()> {
        self.db.flush().map_err(e)
    }
    fn background(&self) -> Res<(bool, u64)> {
        // lsm has no "wait for compactions" call or pending-work counter: busy while a
        // memtable waits for its flush; done = flushes + compactions finished.
        let s = self.db.stats();
        Ok((
            s.immutable_memtables > 0,
            s.flushes + s.compactions + s.trivial_moves,
        ))
    }
    fn close(self: Box<Self>) -> Res<()> {
        self.db.close().map_err(e)
    }
    fn stats_json(&self) -> serde_json::Value {
        self.db
            .property("lsm.stats.json")
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

// ------------------------------------------------------------------------ RocksDB

/// See the `system-rocksdb` feature: RocksDB 7.8's C API has no
/// `rocksdb_write_buffer_manager_destroy`, which the rocksdb crate references from the
/// drop of `Options`; it is only called for a write buffer manager, and none is made.
#[cfg(feature = "system-rocksdb")]
#[no_mangle]
pub extern "C" fn rocksdb_write_buffer_manager_destroy(_: *mut std::ffi::c_void) {}

#[cfg(feature = "rocksdb")]
pub struct RocksEngine {
    db: rocksdb::DB,
    wo: rocksdb::WriteOptions,
}

/// The RocksDB options the modes share: created if missing, the 64 MiB memtable, no
/// compression, the block cache, bloom filter and block size of the other engines.
#[cfg(feature = "rocksdb")]
pub fn rocks_options() -> rocksdb::Options {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.set_write_buffer_size(MEMTABLE_BYTES);
    o.set_compression_type(rocksdb::DBCompressionType::None);
    let mut t = rocksdb::BlockBasedOptions::default();
    t.set_block_cache(&rocksdb::Cache::new_lru_cache(CACHE_BYTES));
    t.set_bloom_filter(BLOOM_BITS as f64, false);
    t.set_block_size(BLOCK_SIZE);
    o.set_block_based_table_factory(&t);
    o
}

#[cfg(feature = "rocksdb")]
impl RocksEngine {
    fn open(dir: &Path, bounded: bool) -> Res<RocksEngine> {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.set_write_buffer_size(MEMTABLE_BYTES);
        if !defaults() {
            o.set_compression_type(rocksdb::DBCompressionType::None);
            o.set_bottommost_compression_type(rocksdb::DBCompressionType::None);
        }
        o.set_manual_wal_flush(false);
        let mut t = rocksdb::BlockBasedOptions::default();
        t.set_block_cache(&rocksdb::Cache::new_lru_cache(CACHE_BYTES));
        t.set_bloom_filter(BLOOM_BITS as f64, false);
        t.set_block_size(BLOCK_SIZE);
        if bounded {
            t.set_cache_index_and_filter_blocks(true);
            t.set_pin_l0_filter_and_index_blocks_in_cache(true);
            t.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
            t.set_partition_filters(true);
            t.set_pin_top_level_index_and_filter(true);
        }
        o.set_block_based_table_factory(&t);
        let db = rocksdb::DB::open(&o, dir).map_err(e)?;
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(false);
        wo.disable_wal(false);
        Ok(RocksEngine { db, wo })
    }
}

#[cfg(feature = "rocksdb")]
struct RocksCursor<'a>(rocksdb::DBRawIterator<'a>);

#[cfg(feature = "rocksdb")]
impl Cursor for RocksCursor<'_> {
    fn seek_scan(&mut self, key: &[u8], nexts: usize) -> Res<(bool, usize)> {
        let it = &mut self.0;
        it.seek(key);
        let hit = it.valid() && it.key() == Some(key);
        let mut bytes = 0;
        let mut n = 0;
        while it.valid() {
            bytes += it.key().map_or(0, |k| k.len()) + it.value().map_or(0, |v| v.len());
            if n == nexts {
                break;
            }
            n += 1;
            it.next();
        }
        it.status().map_err(e)?;
        Ok((hit, bytes))
    }
}

#[cfg(feature = "rocksdb")]
impl Engine for RocksEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.db.put_opt(key, value, &self.wo).map_err(e)
    }
    fn put_batch(&self, keys: &[Vec<u8>], value: &[u8]) -> Res<()> {
        let mut b = rocksdb::WriteBatch::default();
        for k in keys {
            b.put(k, value);
        }
        self.db.write_opt(b, &self.wo).map_err(e)
    }
    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get_pinned(key).map_err(e)?.map(|v| v.len()))
    }
    fn delete(&self, key: &[u8]) -> Res<()> {
        self.db.delete_opt(key, &self.wo).map_err(e)
    }
    fn cursor(&self) -> Box<dyn Cursor + '_> {
        Box::new(RocksCursor(self.db.raw_iterator()))
    }
    fn scan_all(&self) -> Res<u64> {
        let mut it = self.db.raw_iterator();
        it.seek_to_first();
        let mut n = 0u64;
        let mut bytes = 0usize;
        while it.valid() {
            bytes += it.key().map_or(0, |k| k.len()) + it.value().map_or(0, |v| v.len());
            n += 1;
            it.next();
        }
        it.status().map_err(e)?;
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn reverse_all(&self) -> Res<u64> {
        let mut it = self.db.raw_iterator();
        it.seek_to_last();
        let mut n = 0u64;
        let mut bytes = 0usize;
        while it.valid() {
            bytes += it.key().map_or(0, |k| k.len()) + it.value().map_or(0, |v| v.len());
            n += 1;
            it.prev();
        }
        it.status().map_err(e)?;
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn flush(&self) -> Res<()> {
        self.db.flush().map_err(e)
    }
    fn background(&self) -> Res<(bool, u64)> {
        // Polls properties rather than `wait_for_compact`, so a system RocksDB without
        // that C API (ROCKSDB_LIB_DIR) works too.
        let mut n = 0;
        for p in [
            "rocksdb.num-running-flushes",
            "rocksdb.num-running-compactions",
            "rocksdb.mem-table-flush-pending",
            "rocksdb.compaction-pending",
        ] {
            n += self.db.property_int_value(p).map_err(e)?.unwrap_or(0);
        }
        Ok((n > 0, 0))
    }
    fn close(self: Box<Self>) -> Res<()> {
        drop(self);
        Ok(())
    }
}

// -------------------------------------------------------------------------- fjall

pub struct FjallEngine {
    // The keyspace first, so it is dropped before the database.
    ks: fjall::Keyspace,
    db: fjall::Database,
}

impl FjallEngine {
    fn open(dir: &Path) -> Res<FjallEngine> {
        use fjall::config::{BlockSizePolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
        use fjall::CompressionType;
        let db = fjall::Database::builder(dir)
            .cache_size(CACHE_BYTES as u64)
            .journal_compression(CompressionType::None)
            .manual_journal_persist(false)
            .open()
            .map_err(e)?;
        let ks = db
            .keyspace("bench", || {
                let o = fjall::KeyspaceCreateOptions::default();
                let o = if defaults() {
                    o
                } else {
                    o.data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
                        .index_block_compression_policy(CompressionPolicy::all(
                            CompressionType::None,
                        ))
                };
                o.max_memtable_size(MEMTABLE_BYTES as u64)
                    .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                        fjall::config::BloomConstructionPolicy::BitsPerKey(BLOOM_BITS as f32),
                    )))
                    .data_block_size_policy(BlockSizePolicy::all(BLOCK_SIZE as u32))
            })
            .map_err(e)?;
        Ok(FjallEngine { ks, db })
    }
}

struct FjallCursor<'a>(&'a fjall::Keyspace);

impl Cursor for FjallCursor<'_> {
    fn seek_scan(&mut self, key: &[u8], nexts: usize) -> Res<(bool, usize)> {
        use std::ops::Bound;
        let mut hit = false;
        let mut bytes = 0;
        let range = (Bound::Included(key), Bound::Unbounded::<&[u8]>);
        for (i, g) in self.0.range::<&[u8], _>(range).take(nexts + 1).enumerate() {
            let (k, v) = g.into_inner().map_err(e)?;
            if i == 0 {
                hit = &*k == key;
            }
            bytes += k.len() + v.len();
        }
        Ok((hit, bytes))
    }
}

impl Engine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.ks.insert(key, value).map_err(e)
    }
    fn put_batch(&self, keys: &[Vec<u8>], value: &[u8]) -> Res<()> {
        let mut b = self.db.batch();
        for k in keys {
            b.insert(&self.ks, k.as_slice(), value);
        }
        b.commit().map_err(e)
    }
    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.ks.get(key).map_err(e)?.map(|v| v.len()))
    }
    fn delete(&self, key: &[u8]) -> Res<()> {
        self.ks.remove(key).map_err(e)
    }
    fn cursor(&self) -> Box<dyn Cursor + '_> {
        Box::new(FjallCursor(&self.ks))
    }
    fn scan_all(&self) -> Res<u64> {
        let mut n = 0u64;
        let mut bytes = 0usize;
        for g in self.ks.iter() {
            let (k, v) = g.into_inner().map_err(e)?;
            bytes += k.len() + v.len();
            n += 1;
        }
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn reverse_all(&self) -> Res<u64> {
        let mut n = 0u64;
        let mut bytes = 0usize;
        for g in self.ks.iter().rev() {
            let (k, v) = g.into_inner().map_err(e)?;
            bytes += k.len() + v.len();
            n += 1;
        }
        std::hint::black_box(bytes);
        Ok(n)
    }
    fn flush(&self) -> Res<()> {
        self.ks.rotate_memtable_and_wait().map_err(e)
    }
    fn background(&self) -> Res<(bool, u64)> {
        Ok((
            self.db.outstanding_flushes() > 0 || self.db.active_compactions() > 0,
            0,
        ))
    }
    fn close(self: Box<Self>) -> Res<()> {
        self.db.persist(fjall::PersistMode::Buffer).map_err(e)?;
        drop(self);
        Ok(())
    }
}
