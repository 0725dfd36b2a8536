//! Opening a database: lock, manifest, WAL replay, cleanup, background threads.

use super::flush::build_table;
use super::pins::FilePins;
use super::write::apply_op;
use super::{BgState, DbInner, Paths, SuperVersion, SvCell, WalState};
use crate::cache::{BlockCache, Cache, TableCache};
use crate::config::{Config, SyncMode};
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::gate::Gate;
use crate::manifest::{VersionEdit, VersionSet};
use crate::memtable::MemTable;
use crate::runtime::Runtime;
use crate::stats::Counters;
use crate::wal::{self, WriteAheadLogger};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

impl DbInner {
    /// Opens (or creates) the database `config` describes, on `fs`.
    pub fn open(config: Config, fs: Arc<dyn FileSystem>) -> Result<Arc<DbInner>> {
        config.validate()?;
        crate::logging::init(&config.directory.log);
        let paths = Paths {
            root: config.directory.root(),
            wal_dir: PathBuf::from(&config.directory.wal),
            sst_dir: PathBuf::from(&config.directory.ss_table),
        };
        for d in [&paths.root, &paths.wal_dir, &paths.sst_dir] {
            fs.create_dir_all(d)
                .map_err(|e| LsmError::io_at("create directory", d, e))?;
        }
        let lock_path = paths.root.join(filename::LOCK);
        let lock = fs.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                LsmError::Locked(paths.root.clone())
            } else {
                LsmError::io_at("lock", &lock_path, e)
            }
        })?;
        let max_levels = config.compaction.max_levels;

        let gate = Arc::new(Gate::new());
        let block_cache = (config.cache.block_cache_bytes > 0)
            .then(|| Arc::new(BlockCache::new(config.cache.block_cache_bytes)));
        let table_cache = Arc::new(TableCache::new(
            fs.clone(),
            &paths.sst_dir,
            block_cache.clone(),
            usize::try_from(config.cache.max_open_files).ok(),
            config.cache.pin_l0_index_and_filter,
        ));
        let mut vs = if fs.exists(&paths.root.join(filename::CURRENT)) {
            VersionSet::recover(
                fs.clone(),
                &paths.root,
                max_levels,
                table_cache.clone(),
                gate.clone(),
            )?
        } else {
            let tables = list_numbers(fs.as_ref(), &paths.sst_dir, filename::parse_table)?;
            if !tables.is_empty() {
                return Err(LsmError::corruption(
                    paths.root.join(filename::CURRENT),
                    0,
                    "CURRENT is missing but the database holds tables",
                ));
            }
            VersionSet::create(
                fs.clone(),
                &paths.root,
                max_levels,
                table_cache.clone(),
                gate.clone(),
            )
        };

        // New files must never reuse a number found on disk, referenced or not.
        let wal_numbers = list_numbers(fs.as_ref(), &paths.wal_dir, wal::parse_segment_file_name)?;
        let table_numbers = list_numbers(fs.as_ref(), &paths.sst_dir, filename::parse_table)?;
        let highest = wal_numbers
            .iter()
            .chain(&table_numbers)
            .copied()
            .max()
            .unwrap_or(0);
        vs.next_file_number = vs.next_file_number.max(highest + 1);

        // Tables are opened on first read, not here; but a table the manifest names
        // and the directory lacks is known now, from the listing, and would lose data.
        let on_disk: HashSet<u64> = table_numbers.iter().copied().collect();
        if let Some(n) = vs.state().file_numbers().find(|n| !on_disk.contains(n)) {
            return Err(LsmError::corruption(
                filename::table(&paths.sst_dir, n),
                0,
                "a table the manifest names is missing",
            ));
        }

        // The segment the manifest names as the oldest still needed is deleted only after
        // a later edit moved `log_number` past it. If it is gone, edits the database
        // relied on are missing from the manifest (a damaged or truncated manifest), or
        // the segment itself was removed: either way acknowledged writes would be lost.
        if vs.log_number != 0 && !wal_numbers.contains(&vs.log_number) {
            let missing = paths.wal_dir.join(wal::segment_file_name(vs.log_number));
            let why = "the WAL segment the manifest says holds unflushed writes is missing \
                       (a truncated or damaged manifest, or a deleted segment)";
            if config.wal.recovery == crate::config::RecoveryMode::Salvage {
                log::warn!("{}: {why}; salvage mode opens anyway", missing.display());
            } else {
                return Err(LsmError::corruption(missing, 0, why));
            }
        }

        // Every segment from `log_number` to the newest one the manifest recorded as
        // created must be there; the sequence check below finds a missing one in the
        // middle, this one a missing newest segment (which no later batch would show).
        if vs.newest_wal >= vs.log_number
            && vs.newest_wal != 0
            && !wal_numbers.contains(&vs.newest_wal)
        {
            let missing = paths.wal_dir.join(wal::segment_file_name(vs.newest_wal));
            let why =
                "the newest WAL segment the manifest recorded is missing (deleted by hand?); \
                       its writes would be lost";
            if config.wal.recovery == crate::config::RecoveryMode::Salvage {
                log::warn!("{}: {why}; salvage mode opens anyway", missing.display());
            } else {
                return Err(LsmError::corruption(missing, 0, why));
            }
        }

        // Replay the segments that hold writes not yet in tables.
        let replay: Vec<u64> = wal_numbers
            .iter()
            .copied()
            .filter(|&n| n >= vs.log_number)
            .collect();
        let recovered = MemTable::new(0, config.memtable.max_bytes);
        let mut last_seq = vs.last_sequence;
        let mut continuity = SequenceContinuity::new(vs.last_sequence, config.wal.recovery);
        let report = wal::replay_segments(
            fs.as_ref(),
            &paths.wal_dir,
            &replay,
            config.wal.recovery,
            |batch, ops| {
                continuity.check(&paths.wal_dir, batch.seq, ops.len() as u64)?;
                for (i, op) in ops.iter().enumerate() {
                    let seq = batch.seq + i as u64;
                    apply_op(&recovered, seq, *op);
                    last_seq = last_seq.max(seq);
                }
                Ok(())
            },
        )?;
        if report.batches > 0 {
            log::info!(
                "{}: replayed {} batches from {} WAL segments",
                paths.root.display(),
                report.batches,
                report.segments
            );
        }

        // The recovered writes go into a table and the replayed segments are retired,
        // so a torn tail just dropped can never end up in the middle of the log.
        let mut edit = VersionEdit::default();
        if !recovered.is_empty() {
            let number = vs.new_file_number();
            let opts = crate::sstable::TableOptions {
                block_size: config.sstable.block_size,
                bloom_bits_per_key: config.sstable.bloom_bits_per_key,
                compression: config.sstable.compression,
                metadata_block_size: config.sstable.metadata_block_size,
            };
            let meta = build_table(
                fs.as_ref(),
                &paths.sst_dir,
                opts,
                &table_cache,
                &recovered,
                number,
                &[],
            )?;
            edit.added.push((0, meta));
        }
        let log_number = vs.new_file_number();
        let logger = WriteAheadLogger::create(fs.as_ref(), &paths.wal_dir, log_number)?;
        edit.log_number = Some(log_number);
        edit.wal_segment = Some(log_number);
        edit.last_sequence = Some(last_seq);
        let version = vs.log_and_apply(edit)?;

        let inner = Arc::new(DbInner {
            sv: SvCell::new(SuperVersion::new(
                Arc::new(MemTable::new(log_number, config.memtable.max_bytes)),
                Vec::new(),
                version,
                &config,
            )),
            writers: Mutex::new(VecDeque::new()),
            wal: Mutex::new(WalState {
                logger,
                last_seq,
                unsynced: false,
                rotating: false,
                scratch: Vec::new(),
            }),
            rotated_cv: Condvar::new(),
            visible_seq: AtomicU64::new(last_seq),
            publish_lock: Mutex::new(()),
            publish_cv: Condvar::new(),
            versions: Mutex::new(vs),
            bg: Mutex::new(BgState {
                pointers: vec![Vec::new(); max_levels],
                ..BgState::default()
            }),
            bg_cv: Condvar::new(),
            sync_cv: Condvar::new(),
            delay_until: Mutex::new(std::time::Instant::now()),
            this: std::sync::OnceLock::new(),
            compaction_hook: Mutex::new(None),
            bg_error: Mutex::new(None),
            has_bg_error: AtomicBool::new(false),
            snapshots: Mutex::new(BTreeMap::new()),
            gate,
            lock: Mutex::new(Some(lock)),
            runtime: Runtime::new(config.compaction.background_threads)?,
            pins: FilePins::default(),
            manual_lock: Mutex::new(()),
            key_cache: (config.cache.key_cache_entries > 0 && config.cache.key_cache_bytes > 0)
                .then(|| {
                    Arc::new(Cache::new(
                        config.cache.key_cache_entries,
                        config.cache.key_cache_bytes,
                    ))
                }),
            block_cache,
            tables: table_cache,
            counters: Counters::default(),
            config,
            fs,
            paths,
        });
        inner.delete_obsolete_files()?;
        inner.warm_key_cache();
        inner.start_threads()?;
        Ok(inner)
    }

    /// Loads the key cache saved by the last close, if it still describes the data.
    fn warm_key_cache(&self) {
        let (Some(kc), true) = (&self.key_cache, self.config.cache.persist_on_close) else {
            return;
        };
        let path = PathBuf::from(&self.config.directory.cache);
        if !self.fs.exists(&path) {
            return;
        }
        match kc.load(self.fs.as_ref(), &path, self.visible_seq()) {
            Ok(n) => log::info!("loaded {n} keys into the key cache from {}", path.display()),
            Err(why) => log::info!("key cache {} not used: {why}", path.display()),
        }
    }

    fn start_threads(self: &Arc<Self>) -> Result<()> {
        let poison = |me: &Arc<Self>| {
            let me = me.clone();
            move |msg: String| {
                me.set_bg_error(LsmError::io("background work", std::io::Error::other(msg)));
            }
        };
        // Flushes and compactions are jobs the scheduler starts when there is work.
        let _ = self.this.set(Arc::downgrade(self));
        if let SyncMode::Interval(every) = self.config.wal.sync {
            let me = self.clone();
            self.runtime.spawn_job(
                "wal-sync",
                move || me.interval_sync_loop(every),
                poison(self),
            )?;
        }
        // Work left by the last run (level 0 over its trigger, say).
        self.maybe_schedule();
        Ok(())
    }

    /// The numbers of the WAL segments on disk, ascending.
    pub(super) fn wal_segments(&self) -> Result<Vec<u64>> {
        list_numbers(
            self.fs.as_ref(),
            &self.paths.wal_dir,
            wal::parse_segment_file_name,
        )
    }

    /// Removes what a crash can leave behind: tables no version references, WAL
    /// segments already in tables, old manifests, temporary files.
    fn delete_obsolete_files(&self) -> Result<()> {
        let vs = self.versions.lock();
        let live: HashSet<u64> = vs.state().file_numbers().collect();
        let manifest = vs.manifest_number();
        let log_number = vs.log_number;
        drop(vs);
        let fs = self.fs.as_ref();
        let mut doomed: Vec<PathBuf> = Vec::new();
        for name in list(fs, &self.paths.sst_dir)? {
            let orphan = match filename::parse_table(&name) {
                Some(n) => !live.contains(&n),
                None => name.ends_with(filename::TEMP_SUFFIX),
            };
            if orphan {
                doomed.push(self.paths.sst_dir.join(name));
            }
        }
        for n in self.wal_segments()? {
            if n < log_number {
                doomed.push(self.paths.wal_dir.join(wal::segment_file_name(n)));
            }
        }
        for name in list(fs, &self.paths.root)? {
            let old_manifest = filename::parse_manifest(&name).is_some_and(|n| Some(n) != manifest);
            if old_manifest || name == filename::current_temp(Path::new("")).to_string_lossy() {
                doomed.push(self.paths.root.join(name));
            }
        }
        for p in &doomed {
            log::info!("deleting obsolete file {}", p.display());
        }
        self.pins.delete(fs, doomed);
        Ok(())
    }
}

fn list(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<String>> {
    fs.list_dir(dir)
        .map_err(|e| LsmError::io_at("list", dir, e))
}

/// The file numbers in `dir` that `parse` recognises, ascending.
pub(super) fn list_numbers(
    fs: &dyn FileSystem,
    dir: &Path,
    parse: impl Fn(&str) -> Option<u64>,
) -> Result<Vec<u64>> {
    let mut v: Vec<u64> = list(fs, dir)?.iter().filter_map(|n| parse(n)).collect();
    v.sort_unstable();
    Ok(v)
}

/// Checks that the replayed batches carry consecutive sequence numbers, following on
/// from what the manifest says is in tables: a gap means a WAL segment (or part of
/// one) holding acknowledged writes is gone, which replaying the rest would hide.
struct SequenceContinuity {
    /// The sequence number the next batch must start at; `None` before the first,
    /// which may start at or below `flushed + 1` (a checkpoint's segments repeat writes
    /// its tables already hold) but not above.
    next: Option<u64>,
    flushed: u64,
    mode: crate::config::RecoveryMode,
}

impl SequenceContinuity {
    fn new(flushed: u64, mode: crate::config::RecoveryMode) -> SequenceContinuity {
        SequenceContinuity {
            next: None,
            flushed,
            mode,
        }
    }

    fn check(&mut self, wal_dir: &std::path::Path, seq: u64, count: u64) -> Result<()> {
        let gap = match self.next {
            None if seq > self.flushed + 1 => Some(format!(
                "the WAL starts at sequence number {seq}, but the tables end at {}",
                self.flushed
            )),
            Some(next) if seq != next => Some(format!(
                "a batch at sequence number {seq} follows one that ended before {next}"
            )),
            _ => None,
        };
        self.next = Some(seq + count);
        let Some(gap) = gap else {
            return Ok(());
        };
        let why = format!("{gap}: acknowledged writes are missing (a deleted WAL segment?)");
        if self.mode == crate::config::RecoveryMode::Salvage {
            log::warn!("{}: {why}; salvage mode opens anyway", wal_dir.display());
            Ok(())
        } else {
            Err(LsmError::corruption(wal_dir, 0, why))
        }
    }
}
