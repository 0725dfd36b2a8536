//! Configuration: [`Config`] and its sections, loaded from `config.toml` or built in code.
//!
//! Every option has a default. A key is named the same way everywhere: dotted in
//! `config.toml` sections (`[memtable] max_entries = 10` is `memtable.max_entries`), in
//! the C API's `lsm_options_set`, in the CLI's `--set key=value`, and with dots as
//! underscores in Python keyword arguments. [`Config::set`] is the one place that
//! parses a value, so all of them accept and reject exactly the same things.
//!
//! ```
//! use lsm::{Config, MemTableConfig};
//! let mut c = Config {
//!     memtable: MemTableConfig { max_entries: 100, ..Default::default() },
//!     ..Default::default()
//! };
//! c.set("wal.sync", "always").unwrap();
//! assert!(c.set("wal.snyc", "always").unwrap_err().to_string().contains("wal.snyc"));
//! ```

use crate::error::{LsmError, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Block compression of SSTable data blocks (`sstable.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as they are (`"none"`).
    #[default]
    None,
    /// LZ4 block compression (`"lz4"`).
    Lz4,
    /// Zstandard, level 3 (`"zstd"`).
    Zstd,
}

/// What a damaged WAL means at open (`wal.recovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn record at the very end is dropped; damage followed by valid records is a
    /// `Corruption` error (`"tolerate_tail"`).
    #[default]
    TolerateTail,
    /// Any damage is a `Corruption` error (`"absolute"`).
    Absolute,
    /// Damaged records are skipped (and logged); the database opens with the rest
    /// (`"salvage"`).
    Salvage,
}

/// When the WAL is fsynced (`wal.sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Never by itself: acknowledged writes are in the OS and survive a process crash;
    /// `sync()` or `flush()` make them survive power loss (`"none"`, like RocksDB).
    #[default]
    None,
    /// Before every write is acknowledged; concurrent writers share one fsync
    /// (`"always"`).
    Always,
    /// At most this long after a write is acknowledged (`"10ms"`, `"1s"`).
    Interval(Duration),
}

/// `[wal]`: the write-ahead log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WALConfig {
    /// WAL format version; only 1 exists.
    pub version: u32,
    /// When the WAL is fsynced.
    pub sync: SyncMode,
    /// What a damaged WAL means at open.
    pub recovery: RecoveryMode,
    /// How much flushed WAL history is kept for the change feed (`wal.retention`).
    pub retention: WalRetention,
}

/// `wal.retention`: how much of the WAL is kept after its writes are in tables, so
/// that [`crate::Lsm::changes_since`] can serve them. `"0"` (the default) keeps none;
/// `"1GiB"` keeps the newest flushed segments up to that many bytes; `"24h"` keeps the
/// flushed segments written in the last 24 hours; `"1GiB,24h"` keeps a segment only
/// while both hold (as RocksDB's `WAL_size_limit_MB` with `WAL_ttl_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalRetention {
    /// Bytes of flushed segments kept, newest first; `None`: no size limit.
    pub max_bytes: Option<u64>,
    /// Age of the newest write in a flushed segment past which it is deleted; `None`:
    /// no age limit.
    pub max_age: Option<Duration>,
}

impl WalRetention {
    /// True when flushed segments are kept at all.
    pub fn keeps_any(&self) -> bool {
        self.max_bytes.is_some_and(|b| b > 0) || self.max_age.is_some_and(|a| !a.is_zero())
    }

    /// Parses `"0"`, `"1GiB"`, `"24h"`, `"7d"` or `"1GiB,24h"`.
    pub fn parse(s: &str) -> Option<WalRetention> {
        let mut r = WalRetention::default();
        let t = s.trim();
        if t == "0" {
            return Some(r);
        }
        for part in t.split(',').map(str::trim) {
            if let Some(d) = parse_long_duration(part) {
                if r.max_age.replace(d).is_some() {
                    return None;
                }
            } else if let Some(b) = parse_size(part) {
                if r.max_bytes.replace(b).is_some() {
                    return None;
                }
            } else {
                return None;
            }
        }
        Some(r)
    }
}

impl std::fmt::Display for WalRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.max_bytes, self.max_age) {
            (None, None) => write!(f, "0"),
            (Some(b), None) => write!(f, "{b}"),
            (None, Some(a)) => write!(f, "{}s", a.as_secs()),
            (Some(b), Some(a)) => write!(f, "{b},{}s", a.as_secs()),
        }
    }
}

/// `parse_duration` plus hours and days, with seconds as the finest unit.
fn parse_long_duration(s: &str) -> Option<Duration> {
    let t = s.trim();
    if let Some(h) = t.strip_suffix('h') {
        return Some(Duration::from_secs(
            h.parse::<u64>().ok()?.checked_mul(3600)?,
        ));
    }
    if let Some(d) = t.strip_suffix('d') {
        return Some(Duration::from_secs(
            d.parse::<u64>().ok()?.checked_mul(86_400)?,
        ));
    }
    parse_duration(t)
}

impl Default for WALConfig {
    fn default() -> Self {
        WALConfig {
            version: 1,
            sync: SyncMode::None,
            recovery: RecoveryMode::TolerateTail,
            retention: WalRetention::default(),
        }
    }
}

/// `[memtable]`: the in-memory write buffer. It is flushed to an SSTable when either
/// limit is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemTableConfig {
    /// Entries (puts, deletes, range deletes) per memtable.
    pub max_entries: usize,
    /// Approximate bytes of keys and values per memtable.
    pub max_bytes: usize,
    /// Full memtables waiting to be flushed before writers stall.
    pub max_immutable: usize,
    /// The write buffer manager's budget: approximate bytes of the mutable memtables
    /// of every keyspace together. Past it the largest one is flushed, and writers
    /// stall while all memtables, full ones included, hold twice as much. 0: no shared
    /// limit (each keyspace has only its own).
    pub total_bytes: usize,
}

impl Default for MemTableConfig {
    fn default() -> Self {
        MemTableConfig {
            max_entries: 1_000_000,
            max_bytes: 64 << 20,
            max_immutable: 4,
            total_bytes: 256 << 20,
        }
    }
}

/// `[directory]`: where the database keeps its files. The database's own files
/// (`MANIFEST-*`, `CURRENT`, `LOCK`) live in the directory that contains `ss_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directories {
    /// WAL segments.
    pub wal: String,
    /// SSTables.
    pub ss_table: String,
    /// The persisted key cache file.
    pub cache: String,
    /// The log4rs configuration file (missing: logging stays quiet).
    pub log: String,
}

impl Default for Directories {
    fn default() -> Self {
        Directories::under(Path::new("data"))
    }
}

impl Directories {
    /// The standard layout under one database directory: `wals/`, `ss_tables/`, `cache`.
    pub fn under(root: &Path) -> Directories {
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        Directories {
            wal: s(root.join("wals")),
            ss_table: s(root.join("ss_tables")),
            cache: s(root.join("cache")),
            log: "log/config/log4rs.yaml".to_string(),
        }
    }

    /// The database directory: the parent of `ss_table`.
    pub fn root(&self) -> PathBuf {
        crate::fs::parent_dir(Path::new(self.ss_table.trim_end_matches('/')))
    }
}

/// `[cache]`: the block cache and the key cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes of SSTable blocks kept in memory.
    pub block_cache_bytes: u64,
    /// Hot keys kept by the key cache (0 disables it).
    pub key_cache_entries: usize,
    /// Bytes the key cache may hold (keys, values and per-entry overhead); whichever
    /// of this and `key_cache_entries` is reached first evicts (0 disables the cache).
    pub key_cache_bytes: u64,
    /// Save the key cache on close and load it at open.
    pub persist_on_close: bool,
    /// Table files open at once (the table cache); `-1` is unlimited. Tables in use
    /// by a read or an iterator stay open beyond it until released.
    pub max_open_files: i64,
    /// Keep the index and filter of level-0 tables with the open table instead of in
    /// the block cache (every get probes every level-0 table).
    pub pin_l0_index_and_filter: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            block_cache_bytes: 64 << 20,
            key_cache_entries: 100_000,
            key_cache_bytes: 32 << 20,
            persist_on_close: true,
            max_open_files: 1000,
            pin_l0_index_and_filter: true,
        }
    }
}

/// `[sstable]`: the table file format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SSTableConfig {
    /// Target uncompressed size of a data block.
    pub block_size: usize,
    /// Bloom filter bits per key (0: no filter).
    pub bloom_bits_per_key: u32,
    /// Compression of data blocks (default lz4).
    pub compression: Compression,
    /// The first level whose tables are compressed (`sstable.compression_from_level`,
    /// default 1): tables written to shallower levels (flushes go to level 0) store
    /// their blocks as they are. Level 0 holds little of the data but takes every
    /// flush; the deeper levels hold nearly all of it.
    pub compression_from_level: usize,
    /// Target size of an index partition: a lookup that misses the block cache reads
    /// one index partition and one filter partition of about this size, never the
    /// table's whole index or filter.
    pub metadata_block_size: usize,
}

impl Default for SSTableConfig {
    fn default() -> Self {
        SSTableConfig {
            block_size: 4096,
            bloom_bits_per_key: 10,
            // Measured (docs/BENCHMARKS.md, "Space at each engine's defaults"): lz4 from level 1
            // takes the space of RocksDB's snappy everywhere, and flushes, which
            // writers wait for when memtables fill, stay uncompressed.
            compression: Compression::Lz4,
            compression_from_level: 1,
            metadata_block_size: crate::sstable::METADATA_BLOCK_SIZE,
        }
    }
}

/// `[compaction]`: leveled compaction and flow control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionConfig {
    /// L0 files that start a compaction into L1.
    pub level0_file_trigger: usize,
    /// L0 files at which writes are slowed down.
    pub level0_slowdown_files: usize,
    /// L0 files at which writes stall until compaction catches up.
    pub level0_stop_files: usize,
    /// Size ratio between adjacent levels.
    pub level_fanout: u64,
    /// Target size of L1.
    pub base_level_bytes: u64,
    /// Target size of one compaction output file.
    pub target_file_bytes: u64,
    /// Number of levels.
    pub max_levels: usize,
    /// Bytes of pending compaction at which writes are slowed down.
    pub pending_bytes_slowdown: u64,
    /// Bytes of pending compaction at which writes stall.
    pub pending_bytes_stop: u64,
    /// Background jobs (flushes and compactions) that run at once; with two or more,
    /// one is kept for flushes. Also the engine runtime's worker threads.
    pub background_threads: usize,
    /// Key ranges a large compaction is split into, merged in parallel (1: never
    /// split).
    pub max_subcompactions: usize,
    /// Bytes a second that writes are held to while compaction falls behind (past
    /// `level0_slowdown_files` or `pending_bytes_slowdown`).
    pub delayed_write_rate: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            level0_file_trigger: 4,
            level0_slowdown_files: 20,
            level0_stop_files: 36,
            level_fanout: 10,
            base_level_bytes: 256 << 20,
            target_file_bytes: 64 << 20,
            max_levels: 7,
            pending_bytes_slowdown: 64 << 30,
            pending_bytes_stop: 256 << 30,
            background_threads: 2,
            max_subcompactions: 1,
            delayed_write_rate: 16 << 20,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[wal]`
    pub wal: WALConfig,
    /// `[memtable]`
    pub memtable: MemTableConfig,
    /// `[directory]`
    pub directory: Directories,
    /// `[cache]`
    pub cache: CacheConfig,
    /// `[sstable]`
    pub sstable: SSTableConfig,
    /// `[compaction]`
    pub compaction: CompactionConfig,
    /// `[merge]`: the merge operator (`operator = "u64_add"`, or one of your own set
    /// with [`Config::with_merge_operator`]).
    pub merge: crate::merge::MergeConfig,
    /// `ttl` (top level, or a keyspace option): every plain put expires this long
    /// after it is written (`"7d"`, `"24h"`, `"90s"`); `None` (`"0"`, the default):
    /// never. A put with its own time to live keeps it.
    pub ttl: Option<Duration>,
    /// The wall clock entries expire by (the system's; tests set their own with
    /// [`Config::with_clock`]).
    pub clock: crate::ttl::ClockConfig,
    /// Compaction filters (see [`Config::with_compaction_filter`]), applied in order.
    pub compaction_filters: crate::filter::FilterConfig,
}

/// A value to set: from a TOML file, or text (C API, CLI, Python).
enum Input<'a> {
    Toml(&'a toml::Value),
    Text(&'a str),
}

impl Input<'_> {
    fn describe(&self) -> String {
        match self {
            Input::Toml(v) => v.to_string(),
            Input::Text(s) => format!("{s:?}"),
        }
    }

    fn string(&self, key: &str) -> Result<String> {
        match self {
            Input::Toml(toml::Value::String(s)) => Ok(s.clone()),
            Input::Text(s) => Ok(s.to_string()),
            Input::Toml(v) => Err(LsmError::config(
                key,
                format!("expected a string, got {}", v.type_str()),
            )),
        }
    }

    fn bool(&self, key: &str) -> Result<bool> {
        match self {
            Input::Toml(toml::Value::Boolean(b)) => Ok(*b),
            Input::Text("true" | "1" | "yes" | "on") => Ok(true),
            Input::Text("false" | "0" | "no" | "off") => Ok(false),
            other => Err(LsmError::config(
                key,
                format!("expected true or false, got {}", other.describe()),
            )),
        }
    }

    /// A non-negative integer; text and TOML strings may carry a size suffix
    /// (`64KiB`, `4MB`, `1G`).
    fn uint(&self, key: &str) -> Result<u64> {
        match self {
            Input::Toml(toml::Value::Integer(i)) => u64::try_from(*i)
                .map_err(|_| LsmError::config(key, format!("must not be negative, got {i}"))),
            Input::Toml(toml::Value::String(s)) => size(key, s),
            Input::Text(s) => size(key, s),
            Input::Toml(v) => Err(LsmError::config(
                key,
                format!("expected a whole number, got {}", v.type_str()),
            )),
        }
    }

    /// An integer, possibly negative (no size suffix).
    fn int(&self, key: &str) -> Result<i64> {
        match self {
            Input::Toml(toml::Value::Integer(i)) => Ok(*i),
            Input::Text(s) => {
                s.trim().replace('_', "").parse().map_err(|_| {
                    LsmError::config(key, format!("expected a whole number, got {s:?}"))
                })
            }
            Input::Toml(v) => Err(LsmError::config(
                key,
                format!("expected a whole number, got {}", v.type_str()),
            )),
        }
    }
}

fn size(key: &str, s: &str) -> Result<u64> {
    parse_size(s)
        .ok_or_else(|| LsmError::config(key, format!("expected a whole number, got {s:?}")))
}

/// `"4096"`, `"64KiB"`, `"64k"`, `"4MB"`, `"1_000_000"` -> bytes (or a count).
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `"10ms"`, `"2s"`, `"500us"`, `"1m"` -> a duration.
fn parse_duration(s: &str) -> Option<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

fn to_usize(key: &str, v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| LsmError::config(key, format!("{v} is too large")))
}

/// Every key [`Config::set`] accepts, for error messages and documentation.
pub const KEYS: &[&str] = &[
    "wal.version",
    "wal.sync",
    "wal.recovery",
    "wal.retention",
    "memtable.max_entries",
    "memtable.max_bytes",
    "memtable.max_immutable",
    "memtable.total_bytes",
    "directory.root",
    "directory.wal",
    "directory.ss_table",
    "directory.cache",
    "directory.log",
    "cache.block_cache_bytes",
    "cache.key_cache_entries",
    "cache.key_cache_bytes",
    "cache.persist_on_close",
    "cache.max_open_files",
    "cache.pin_l0_index_and_filter",
    "sstable.block_size",
    "sstable.bloom_bits_per_key",
    "sstable.compression",
    "sstable.compression_from_level",
    "sstable.metadata_block_size",
    "compaction.level0_file_trigger",
    "compaction.level0_slowdown_files",
    "compaction.level0_stop_files",
    "compaction.level_fanout",
    "compaction.base_level_bytes",
    "compaction.target_file_bytes",
    "compaction.max_levels",
    "compaction.pending_bytes_slowdown",
    "compaction.pending_bytes_stop",
    "compaction.background_threads",
    "compaction.max_subcompactions",
    "compaction.delayed_write_rate",
    "merge.operator",
    "ttl",
];

impl Config {
    /// Defaults, with the database in `root` (`root/wals`, `root/ss_tables`,
    /// `root/cache`).
    pub fn with_root(root: impl AsRef<Path>) -> Config {
        let mut c = Config::default();
        c.directory = Directories {
            log: c.directory.log.clone(),
            ..Directories::under(root.as_ref())
        };
        c
    }

    /// Loads a `config.toml`. Keys it does not name keep their defaults; an unknown
    /// section or key, a bad value, or options that do not fit together (as
    /// [`Config::validate`] checks) are a `Config` error naming the key.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            LsmError::config(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Config::from_toml_str(&text).map_err(|e| match e {
            LsmError::Config { key, reason } if key.is_empty() => {
                LsmError::config(path.display().to_string(), reason)
            }
            other => other,
        })
    }

    /// This configuration with `op` as its merge operator (`[merge] operator` names
    /// only the built-ins).
    pub fn with_merge_operator(
        mut self,
        op: std::sync::Arc<dyn crate::merge::MergeOperator>,
    ) -> Config {
        self.merge.operator = Some(op);
        self
    }

    /// This configuration reading time from `clock` (for tests of expiry).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::ttl::Clock>) -> Config {
        self.clock.clock = Some(clock);
        self
    }

    /// This configuration with `filter` applied by compactions after the filters
    /// already set (see [`crate::filter::CompactionFilter`]).
    pub fn with_compaction_filter(
        mut self,
        filter: std::sync::Arc<dyn crate::filter::CompactionFilter>,
    ) -> Config {
        self.compaction_filters.filters.push(filter);
        self
    }

    /// Parses the text of a `config.toml` (see [`Config::load`]).
    pub fn from_toml_str(text: &str) -> Result<Config> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| LsmError::config("", e.to_string()))?;
        let mut c = Config::default();
        // `directory.root` first, so explicit directory keys in the same file win.
        if let Some(root) = table
            .get("directory")
            .and_then(|d| d.as_table())
            .and_then(|d| d.get("root"))
        {
            c.apply("directory.root", Input::Toml(root))?;
        }
        for (section, body) in &table {
            // The one top-level key.
            if section == "ttl" {
                c.apply("ttl", Input::Toml(body))?;
                continue;
            }
            let body = body.as_table().ok_or_else(|| {
                LsmError::config(section.as_str(), "expected a [section] of keys")
            })?;
            for (k, v) in body {
                let key = format!("{section}.{k}");
                if key != "directory.root" {
                    c.apply(&key, Input::Toml(v))?;
                }
            }
        }
        // A file is a whole configuration, so the rules between options apply too.
        c.validate()?;
        Ok(c)
    }

    /// Sets one option from text, as the C API, the CLI and Python do:
    /// `set("memtable.max_entries", "100000")`, `set("wal.sync", "10ms")`. The value
    /// is checked by the same rule [`Config::validate`] applies to the field; on an
    /// error nothing changes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        self.apply(key, Input::Text(value))
    }

    /// Parses `v` into the field `key` names, then checks the field's rule, so a value
    /// from text is held to exactly the rule a value set in code is.
    fn apply(&mut self, key: &str, v: Input<'_>) -> Result<()> {
        let mut next = self.clone();
        next.parse_into(key, v)?;
        next.check(key)?;
        *self = next;
        Ok(())
    }

    /// Only parsing: a value of the field's type, or a `Config` error. The rules on
    /// the value live in [`Config::check`].
    fn parse_into(&mut self, key: &str, v: Input<'_>) -> Result<()> {
        match key {
            "wal.version" => self.wal.version = to_u32(key, v.uint(key)?)?,
            "wal.sync" => {
                let s = v.string(key)?;
                self.wal.sync = match s.as_str() {
                    "none" => SyncMode::None,
                    "always" => SyncMode::Always,
                    other => match parse_duration(other) {
                        Some(d) => SyncMode::Interval(d),
                        None => {
                            return Err(LsmError::config(
                                key,
                                format!(
                                    "expected \"none\", \"always\" or an interval such as \"10ms\", got {other:?}"
                                ),
                            ))
                        }
                    },
                };
            }
            "wal.recovery" => {
                self.wal.recovery = match v.string(key)?.as_str() {
                    "tolerate_tail" => RecoveryMode::TolerateTail,
                    "absolute" => RecoveryMode::Absolute,
                    "salvage" => RecoveryMode::Salvage,
                    other => {
                        return Err(LsmError::config(
                            key,
                            format!("expected \"tolerate_tail\", \"absolute\" or \"salvage\", got {other:?}"),
                        ))
                    }
                };
            }
            "wal.retention" => {
                let s = v.string(key)?;
                self.wal.retention = WalRetention::parse(&s).ok_or_else(|| {
                    LsmError::config(
                        key,
                        format!("expected \"0\", a size (\"1GiB\"), an age (\"24h\", \"7d\") or both (\"1GiB,24h\"), got {s:?}"),
                    )
                })?;
            }
            "memtable.max_entries" => self.memtable.max_entries = to_usize(key, v.uint(key)?)?,
            "memtable.max_bytes" => self.memtable.max_bytes = to_usize(key, v.uint(key)?)?,
            "memtable.max_immutable" => self.memtable.max_immutable = to_usize(key, v.uint(key)?)?,
            "memtable.total_bytes" => self.memtable.total_bytes = to_usize(key, v.uint(key)?)?,
            "directory.root" => {
                let log = self.directory.log.clone();
                self.directory = Directories {
                    log,
                    ..Directories::under(Path::new(&v.string(key)?))
                };
            }
            "directory.wal" => self.directory.wal = v.string(key)?,
            "directory.ss_table" => self.directory.ss_table = v.string(key)?,
            "directory.cache" => self.directory.cache = v.string(key)?,
            "directory.log" => self.directory.log = v.string(key)?,
            "cache.block_cache_bytes" => self.cache.block_cache_bytes = v.uint(key)?,
            "cache.key_cache_entries" => {
                self.cache.key_cache_entries = to_usize(key, v.uint(key)?)?
            }
            "cache.key_cache_bytes" => self.cache.key_cache_bytes = v.uint(key)?,
            "cache.persist_on_close" => self.cache.persist_on_close = v.bool(key)?,
            "cache.max_open_files" => self.cache.max_open_files = v.int(key)?,
            "cache.pin_l0_index_and_filter" => self.cache.pin_l0_index_and_filter = v.bool(key)?,
            "sstable.block_size" => self.sstable.block_size = to_usize(key, v.uint(key)?)?,
            "sstable.metadata_block_size" => {
                self.sstable.metadata_block_size = to_usize(key, v.uint(key)?)?
            }
            "sstable.bloom_bits_per_key" => {
                self.sstable.bloom_bits_per_key = to_u32(key, v.uint(key)?)?
            }
            "sstable.compression_from_level" => {
                self.sstable.compression_from_level = to_usize(key, v.uint(key)?)?
            }
            "sstable.compression" => {
                self.sstable.compression = match v.string(key)?.as_str() {
                    "none" => Compression::None,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    other => {
                        return Err(LsmError::config(
                            key,
                            format!("expected \"none\", \"lz4\" or \"zstd\", got {other:?}"),
                        ))
                    }
                };
            }
            "compaction.level0_file_trigger" => {
                self.compaction.level0_file_trigger = to_usize(key, v.uint(key)?)?
            }
            "compaction.level0_slowdown_files" => {
                self.compaction.level0_slowdown_files = to_usize(key, v.uint(key)?)?
            }
            "compaction.level0_stop_files" => {
                self.compaction.level0_stop_files = to_usize(key, v.uint(key)?)?
            }
            "compaction.level_fanout" => self.compaction.level_fanout = v.uint(key)?,
            "compaction.base_level_bytes" => self.compaction.base_level_bytes = v.uint(key)?,
            "compaction.target_file_bytes" => self.compaction.target_file_bytes = v.uint(key)?,
            "compaction.max_levels" => self.compaction.max_levels = to_usize(key, v.uint(key)?)?,
            "compaction.pending_bytes_slowdown" => {
                self.compaction.pending_bytes_slowdown = v.uint(key)?
            }
            "compaction.pending_bytes_stop" => self.compaction.pending_bytes_stop = v.uint(key)?,
            "compaction.background_threads" => {
                self.compaction.background_threads = to_usize(key, v.uint(key)?)?
            }
            "compaction.max_subcompactions" => {
                self.compaction.max_subcompactions = to_usize(key, v.uint(key)?)?
            }
            "compaction.delayed_write_rate" => self.compaction.delayed_write_rate = v.uint(key)?,
            "ttl" => {
                let s = v.string(key)?;
                self.ttl = match s.trim() {
                    "0" => None,
                    t => Some(parse_long_duration(t).filter(|d| !d.is_zero()).ok_or_else(|| {
                        LsmError::config(
                            key,
                            format!("expected \"0\" (none) or a duration such as \"7d\", \"24h\", \"90s\", got {s:?}"),
                        )
                    })?),
                };
            }
            "merge.operator" => {
                let name = v.string(key)?;
                self.merge.operator = match name.as_str() {
                    "" | "none" => None,
                    other => Some(crate::merge::builtin(other).ok_or_else(|| {
                        LsmError::config(
                            key,
                            format!(
                                "expected \"none\" or a built-in operator ({}), got {other:?}; \
                                 an operator of your own is set with Config::with_merge_operator",
                                crate::merge::BUILTIN_OPERATORS.join(", ")
                            ),
                        )
                    })?),
                };
            }
            _ => {
                return Err(LsmError::config(
                    key,
                    format!("unknown key (known keys: {})", KEYS.join(", ")),
                ))
            }
        }
        Ok(())
    }

    /// The rule of option `key` on its current value: the one place each rule lives.
    /// [`Config::set`] runs it for the key it set, [`Config::validate`] for every key.
    /// Each bound is what the engine needs to neither panic nor stall forever.
    fn check(&self, key: &str) -> Result<()> {
        let (m, s, c) = (&self.memtable, &self.sstable, &self.compaction);
        match key {
            "wal.version" => one_of(key, self.wal.version.into(), &[1]),
            // A zero interval would make the syncer spin.
            "wal.sync" => match self.wal.sync {
                SyncMode::Interval(d) if d.is_zero() => {
                    Err(LsmError::config(key, "the interval must be longer than 0"))
                }
                _ => Ok(()),
            },
            "memtable.max_entries" => at_least(key, m.max_entries as u64, 1),
            "memtable.max_bytes" => at_least(key, m.max_bytes as u64, 1),
            // 0 would make every writer wait for a flush that cannot start.
            "memtable.max_immutable" => at_least(key, m.max_immutable as u64, 1),
            // Any size: 0 turns the shared limit off.
            "memtable.total_bytes" => Ok(()),
            "directory.wal" => non_empty(key, &self.directory.wal),
            "directory.ss_table" => non_empty(key, &self.directory.ss_table),
            "directory.cache" => non_empty(key, &self.directory.cache),
            "sstable.block_size" => between(key, s.block_size as u64, 256, 16 << 20),
            "sstable.metadata_block_size" => {
                between(key, s.metadata_block_size as u64, 256, 16 << 20)
            }
            "sstable.bloom_bits_per_key" => between(key, s.bloom_bits_per_key.into(), 0, 64),
            // Past the last level it means no table is compressed, which is allowed.
            "sstable.compression_from_level" => {
                between(key, s.compression_from_level as u64, 0, 64)
            }
            "compaction.level0_file_trigger" => at_least(key, c.level0_file_trigger as u64, 1),
            "compaction.level0_slowdown_files" => at_least(key, c.level0_slowdown_files as u64, 1),
            "compaction.level0_stop_files" => at_least(key, c.level0_stop_files as u64, 1),
            // A fanout of 1 gives every level the same target: data never settles.
            "compaction.level_fanout" => at_least(key, c.level_fanout, 2),
            "compaction.base_level_bytes" => at_least(key, c.base_level_bytes, 1),
            "compaction.target_file_bytes" => at_least(key, c.target_file_bytes, 1),
            // L0 is compacted into L1: with one level it never is, and writes stall.
            "compaction.max_levels" => between(key, c.max_levels as u64, 2, 16),
            "compaction.pending_bytes_slowdown" => at_least(key, c.pending_bytes_slowdown, 1),
            "compaction.pending_bytes_stop" => at_least(key, c.pending_bytes_stop, 1),
            // No worker means no flush and no compaction; the runtime starts every
            // worker at open, so the count is bounded.
            "compaction.background_threads" => between(key, c.background_threads as u64, 1, 256),
            // Each piece is a thread of its own for the job's duration.
            "compaction.max_subcompactions" => between(key, c.max_subcompactions as u64, 1, 64),
            // 0 would stop writes for good instead of slowing them.
            "compaction.delayed_write_rate" => at_least(key, c.delayed_write_rate, 1),
            // 0 would leave no table readable; -1 is the one spelling of "no limit".
            "cache.max_open_files" => match self.cache.max_open_files {
                -1 | 1.. => Ok(()),
                v => Err(LsmError::config(
                    key,
                    format!("must be -1 (unlimited) or greater than 0, got {v}"),
                )),
            },
            // Any value of these types is acceptable: the enums, the booleans, the
            // byte budgets where 0 disables, the optional log file, and the root
            // (which is the directories above).
            "wal.recovery"
            | "wal.retention"
            | "directory.root"
            | "directory.log"
            | "cache.block_cache_bytes"
            | "cache.key_cache_entries"
            | "cache.key_cache_bytes"
            | "cache.persist_on_close"
            | "cache.pin_l0_index_and_filter"
            | "sstable.compression"
            | "merge.operator"
            | "ttl" => Ok(()),
            _ => Err(LsmError::config(key, "unknown key")),
        }
    }

    /// Checks every option by its rule (the same rules [`Config::set`] applies);
    /// called by `Lsm::open_with_config`, so a `Config` built in code is held to the
    /// rules of `config.toml`. The error names the first key that breaks one.
    pub fn validate(&self) -> Result<()> {
        // Spelled out so that a new field does not compile until it has a key (and
        // with it a rule in `check`).
        let Config {
            wal:
                WALConfig {
                    version: _,
                    sync: _,
                    recovery: _,
                    retention: _,
                },
            memtable:
                MemTableConfig {
                    max_entries: _,
                    max_bytes: _,
                    max_immutable: _,
                    total_bytes: _,
                },
            directory:
                Directories {
                    wal: _,
                    ss_table: _,
                    cache: _,
                    log: _,
                },
            cache:
                CacheConfig {
                    block_cache_bytes: _,
                    key_cache_entries: _,
                    key_cache_bytes: _,
                    persist_on_close: _,
                    max_open_files: _,
                    pin_l0_index_and_filter: _,
                },
            sstable:
                SSTableConfig {
                    block_size: _,
                    bloom_bits_per_key: _,
                    compression: _,
                    compression_from_level: _,
                    metadata_block_size: _,
                },
            compaction:
                CompactionConfig {
                    level0_file_trigger: _,
                    level0_slowdown_files: _,
                    level0_stop_files: _,
                    level_fanout: _,
                    base_level_bytes: _,
                    target_file_bytes: _,
                    max_levels: _,
                    pending_bytes_slowdown: _,
                    pending_bytes_stop: _,
                    background_threads: _,
                    max_subcompactions: _,
                    delayed_write_rate: _,
                },
            merge: crate::merge::MergeConfig { operator: _ },
            ttl: _,
            clock: _,
            compaction_filters: _,
        } = self;
        KEYS.iter().try_for_each(|key| self.check(key))?;
        self.check_relations()
    }

    /// The rules between options. Only [`Config::validate`] runs them: single sets
    /// arrive in any order, so a relation can only be judged on the finished config.
    fn check_relations(&self) -> Result<()> {
        let c = &self.compaction;
        // Writes slowed or stopped before L0 is due for compaction would wait for a
        // compaction that never starts.
        at_least_key(
            "compaction.level0_slowdown_files",
            c.level0_slowdown_files as u64,
            "compaction.level0_file_trigger",
            c.level0_file_trigger as u64,
        )?;
        at_least_key(
            "compaction.level0_stop_files",
            c.level0_stop_files as u64,
            "compaction.level0_slowdown_files",
            c.level0_slowdown_files as u64,
        )?;
        at_least_key(
            "compaction.pending_bytes_stop",
            c.pending_bytes_stop,
            "compaction.pending_bytes_slowdown",
            c.pending_bytes_slowdown,
        )
    }
}

fn at_least(key: &str, v: u64, min: u64) -> Result<()> {
    if v < min {
        let reason = if min == 1 {
            "must be greater than 0".to_string()
        } else {
            format!("must be at least {min}, got {v}")
        };
        return Err(LsmError::config(key, reason));
    }
    Ok(())
}

/// `v` (option `key`) must be at least the value of option `other`.
fn at_least_key(key: &str, v: u64, other: &str, min: u64) -> Result<()> {
    if v < min {
        return Err(LsmError::config(
            key,
            format!("must be at least {other} ({min}), got {v}"),
        ));
    }
    Ok(())
}

fn between(key: &str, v: u64, min: u64, max: u64) -> Result<()> {
    if !(min..=max).contains(&v) {
        return Err(LsmError::config(
            key,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(())
}

fn one_of(key: &str, v: u64, allowed: &[u64]) -> Result<()> {
    if !allowed.contains(&v) {
        return Err(LsmError::config(
            key,
            format!("must be one of {allowed:?}, got {v}"),
        ));
    }
    Ok(())
}

fn to_u32(key: &str, v: u64) -> Result<u32> {
    u32::try_from(v).map_err(|_| LsmError::config(key, format!("{v} is too large")))
}

fn non_empty(key: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(LsmError::config(key, "must not be empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_config_loads_unchanged() {
        let c =
            Config::from_toml_str("[wal]\nversion = 1\n\n[memtable]\nmax_entries = 10\n").unwrap();
        assert_eq!(c.memtable.max_entries, 10);
        assert_eq!(c.wal.version, 1);
        assert_eq!(c.directory, Directories::default());
        assert_eq!(c.directory.root(), PathBuf::from("data"));
    }

    #[test]
    fn the_seed_struct_literal_compiles_and_names_the_root() {
        let c = Config {
            memtable: MemTableConfig {
                max_entries: 100,
                ..Default::default()
            },
            directory: Directories {
                wal: "custom/wals/".to_string(),
                ss_table: "custom/ss_tables/".to_string(),
                cache: "custom/cache".to_string(),
                log: "custom/logs.yaml".to_string(),
            },
            wal: WALConfig {
                version: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(c.directory.root(), PathBuf::from("custom"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = Config::from_toml_str("[memtable]\nmax_entriez = 3\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "memtable.max_entriez"));
        let e = Config::from_toml_str("[nope]\nx = 1\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "nope.x"));
        let e = Config::from_toml_str("[wal]\nsync = \"sometimes\"\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "wal.sync"));
        let e = Config::from_toml_str("[memtable]\nmax_entries = -1\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "memtable.max_entries"));
        let e = Config::from_toml_str("[memtable]\nmax_entries = \"many\"\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "memtable.max_entries"));
        let e = Config::from_toml_str("wal = 3\n").unwrap_err();
        assert!(matches!(&e, LsmError::Config { key, .. } if key == "wal"));
        assert!(Config::from_toml_str("[wal\n").is_err());
    }

    #[test]
    fn text_values_parse_like_toml_ones() {
        let mut c = Config::default();
        c.set("wal.sync", "10ms").unwrap();
        assert_eq!(c.wal.sync, SyncMode::Interval(Duration::from_millis(10)));
        c.set("memtable.max_bytes", "4MiB").unwrap();
        assert_eq!(c.memtable.max_bytes, 4 << 20);
        c.set("sstable.compression", "lz4").unwrap();
        c.set("cache.persist_on_close", "false").unwrap();
        c.set("directory.root", "/tmp/x").unwrap();
        assert_eq!(c.directory.root(), PathBuf::from("/tmp/x"));
        assert!(c.set("memtable.max_entries", "0").is_err());
        assert!(c.set("wal.version", "2").is_err());
        let toml = Config::from_toml_str(
            "[wal]\nsync = \"10ms\"\n[memtable]\nmax_bytes = \"4MiB\"\n[sstable]\ncompression = \"lz4\"\n[cache]\npersist_on_close = false\n[directory]\nroot = \"/tmp/x\"\n",
        )
        .unwrap();
        assert_eq!(toml, c);
    }

    #[test]
    fn every_listed_key_is_accepted() {
        let mut c = Config::default();
        for key in KEYS {
            let value = match *key {
                "wal.sync" => "always",
                "wal.recovery" => "salvage",
                "wal.retention" => "1GiB,24h",
                "sstable.compression" => "zstd",
                "cache.persist_on_close" | "cache.pin_l0_index_and_filter" => "true",
                k if k.starts_with("directory.") => "d",
                "wal.version" => "1",
                "merge.operator" => "u64_add",
                "ttl" => "7d",
                "compaction.level_fanout"
                | "compaction.max_levels"
                | "compaction.background_threads"
                | "compaction.max_subcompactions"
                | "sstable.compression_from_level"
                | "sstable.bloom_bits_per_key" => "4",
                _ => "4096",
            };
            c.set(key, value).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }
}
