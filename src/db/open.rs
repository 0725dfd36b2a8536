//! Opening a database: lock, manifest, WAL replay, cleanup, background threads.

use super::flush::build_table;
use super::pins::FilePins;
use super::tree::{self, Tree};
use super::write::apply_op;
use super::{BgState, DbInner, Paths, SuperVersion, SvCell, WalState};
use crate::cache::{BlockCache, Cache, TableCache};
use crate::compaction::fold::Filtering;
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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
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

        check_merge_operator(vs.merge_operator.as_deref(), config.merge.name())?;
        let record_operator = match (&vs.merge_operator, config.merge.name()) {
            (None, Some(name)) => Some(name.to_string()),
            _ => None,
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
        if let Some(n) = vs.file_numbers().find(|n| !on_disk.contains(n)) {
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
        let log_number = vs.log_number();
        if log_number != 0 && !wal_numbers.contains(&log_number) {
            let missing = paths.wal_dir.join(wal::segment_file_name(log_number));
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
        if vs.newest_wal >= log_number
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

        // Replay the segments that hold writes not yet in tables: into each keyspace,
        // the writes in segments from its own log number on (older ones are in its
        // tables). A keyspace dropped since has no log number: its writes are skipped.
        let log_number = vs.log_number();
        let replay: Vec<u64> = wal_numbers
            .iter()
            .copied()
            .filter(|&n| n >= log_number)
            .collect();
        let mut configs: BTreeMap<u32, Config> = BTreeMap::new();
        for k in vs.keyspaces() {
            configs.insert(k.meta.id, tree::keyspace_config(&config, &k.meta.options)?);
        }
        let recovered: BTreeMap<u32, MemTable> = configs
            .iter()
            .map(|(id, c)| (*id, MemTable::new(0, c.memtable.max_bytes)))
            .collect();
        let floors: BTreeMap<u32, u64> =
            vs.keyspaces().map(|k| (k.meta.id, k.log_number)).collect();
        let next_keyspace_id = vs.next_keyspace_id;
        let mut last_seq = vs.last_sequence;
        let mut continuity = SequenceContinuity::new(vs.last_sequence, config.wal.recovery);
        let report = wal::replay_segments(
            fs.as_ref(),
            &paths.wal_dir,
            &replay,
            config.wal.recovery,
            |segment, batch, ops| {
                continuity.check(&paths.wal_dir, batch.seq, ops.len() as u64)?;
                for (i, (ks, op)) in ops.iter().enumerate() {
                    let seq = batch.seq + i as u64;
                    last_seq = last_seq.max(seq);
                    match (recovered.get(ks), floors.get(ks)) {
                        (Some(mem), Some(&floor)) if segment >= floor => apply_op(mem, seq, *op),
                        (Some(_), Some(_)) => {}
                        _ if *ks < next_keyspace_id => {}
                        _ => {
                            return Err(LsmError::corruption(
                                paths.wal_dir.join(wal::segment_file_name(segment)),
                                0,
                                format!("a batch at sequence number {seq} writes into keyspace {ks}, which was never created"),
                            ))
                        }
                    }
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

        // The recovered writes go into tables and the replayed segments are retired,
        // so a torn tail just dropped can never end up in the middle of the log. Each
        // keyspace's table lands with its new log number in one edit, so a crash in
        // between replays only the keyspaces not yet done.
        let log_number = vs.new_file_number();
        let logger = WriteAheadLogger::create(fs.as_ref(), &paths.wal_dir, log_number)?;
        for (id, mem) in &recovered {
            if mem.is_empty() {
                continue;
            }
            let number = vs.new_file_number();
            let meta = build_table(
                fs.as_ref(),
                &paths.sst_dir,
                tree::table_options(&configs[id], 0),
                &table_cache,
                mem,
                number,
                &[],
                configs[id].merge.operator.as_deref(),
                Filtering {
                    filters: &[],
                    keyspace: "",
                    level: 0,
                    now_ms: config.clock.now_ms(),
                },
            )?;
            vs.log_and_apply(VersionEdit {
                keyspace: Some(*id),
                added: vec![(0, meta)],
                keyspace_logs: vec![(*id, log_number)],
                wal_segment: Some(log_number),
                last_sequence: Some(last_seq),
                ..Default::default()
            })?;
        }
        vs.log_and_apply(VersionEdit {
            keyspace_logs: configs.keys().map(|id| (*id, log_number)).collect(),
            wal_segment: Some(log_number),
            last_sequence: Some(last_seq),
            merge_operator: record_operator,
            ..Default::default()
        })?;

        let share = |c: &Config| {
            tree::memtable_budget(
                c.memtable.max_bytes,
                config.memtable.total_bytes,
                configs.len(),
            )
        };
        let instance = {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        };
        let mut trees = tree::TreeMap::new();
        for k in vs.keyspaces() {
            let c = configs[&k.meta.id].clone();
            let sv = SvCell::new(SuperVersion::new(
                Arc::new(MemTable::new(log_number, share(&c))),
                Vec::new(),
                vs.current(k.meta.id),
                &c,
            ));
            trees.insert(
                k.meta.id,
                Arc::new(Tree::new(
                    k.meta.id,
                    k.meta.name.clone(),
                    c,
                    sv,
                    0,
                    instance,
                )),
            );
        }
        let default = trees
            .get(&crate::manifest::DEFAULT_KEYSPACE)
            .cloned()
            .ok_or_else(|| LsmError::corruption(&paths.root, 0, "no keyspace \"default\""))?;

        let inner = Arc::new(DbInner {
            default,
            trees: arc_swap::ArcSwap::from_pointee(trees),
            memory: Default::default(),
            instance,
            writers: Mutex::new(VecDeque::new()),
            wal: Mutex::new(WalState {
                logger,
                last_seq,
                unsynced: false,
                rotating: false,
                scratch: Vec::new(),
                epoch: 0,
            }),
            rotated_cv: Condvar::new(),
            visible_seq: AtomicU64::new(last_seq),
            publish_lock: Mutex::new(()),
            publish_cv: Condvar::new(),
            inserting: AtomicUsize::new(0),
            publish_waiters: AtomicUsize::new(0),
            versions: Mutex::new(vs),
            bg: Mutex::new(BgState::default()),
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
            changes: Default::default(),
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
    pub(crate) fn wal_segments(&self) -> Result<Vec<u64>> {
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
        let live: HashSet<u64> = vs.file_numbers().collect();
        let manifest = vs.manifest_number();
        let log_number = vs.log_number();
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
        let flushed = self
            .wal_segments()?
            .into_iter()
            .filter(|&n| n < log_number)
            .collect();
        doomed.extend(self.past_retention(flushed));
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

/// A database records the name of the merge operator it was first opened with: its
/// operands only make sense to that operator, so opening it with another, or with
/// none, is a `Config` error.
fn check_merge_operator(recorded: Option<&str>, configured: Option<&str>) -> Result<()> {
    match (recorded, configured) {
        (Some(r), Some(c)) if r != c => Err(LsmError::config(
            "merge.operator",
            format!("the database was created with the merge operator {r:?}, not {c:?}"),
        )),
        (Some(r), None) => Err(LsmError::config(
            "merge.operator",
            format!("the database was created with the merge operator {r:?}; open it with that operator"),
        )),
        _ => Ok(()),
    }
}
