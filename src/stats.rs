//! Engine statistics: counters updated on the hot paths with relaxed atomics, and the
//! snapshot [`Stats`] that `Lsm::stats` returns.

pub use crate::histogram::Percentiles;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub writes: AtomicU64,
    pub write_groups: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub slowdowns: AtomicU64,
    pub compaction_dropped: AtomicU64,
    pub get_latency: crate::histogram::Histogram,
    pub write_latency: crate::histogram::Histogram,
    pub stalls: AtomicU64,
    pub stall_micros: AtomicU64,
    pub stall_level0_micros: AtomicU64,
    pub stall_pending_micros: AtomicU64,
    pub stall_memtable_micros: AtomicU64,
    pub longest_stall_micros: AtomicU64,
    pub delay_micros: AtomicU64,
    pub subcompactions: AtomicU64,
    /// Per level: compaction bytes read from it, and written into it.
    pub level_io: parking_lot::Mutex<Vec<(u64, u64)>>,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Raises `c` to `n` if it is below.
    pub fn max(c: &AtomicU64, n: u64) {
        c.fetch_max(n, Ordering::Relaxed);
    }

    /// Charges a compaction's reads to its input levels and its writes to its output
    /// level (once per job, so a lock is cheap enough).
    pub fn record_compaction_io(&self, c: &crate::compaction::Compaction, written: u64) {
        let mut io = self.level_io.lock();
        let grow = |io: &mut Vec<(u64, u64)>, level: usize| {
            if io.len() <= level {
                io.resize(level + 1, (0, 0));
            }
        };
        for (level, f) in &c.inputs {
            grow(&mut io, *level);
            if let Some(slot) = io.get_mut(*level) {
                slot.0 += f.meta.size;
            }
        }
        grow(&mut io, c.output_level);
        if let Some(slot) = io.get_mut(c.output_level) {
            slot.1 += written;
        }
    }
}

/// Files and bytes of one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// SSTables in the level.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Bytes compactions read from the level.
    pub compaction_bytes_read: u64,
    /// Bytes compactions wrote into the level.
    pub compaction_bytes_written: u64,
}

/// A snapshot of the engine's counters and shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Write batches acknowledged (a put is a batch of one).
    pub writes: u64,
    /// WAL appends: each carries one or more batches (group commit).
    pub write_groups: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes: u64,
    /// WAL fsyncs.
    pub wal_syncs: u64,
    /// Memtables flushed to SSTables.
    pub flushes: u64,
    /// Bytes written by flushes.
    pub flush_bytes: u64,
    /// Compactions run (trivial moves included).
    pub compactions: u64,
    /// Compactions that moved a file down without rewriting it.
    pub trivial_moves: u64,
    /// Bytes read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes written by compactions.
    pub compaction_bytes_written: u64,
    /// Entries compactions dropped (overwritten, deleted or covered by a range
    /// deletion, and seen by no snapshot).
    pub compaction_dropped: u64,
    /// Block cache lookups of data blocks answered from memory.
    pub block_cache_hits: u64,
    /// Block cache lookups of data blocks that read the disk.
    pub block_cache_misses: u64,
    /// Bytes held by the block cache (data, index and filter blocks).
    pub block_cache_bytes: u64,
    /// Of `block_cache_bytes`, decoded index blocks.
    pub block_cache_index_bytes: u64,
    /// Of `block_cache_bytes`, decoded bloom filters.
    pub block_cache_filter_bytes: u64,
    /// Table files open now (the table cache, `cache.max_open_files`).
    pub open_tables: u64,
    /// Bytes of index and filter partitions that open tables hold pinned, outside the
    /// block cache (level 0's, with `cache.pin_l0_index_and_filter`; every table's
    /// without a block cache).
    pub pinned_index_filter_bytes: u64,
    /// Table lookups answered by an open table.
    pub table_cache_hits: u64,
    /// Table lookups that opened the file.
    pub table_cache_misses: u64,
    /// Key cache lookups answered from memory.
    pub key_cache_hits: u64,
    /// Key cache lookups that went to the tree.
    pub key_cache_misses: u64,
    /// Keys held by the key cache.
    pub key_cache_entries: u64,
    /// Bytes held by the key cache (keys, values and per-entry overhead).
    pub key_cache_bytes: u64,
    /// Latency of `get` (reads of the current state or a snapshot; one in eight timed).
    pub get_latency: Percentiles,
    /// Latency of writes (put, delete, delete_range, write), queueing included; one in
    /// eight timed.
    pub write_latency: Percentiles,
    /// Writes delayed (by at least 1 ms) to hold writes to
    /// `compaction.delayed_write_rate` while compaction falls behind.
    pub slowdowns: u64,
    /// Microseconds writes were delayed by the slowdown.
    pub delay_micros: u64,
    /// Times a writer stopped to wait for a flush or a compaction.
    pub stalls: u64,
    /// Microseconds writers spent stopped, all causes.
    pub stall_micros: u64,
    /// ... of which with level 0 at `compaction.level0_stop_files`.
    pub stall_level0_micros: u64,
    /// ... of which with pending compaction bytes at `compaction.pending_bytes_stop`.
    pub stall_pending_micros: u64,
    /// ... of which with `memtable.max_immutable` memtables waiting for flush.
    pub stall_memtable_micros: u64,
    /// The longest single stop of one writer, in microseconds.
    pub longest_stall_micros: u64,
    /// Flushes running now (0 or 1).
    pub flushes_running: u64,
    /// Full memtables waiting for a flush to start on them.
    pub flushes_queued: u64,
    /// Compactions running now.
    pub compactions_running: u64,
    /// Levels that need a compaction for which no slot was free (at the last time the
    /// scheduler looked).
    pub compactions_queued: u64,
    /// Key ranges merged in parallel by compactions that were split.
    pub subcompactions: u64,
    /// Entries in the active memtables (of every keyspace).
    pub memtable_entries: u64,
    /// Full memtables waiting to be flushed (of every keyspace).
    pub immutable_memtables: u64,
    /// The last sequence number acknowledged.
    pub last_sequence: u64,
    /// Live keyspaces, `"default"` included (the level figures add theirs up).
    pub keyspaces: u64,
    /// Per level, from level 0.
    pub levels: Vec<LevelStats>,
}

impl Stats {
    /// The statistics as a JSON object (the `lsm.stats.json` property).
    pub fn to_json(&self) -> String {
        let lat = |p: &Percentiles| {
            format!(
                "{{\"count\":{},\"p50_ns\":{},\"p99_ns\":{},\"p999_ns\":{}}}",
                p.count, p.p50_ns, p.p99_ns, p.p999_ns
            )
        };
        let levels: Vec<String> = self
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "{{\"level\":{i},\"files\":{},\"bytes\":{},\"compaction_bytes_read\":{},\"compaction_bytes_written\":{}}}",
                    l.files, l.bytes, l.compaction_bytes_read, l.compaction_bytes_written
                )
            })
            .collect();
        let fields: Vec<(&str, String)> = vec![
            ("writes", self.writes.to_string()),
            ("write_groups", self.write_groups.to_string()),
            ("wal_bytes", self.wal_bytes.to_string()),
            ("wal_syncs", self.wal_syncs.to_string()),
            ("flushes", self.flushes.to_string()),
            ("flush_bytes", self.flush_bytes.to_string()),
            ("compactions", self.compactions.to_string()),
            ("trivial_moves", self.trivial_moves.to_string()),
            (
                "compaction_bytes_read",
                self.compaction_bytes_read.to_string(),
            ),
            (
                "compaction_bytes_written",
                self.compaction_bytes_written.to_string(),
            ),
            ("compaction_dropped", self.compaction_dropped.to_string()),
            (
                "write_amplification",
                format!("{:.4}", self.write_amplification()),
            ),
            ("stalls", self.stalls.to_string()),
            ("stall_micros", self.stall_micros.to_string()),
            ("stall_level0_micros", self.stall_level0_micros.to_string()),
            (
                "stall_pending_micros",
                self.stall_pending_micros.to_string(),
            ),
            (
                "stall_memtable_micros",
                self.stall_memtable_micros.to_string(),
            ),
            (
                "longest_stall_micros",
                self.longest_stall_micros.to_string(),
            ),
            ("slowdowns", self.slowdowns.to_string()),
            ("delay_micros", self.delay_micros.to_string()),
            ("flushes_running", self.flushes_running.to_string()),
            ("flushes_queued", self.flushes_queued.to_string()),
            ("compactions_running", self.compactions_running.to_string()),
            ("compactions_queued", self.compactions_queued.to_string()),
            ("subcompactions", self.subcompactions.to_string()),
            ("memtable_entries", self.memtable_entries.to_string()),
            ("immutable_memtables", self.immutable_memtables.to_string()),
            ("last_sequence", self.last_sequence.to_string()),
            ("keyspaces", self.keyspaces.to_string()),
            ("block_cache_hits", self.block_cache_hits.to_string()),
            ("block_cache_misses", self.block_cache_misses.to_string()),
            ("block_cache_bytes", self.block_cache_bytes.to_string()),
            (
                "block_cache_index_bytes",
                self.block_cache_index_bytes.to_string(),
            ),
            (
                "block_cache_filter_bytes",
                self.block_cache_filter_bytes.to_string(),
            ),
            ("open_tables", self.open_tables.to_string()),
            (
                "pinned_index_filter_bytes",
                self.pinned_index_filter_bytes.to_string(),
            ),
            ("table_cache_hits", self.table_cache_hits.to_string()),
            ("table_cache_misses", self.table_cache_misses.to_string()),
            ("key_cache_hits", self.key_cache_hits.to_string()),
            ("key_cache_misses", self.key_cache_misses.to_string()),
            ("key_cache_entries", self.key_cache_entries.to_string()),
            ("key_cache_bytes", self.key_cache_bytes.to_string()),
            ("get_latency", lat(&self.get_latency)),
            ("write_latency", lat(&self.write_latency)),
            ("levels", format!("[{}]", levels.join(","))),
        ];
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// Bytes written to disk (WAL, flushes, compactions) per byte written by users
    /// (as measured by the WAL).
    pub fn write_amplification(&self) -> f64 {
        if self.wal_bytes == 0 {
            return 0.0;
        }
        (self.wal_bytes + self.flush_bytes + self.compaction_bytes_written) as f64
            / self.wal_bytes as f64
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "writes: {} in {} WAL appends ({} bytes, {} fsyncs)",
            self.writes, self.write_groups, self.wal_bytes, self.wal_syncs
        )?;
        writeln!(f, "flushes: {} ({} bytes)", self.flushes, self.flush_bytes)?;
        writeln!(
            f,
            "compactions: {} ({} trivial moves), {} bytes read, {} bytes written",
            self.compactions,
            self.trivial_moves,
            self.compaction_bytes_read,
            self.compaction_bytes_written
        )?;
        writeln!(f, "write amplification: {:.2}", self.write_amplification())?;
        writeln!(
            f,
            "stalls: {} ({} us: level 0 {} us, pending bytes {} us, memtables {} us; longest {} us), slowdowns: {} ({} us)",
            self.stalls,
            self.stall_micros,
            self.stall_level0_micros,
            self.stall_pending_micros,
            self.stall_memtable_micros,
            self.longest_stall_micros,
            self.slowdowns,
            self.delay_micros
        )?;
        writeln!(
            f,
            "jobs: flushes {} running, {} queued; compactions {} running, {} queued; {} subcompactions",
            self.flushes_running,
            self.flushes_queued,
            self.compactions_running,
            self.compactions_queued,
            self.subcompactions
        )?;
        writeln!(
            f,
            "memtable: {} entries, {} immutable waiting",
            self.memtable_entries, self.immutable_memtables
        )?;
        writeln!(f, "last sequence: {}", self.last_sequence)?;
        writeln!(f, "keyspaces: {}", self.keyspaces)?;
        for (name, p) in [("get", &self.get_latency), ("write", &self.write_latency)] {
            writeln!(
                f,
                "{name} latency: {} ops, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
                p.count,
                p.p50_ns as f64 / 1e3,
                p.p99_ns as f64 / 1e3,
                p.p999_ns as f64 / 1e3
            )?;
        }
        writeln!(
            f,
            "block cache: {} hits, {} misses, {} bytes ({} index, {} filter)",
            self.block_cache_hits,
            self.block_cache_misses,
            self.block_cache_bytes,
            self.block_cache_index_bytes,
            self.block_cache_filter_bytes
        )?;
        writeln!(
            f,
            "table cache: {} open, {} hits, {} misses, {} bytes of index and filter pinned",
            self.open_tables,
            self.table_cache_hits,
            self.table_cache_misses,
            self.pinned_index_filter_bytes
        )?;
        writeln!(
            f,
            "key cache: {} hits, {} misses, {} entries, {} bytes",
            self.key_cache_hits,
            self.key_cache_misses,
            self.key_cache_entries,
            self.key_cache_bytes
        )?;
        for (i, l) in self.levels.iter().enumerate() {
            if l.files > 0 {
                writeln!(
                    f,
                    "L{i}: {} files, {} bytes; compactions read {} bytes, wrote {} bytes",
                    l.files, l.bytes, l.compaction_bytes_read, l.compaction_bytes_written
                )?;
            }
        }
        Ok(())
    }
}
