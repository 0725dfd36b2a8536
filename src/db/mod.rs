//! The engine behind [`crate::Lsm`]: state shared by every handle, snapshot, iterator
//! and background thread.
//!
//! Lock order (never taken the other way round): `writers` (released before I/O) ->
//! `manual_lock` -> `wal` -> `versions` -> `sv` -> `bg` -> `publish_lock`. Whoever
//! holds `wal` is the only thread that appends to the WAL, inserts into the memtable or
//! switches memtables. No lock is held across a stall, an fsync of the WAL or the
//! creation of a WAL segment (see `write.rs`); the version lock is held across a
//! manifest write.

mod budget;
mod checkpoint;
mod conflict;
mod flush;
mod jobs;
mod keyspaces;
mod open;
mod pins;
mod read;
mod retention;
mod tree;
mod write;

pub(crate) use read::foreign;
pub(crate) use tree::Tree;
pub use tree::KEYSPACE_KEYS;

#[cfg(feature = "sim")]
pub use jobs::{CompactionHook, CompactionJobInfo};

use crate::config::Config;
use crate::error::{LsmError, Result};
use crate::fs::{FileLock, FileSystem};
use crate::gate::{Gate, OpGuard};
use crate::key::SeqNo;
use crate::manifest::{Version, VersionSet};
use crate::memtable::MemTable;
use crate::stats::Counters;
use crate::wal::WriteAheadLogger;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The memtables and tables a reader sees, captured together.
pub(crate) struct SuperVersion {
    pub mem: Arc<MemTable>,
    /// Full memtables waiting for flush, newest first.
    pub imms: Vec<Arc<MemTable>>,
    pub version: Arc<Version>,
    /// Flow-control inputs, computed once per version rather than per write.
    pub l0_files: usize,
    pub pending_compaction_bytes: u64,
}

impl SuperVersion {
    /// `prev` with other memtables: the version, and so its flow-control inputs, stay
    /// (no O(files) recount at every memtable switch).
    pub fn with_memtables(
        prev: &SuperVersion,
        mem: Arc<MemTable>,
        imms: Vec<Arc<MemTable>>,
    ) -> SuperVersion {
        SuperVersion {
            mem,
            imms,
            version: prev.version.clone(),
            l0_files: prev.l0_files,
            pending_compaction_bytes: prev.pending_compaction_bytes,
        }
    }

    pub fn new(
        mem: Arc<MemTable>,
        imms: Vec<Arc<MemTable>>,
        version: Arc<Version>,
        config: &Config,
    ) -> SuperVersion {
        SuperVersion {
            l0_files: version.levels.first().map_or(0, Vec::len),
            pending_compaction_bytes: crate::compaction::picker::pending_bytes(
                &version,
                &config.compaction,
            ),
            mem,
            imms,
            version,
        }
    }
}

/// The current super version. Readers load it without a lock or a shared counter
/// (arc-swap), so concurrent gets do not bounce one cache line between cores; the rare
/// writers (memtable switch, flush, compaction) take turns through `update`.
pub(crate) struct SvCell {
    current: arc_swap::ArcSwap<SuperVersion>,
    update: Mutex<()>,
}

impl SvCell {
    pub fn new(sv: SuperVersion) -> SvCell {
        SvCell {
            current: arc_swap::ArcSwap::from_pointee(sv),
            update: Mutex::new(()),
        }
    }

    /// A short-lived view (no reference count taken).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<SuperVersion>> {
        self.current.load()
    }

    /// A view to keep (an iterator's).
    pub fn load_full(&self) -> Arc<SuperVersion> {
        self.current.load_full()
    }

    /// Replaces the super version with `f(current)`; updates never interleave.
    pub fn update(&self, f: impl FnOnce(&SuperVersion) -> SuperVersion) {
        let _one_at_a_time = self.update.lock();
        let next = f(&self.current.load());
        self.current.store(Arc::new(next));
    }
}

/// Where the database's files are.
pub(crate) struct Paths {
    pub root: PathBuf,
    pub wal_dir: PathBuf,
    pub sst_dir: PathBuf,
}

/// The WAL writer and the last sequence number it assigned. Held by the group-commit
/// leader, and by anything that needs writes to pause (flush, checkpoint, close).
pub(crate) struct WalState {
    pub logger: WriteAheadLogger,
    /// The last sequence number assigned (written to the WAL; maybe not yet visible).
    pub last_seq: SeqNo,
    pub unsynced: bool,
    /// A memtable switch has released the lock for its I/O: writers wait for it.
    pub rotating: bool,
    /// The WAL record being built, kept to reuse its allocation.
    pub scratch: Vec<u8>,
    /// WAL rotations so far (see `Tree::mem_epoch`).
    pub epoch: u64,
}

/// The scheduler's state (see `jobs.rs`), under `DbInner::bg`.
#[derive(Default)]
pub(crate) struct BgState {
    /// Set by close: no compaction starts any more (flushes still do).
    pub shutdown: bool,
    pub flush_running: bool,
    pub compactions_running: usize,
    /// Levels that need a compaction for which no slot was free, at the last look.
    pub compactions_queued: usize,
    /// Manual compactions waiting or running: no background compaction starts.
    pub manual: usize,
    /// Per keyspace id, what its compactions hold and where they left off.
    pub trees: std::collections::HashMap<u32, TreeBg>,
    /// The keyspace whose compactions are looked at first next time (turns go
    /// round, so a busy keyspace does not starve the others).
    pub next_turn: u32,
}

/// One keyspace's compaction state, under `DbInner::bg`.
#[derive(Default)]
pub(crate) struct TreeBg {
    /// The files and output ranges of its running compactions.
    pub busy: crate::compaction::picker::Busy,
    /// Per level, the largest key of the last file compacted out of it.
    pub pointers: Vec<Vec<u8>>,
}

/// One queued write (see `write.rs`).
pub(crate) struct Writer {
    batch: crate::WriteBatch,
    result: Mutex<Option<Result<()>>>,
    cv: Condvar,
}

pub(crate) struct DbInner {
    pub config: Config,
    pub fs: Arc<dyn FileSystem>,
    pub paths: Paths,
    /// The keyspace `"default"`, also in `trees`: the handle's own operations use it
    /// without a map lookup.
    default: Arc<Tree>,
    /// Every live keyspace, replaced whole (under the WAL and version locks) when one
    /// is created or dropped.
    trees: arc_swap::ArcSwap<tree::TreeMap>,
    /// A number no other open of this process shares (keyspace handles and batches
    /// carry it, so one cannot be used with another database).
    pub(crate) instance: u64,
    /// The memtables' bytes, all keyspaces together (the write buffer manager's).
    memory: budget::MemoryUse,
    writers: Mutex<VecDeque<Arc<Writer>>>,
    wal: Mutex<WalState>,
    /// Writers wait here for a memtable switch to finish (with `wal`).
    rotated_cv: Condvar,
    /// The last sequence number readers may see: every group up to it is published.
    visible_seq: AtomicU64,
    /// Writers inserting into memtables after the WAL lock (see `write.rs`): counted
    /// up under the lock, down after the inserts.
    inserting: AtomicUsize,
    /// Groups published out of the WAL lock wait here for the groups before them.
    publish_lock: Mutex<()>,
    publish_cv: Condvar,
    /// Writers asleep on `publish_cv`: a publisher takes `publish_lock` to wake them
    /// only when there are some.
    publish_waiters: AtomicUsize,
    versions: Mutex<VersionSet>,
    bg: Mutex<BgState>,
    /// Background progress (a job ended, an error, close), for whoever waits on it.
    bg_cv: Condvar,
    /// The interval syncer's own wake-up (only shutdown uses it).
    sync_cv: Condvar,
    /// The write controller's clock: writes slowed down are delayed until it.
    delay_until: Mutex<std::time::Instant>,
    /// This instance, for the scheduler to hand to the jobs it starts.
    this: std::sync::OnceLock<std::sync::Weak<DbInner>>,
    /// Called at the start of each compaction (a test hook).
    compaction_hook: Mutex<Option<jobs::CompactionHook>>,
    /// The first failed WAL/table/manifest write or sync; writes are refused after it.
    bg_error: Mutex<Option<LsmError>>,
    has_bg_error: AtomicBool,
    /// Live snapshots: sequence number -> how many.
    snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    /// Operations in flight; closing it refuses new ones and waits for these.
    pub(crate) gate: Arc<Gate>,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    pub runtime: crate::runtime::Runtime,
    /// Deletions of WAL segments and orphans wait while a checkpoint or verification
    /// reads files.
    pins: pins::FilePins,
    /// Data blocks shared by every table (`None` when `cache.block_cache_bytes` is 0).
    block_cache: Option<Arc<crate::cache::BlockCache>>,
    /// Open table readers, at most `cache.max_open_files` idle ones.
    tables: Arc<crate::cache::TableCache>,
    /// Hot keys (`None` when `cache.key_cache_entries` is 0).
    key_cache: Option<Arc<crate::cache::Cache>>,
    /// Held by a manual compaction: one at a time.
    manual_lock: Mutex<()>,
    pub counters: Counters,
    /// Live change subscriptions.
    pub(crate) changes: crate::changes::ChangeHub,
}

impl DbInner {
    /// Starts an operation that may touch the database's files: `Closed` once the
    /// database is closing. `close` waits for the guard to drop (see [`Gate`]).
    #[inline]
    pub fn enter(&self) -> Result<OpGuard<'_>> {
        self.gate.enter()
    }

    /// `Closed` once the database is closing (for a check inside an operation that
    /// already holds a guard).
    pub fn check_open(&self) -> Result<()> {
        if self.gate.is_closing() {
            Err(LsmError::Closed)
        } else {
            Ok(())
        }
    }

    pub fn is_closed(&self) -> bool {
        self.gate.is_closing()
    }

    /// The sticky error, if a write or sync failed earlier.
    fn check_bg_error(&self) -> Result<()> {
        if !self.has_bg_error.load(Ordering::Acquire) {
            return Ok(());
        }
        match &*self.bg_error.lock() {
            Some(e) => Err(LsmError::io(
                "database refuses writes after an earlier failure (reopen it)",
                std::io::Error::other(e.to_string()),
            )),
            None => Ok(()),
        }
    }

    /// Records `e` as the sticky error (the first one wins) and returns it.
    fn set_bg_error(&self, e: LsmError) -> LsmError {
        log::error!("refusing further writes: {e}");
        let mut g = self.bg_error.lock();
        if g.is_none() {
            *g = Some(e.duplicate());
        }
        self.has_bg_error.store(true, Ordering::Release);
        drop(g);
        self.notify_progress();
        self.wake_publish_waiters();
        self.changes.notify();
        e
    }

    /// The sticky error as a value: writes (and subscriptions) end after it.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_bg_error()
    }

    /// Runs `f` with the WAL lock held and the last sequence number written to it.
    pub(crate) fn with_wal_locked<T>(&self, f: impl FnOnce(SeqNo) -> T) -> T {
        let wal = self.wal.lock();
        f(wal.last_seq)
    }

    /// See `Lsm::set_compaction_hook`.
    #[cfg(feature = "sim")]
    pub fn set_compaction_hook(&self, hook: Option<jobs::CompactionHook>) {
        *self.compaction_hook.lock() = hook;
        // A compaction held back by nothing may be due now.
        self.maybe_schedule();
    }

    /// The keyspace `"default"`'s current view.
    pub fn super_version(&self) -> Arc<SuperVersion> {
        self.default.sv.load_full()
    }

    /// The keyspace `"default"`.
    pub fn default_tree(&self) -> &Arc<Tree> {
        &self.default
    }

    /// The live keyspace `id`, if there is one.
    pub fn tree(&self, id: u32) -> Option<Arc<Tree>> {
        if id == self.default.id {
            return Some(self.default.clone());
        }
        self.trees.load().get(&id).cloned()
    }

    /// True when `tree` is a keyspace of this database (live or dropped).
    pub fn owns(&self, tree: &Tree) -> bool {
        tree.db == self.instance
    }

    /// Every live keyspace, `"default"` first.
    pub fn trees(&self) -> Arc<tree::TreeMap> {
        self.trees.load_full()
    }

    pub fn visible_seq(&self) -> SeqNo {
        self.visible_seq.load(Ordering::Acquire)
    }

    /// Registers a snapshot at the current sequence number.
    pub fn acquire_snapshot(&self) -> SeqNo {
        let mut s = self.snapshots.lock();
        // Read under the lock so a flush that lists snapshots sees this one or runs
        // entirely before it exists.
        let seq = self.visible_seq();
        *s.entry(seq).or_insert(0) += 1;
        seq
    }

    pub fn release_snapshot(&self, seq: SeqNo) {
        let mut s = self.snapshots.lock();
        if let Some(n) = s.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                s.remove(&seq);
            }
        }
    }

    fn snapshot_list(&self) -> Vec<SeqNo> {
        self.snapshots.lock().keys().copied().collect()
    }

    pub fn stats(&self) -> crate::stats::Stats {
        let trees = self.trees();
        let svs: Vec<Arc<SuperVersion>> = trees.values().map(|t| t.sv.load_full()).collect();
        let imms: u64 = svs.iter().map(|sv| sv.imms.len() as u64).sum();
        let mut files: Vec<usize> = Vec::new();
        let mut bytes: Vec<u64> = Vec::new();
        for sv in &svs {
            for (i, (f, b)) in sv
                .version
                .files_per_level()
                .into_iter()
                .zip(sv.version.bytes_per_level())
                .enumerate()
            {
                if files.len() <= i {
                    files.resize(i + 1, 0);
                    bytes.resize(i + 1, 0);
                }
                files[i] += f;
                bytes[i] += b;
            }
        }
        let c = &self.counters;
        let (flush_running, compactions_running, compactions_queued) = {
            let bg = self.bg.lock();
            (
                bg.flush_running,
                bg.compactions_running,
                bg.compactions_queued,
            )
        };
        let level_io = c.level_io.lock().clone();
        crate::stats::Stats {
            writes: Counters::get(&c.writes),
            write_groups: Counters::get(&c.write_groups),
            wal_bytes: Counters::get(&c.wal_bytes),
            wal_syncs: Counters::get(&c.wal_syncs),
            flushes: Counters::get(&c.flushes),
            compactions: Counters::get(&c.compactions),
            trivial_moves: Counters::get(&c.trivial_moves),
            compaction_bytes_read: Counters::get(&c.compaction_bytes_read),
            compaction_bytes_written: Counters::get(&c.compaction_bytes_written),
            slowdowns: Counters::get(&c.slowdowns),
            delay_micros: Counters::get(&c.delay_micros),
            stall_level0_micros: Counters::get(&c.stall_level0_micros),
            stall_pending_micros: Counters::get(&c.stall_pending_micros),
            stall_memtable_micros: Counters::get(&c.stall_memtable_micros),
            longest_stall_micros: Counters::get(&c.longest_stall_micros),
            subcompactions: Counters::get(&c.subcompactions),
            flushes_running: u64::from(flush_running),
            flushes_queued: imms.saturating_sub(u64::from(flush_running)),
            compactions_running: compactions_running as u64,
            compactions_queued: compactions_queued as u64,
            compaction_dropped: Counters::get(&c.compaction_dropped),
            block_cache_hits: self.block_cache.as_ref().map_or(0, |b| b.hits()),
            block_cache_misses: self.block_cache.as_ref().map_or(0, |b| b.misses()),
            block_cache_bytes: self.block_cache.as_ref().map_or(0, |b| b.used_bytes()),
            block_cache_index_bytes: self.block_cache.as_ref().map_or(0, |b| b.index_bytes()),
            block_cache_filter_bytes: self.block_cache.as_ref().map_or(0, |b| b.filter_bytes()),
            open_tables: self.tables.open_tables(),
            pinned_index_filter_bytes: self.tables.pinned_bytes(),
            table_cache_hits: self.tables.hits(),
            table_cache_misses: self.tables.misses(),
            key_cache_bytes: self.key_cache.as_ref().map_or(0, |k| k.bytes()),
            key_cache_hits: self.key_cache.as_ref().map_or(0, |k| k.hits()),
            key_cache_misses: self.key_cache.as_ref().map_or(0, |k| k.misses()),
            key_cache_entries: self.key_cache.as_ref().map_or(0, |k| k.len() as u64),
            get_latency: c.get_latency.summary(),
            write_latency: c.write_latency.summary(),
            flush_bytes: Counters::get(&c.flush_bytes),
            stalls: Counters::get(&c.stalls),
            stall_micros: Counters::get(&c.stall_micros),
            memtable_entries: svs.iter().map(|sv| sv.mem.len() as u64).sum(),
            immutable_memtables: imms,
            last_sequence: self.visible_seq(),
            keyspaces: trees.len() as u64,
            levels: files
                .into_iter()
                .zip(bytes)
                .enumerate()
                .map(|(i, (files, bytes))| {
                    let (read, written) = level_io.get(i).copied().unwrap_or((0, 0));
                    crate::stats::LevelStats {
                        files,
                        bytes,
                        compaction_bytes_read: read,
                        compaction_bytes_written: written,
                    }
                })
                .collect(),
        }
    }

    /// Stops accepting operations, waits for those in flight, makes every acknowledged
    /// write durable in an SSTable, stops the background threads and releases the
    /// lock. Idempotent. When it returns, nothing of this instance works on the
    /// directory any more: a new instance may open it.
    ///
    /// REQUIRES: the calling thread is not inside an operation of this database.
    pub fn close(&self) -> Result<()> {
        if !self.gate.close() {
            return Ok(());
        }
        // Subscriptions waiting for changes see the database closed.
        self.changes.notify();
        // Operations in flight finish or give up: a stalled writer or a `flush()` that
        // waits is woken to see the gate closed, a manual compaction abandons its work.
        self.gate.wait_idle(|| {
            let _bg = self.bg.lock();
            self.bg_cv.notify_all();
        });
        // A background compaction that checked the flag before it was set has logged
        // its edit once this lock is free; every later one sees the flag and gives up.
        drop(self.versions.lock());
        let mut result = Ok(());
        {
            // Writers in flight are done (the gate); later ones see it closed.
            let mut wal = self.lock_wal_settled();
            if self.check_bg_error().is_ok() {
                let full: Vec<Arc<Tree>> = self
                    .trees()
                    .values()
                    .filter(|t| !t.sv.load().mem.is_empty())
                    .cloned()
                    .collect();
                if !full.is_empty() {
                    if let Err(e) = self.switch_memtables(&mut wal, &full) {
                        result = Err(e);
                    }
                }
            }
        }
        {
            let mut bg = self.bg.lock();
            bg.shutdown = true;
            self.bg_cv.notify_all();
            self.sync_cv.notify_all();
        }
        // The flush of what is left: started now if none runs, and it keeps going
        // until no full memtable is left.
        self.maybe_schedule();
        // Flushes finish (so acknowledged writes are in tables); a compaction in
        // progress is abandoned and its partial output removed at the next open.
        self.runtime.shutdown();
        // Nothing reads a table any more: close them, and refuse any later reopen.
        self.tables.close();
        // The live segment ends at its last write (no reserved zeros left behind).
        if result.is_ok() {
            let live = self.wal.lock().logger.sync_handle();
            if let Err(e) = live.finish() {
                result = Err(LsmError::io_at("sync WAL in", &self.paths.wal_dir, e));
            }
        }
        if result.is_ok() {
            if let Some(e) = &*self.bg_error.lock() {
                result = Err(e.duplicate());
            }
        }
        if result.is_ok() && self.config.cache.persist_on_close {
            if let Some(kc) = &self.key_cache {
                let path = PathBuf::from(&self.config.directory.cache);
                // The cache is derived data: failing to save it costs a warm start only.
                if let Err(e) = kc.save(self.fs.as_ref(), &path, self.visible_seq()) {
                    log::warn!("cannot save the key cache to {}: {e}", path.display());
                }
            }
        }
        self.lock.lock().take();
        result
    }
}
