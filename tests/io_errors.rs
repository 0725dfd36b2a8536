//! I/O errors and a full disk, on `MemFs`.
//!
//! `every_failing_operation_is_refused_or_survived`: a fixed workload (puts, deletes,
//! batches, range deletes, sync, flush, compact, close) is measured once with
//! `MemFs::ops()`; then, for every k in 1..=N, the k-th mutating file operation fails,
//! once (transient) or from then on (persistent), under `wal.sync = "none"` and
//! `"always"`. Each run must hold: no panic; after a failed WAL/SSTable/manifest/CURRENT
//! write or fsync some call reports it and a later write is refused (never retried and
//! reported as success); a power cut right then (`fs.crash(None)`) reopens with every
//! synced write and a prefix of the history; the same file system with the faults
//! cleared reopens with every acknowledged write.
//!
//! A thin file-system wrapper (`Tap`) records which file each operation touched, so a
//! failure is classified exactly: deleting obsolete files and saving the key cache are
//! allowed to fail quietly (derived data, orphans the next open removes).

mod common;

use common::{apply, contents, describe_diff, exec, find_prefix, gen_op, Op, State};
use lsm::fs::{FileLock, FileSystem, MemFs, RandomAccessFile, WritableFile};
use lsm::{Config, Lsm, LsmError, SyncMode};
use parking_lot::Mutex;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const NKEYS: u32 = 60;
const SEED: u64 = 0x10_e77;

/// What the k-th mutating operation was.
#[derive(Clone, Debug)]
struct OpRecord {
    kind: &'static str,
    path: PathBuf,
}

/// `MemFs` plus a log of every mutating operation, numbered like `MemFs::ops()`.
#[derive(Clone)]
struct Tap {
    fs: MemFs,
    log: Arc<Mutex<Vec<OpRecord>>>,
}

impl Tap {
    fn new(fs: MemFs) -> Tap {
        Tap {
            fs,
            log: Arc::default(),
        }
    }

    /// Runs one mutating operation, logging it under the number MemFs gives it.
    fn tick<T>(&self, kind: &'static str, path: &Path, f: impl FnOnce() -> T) -> T {
        let mut log = self.log.lock();
        let before = self.fs.ops();
        let r = f();
        if self.fs.ops() > before {
            let n = self.fs.ops() as usize;
            if log.len() < n {
                log.resize(
                    n,
                    OpRecord {
                        kind: "?",
                        path: PathBuf::new(),
                    },
                );
            }
            log[n - 1] = OpRecord {
                kind,
                path: path.to_path_buf(),
            };
        }
        r
    }

    fn record(&self, n: u64) -> Option<OpRecord> {
        self.log.lock().get((n as usize).checked_sub(1)?).cloned()
    }

    /// True when a failure of operation `n` must stop writes: anything but deleting a
    /// file, the directory sync after deletions, and the key cache file.
    fn is_critical(&self, n: u64) -> bool {
        let log = self.log.lock();
        let Some(rec) = log.get(n as usize - 1) else {
            return false;
        };
        let quiet = |r: &OpRecord| {
            r.kind == "remove"
                || r.path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("cache"))
        };
        if quiet(rec) {
            return false;
        }
        if rec.kind == "sync_dir" {
            // A directory sync belongs to the last change of that directory's entries
            // (create, rename, remove, link); the writes of other threads in between
            // (appends to the live WAL segment, say) have nothing to do with it. After
            // deletions, or the key cache's rename, it is not critical.
            let prev = log[..n as usize - 1].iter().rev().find(|r| {
                matches!(r.kind, "create" | "rename" | "remove" | "link")
                    && r.path.parent() == Some(rec.path.as_path())
            });
            if prev.is_some_and(quiet) {
                return false;
            }
        }
        true
    }
}

struct TapFile {
    tap: Tap,
    path: PathBuf,
    inner: Box<dyn WritableFile>,
}

impl WritableFile for TapFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.tap
            .tick("append", &self.path, || self.inner.append(data))
    }
    fn sync(&self) -> io::Result<()> {
        self.tap.tick("sync", &self.path, || self.inner.sync())
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl FileSystem for Tap {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.fs.create_dir_all(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let inner = self.tick("create", path, || self.fs.create(path))?;
        Ok(Box::new(TapFile {
            tap: self.clone(),
            path: path.to_path_buf(),
            inner,
        }))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.fs.open(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.tick("rename", to, || self.fs.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.tick("remove", path, || self.fs.remove_file(path))
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.fs.list_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.tick("sync_dir", path, || self.fs.sync_dir(path))
    }
    fn exists(&self, path: &Path) -> bool {
        self.fs.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.fs.lock(path)
    }
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.tick("link", to, || self.fs.link_or_copy(from, to))
    }
}

fn config(sync: SyncMode) -> Config {
    let mut c = Config::with_root("db");
    c.directory.log = String::new();
    c.wal.sync = sync;
    c.memtable.max_entries = 12;
    c.sstable.block_size = 256;
    c.compaction.background_threads = 1;
    for (k, v) in [
        ("compaction.base_level_bytes", "4KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "2KiB"),
        ("compaction.level0_file_trigger", "2"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// `c` with background compaction idle: nothing but the open touches the files.
fn quiet(c: &Config) -> Config {
    let mut c = c.clone();
    for (k, v) in [
        ("compaction.level0_file_trigger", "1000"),
        ("compaction.level0_slowdown_files", "2000"),
        ("compaction.level0_stop_files", "3000"),
        ("compaction.base_level_bytes", "1GiB"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

#[derive(Clone, Debug)]
enum Step {
    Write(Op),
    Sync,
    Flush,
    Compact,
    Close,
}

/// The fixed workload: 45 writes of every kind with syncs, flushes and a compaction.
fn workload() -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..45u64 {
        steps.push(Step::Write(gen_op(SEED, i, NKEYS)));
        match i {
            9 | 30 => steps.push(Step::Sync),
            19 | 38 => steps.push(Step::Flush),
            25 => steps.push(Step::Compact),
            _ => {}
        }
    }
    steps.push(Step::Close);
    steps
}

/// What one run of the workload did.
struct Run {
    /// State at the last successful sync point.
    synced: State,
    /// Operations acknowledged after it, in order.
    pending: Vec<Op>,
    /// The write that failed, if one did (it may or may not have reached the disk).
    failed: Option<Op>,
    /// Some call returned an error.
    saw_error: bool,
    /// The database, unless the open failed.
    db: Option<Lsm>,
    /// The workload reached its close (which may have failed).
    closed: bool,
}

fn run_workload(tap: &Tap, cfg: &Config, steps: &[Step]) -> Run {
    let mut run = Run {
        synced: State::new(),
        pending: Vec::new(),
        failed: None,
        saw_error: false,
        db: None,
        closed: false,
    };
    let db = match Lsm::open_on(cfg.clone(), Arc::new(tap.clone())) {
        Ok(db) => db,
        Err(e) => {
            assert_typed(&e, "open");
            run.saw_error = true;
            return run;
        }
    };
    let always = cfg.wal.sync == SyncMode::Always;
    let mut current = State::new();
    for step in steps {
        let r = match step {
            Step::Write(op) => exec(&db, op),
            Step::Sync => db.sync(),
            Step::Flush => db.flush(),
            Step::Compact => db.compact(),
            Step::Close => db.close(),
        };
        match r {
            Ok(()) => {
                if let Step::Write(op) = step {
                    apply(&mut current, op);
                    run.pending.push(op.clone());
                }
                if always || matches!(step, Step::Sync | Step::Flush | Step::Close) {
                    run.synced = current.clone();
                    run.pending.clear();
                }
                if matches!(step, Step::Close) {
                    run.closed = true;
                }
            }
            Err(e) => {
                assert_typed(&e, &format!("{step:?}"));
                run.saw_error = true;
                if let Step::Write(op) = step {
                    run.failed = Some(op.clone());
                }
                // A failed close still closes.
                run.closed = matches!(step, Step::Close);
                break;
            }
        }
    }
    run.db = Some(db);
    run
}

fn assert_typed(e: &LsmError, what: &str) {
    assert!(
        matches!(e, LsmError::Io { .. } | LsmError::Closed),
        "{what}: an injected I/O fault surfaced as {e}"
    );
}

/// Checks the database reopened after a run: a prefix of the history from the last
/// synced state, with at least `min_pending` of the operations acknowledged after it.
fn check_reopen(fs: &MemFs, cfg: &Config, run: &Run, all_acked: bool, what: &str) {
    let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone()))
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let got = contents(&db);
    let mut ops = run.pending.clone();
    ops.extend(run.failed.clone());
    let Some(k) = last_prefix(&got, &run.synced, &ops) else {
        panic!(
            "{what}: reopened content is no prefix of the history after the last synced \
             state: {}",
            describe_diff(&got, &run.synced)
        );
    };
    if all_acked {
        assert!(
            k >= run.pending.len(),
            "{what}: {} acknowledged writes lost",
            run.pending.len() - k
        );
    }
    db.verify()
        .unwrap_or_else(|e| panic!("{what}: verify after reopen: {e}"));
    db.close().unwrap();
}

/// Like `common::find_prefix`, but the longest matching prefix: an operation that
/// changes nothing (deleting a missing key) must not count as lost.
fn last_prefix(got: &State, base: &State, ops: &[Op]) -> Option<usize> {
    find_prefix(got, base, ops)?;
    let mut cur = base.clone();
    let mut best = (&cur == got).then_some(0);
    for (i, op) in ops.iter().enumerate() {
        apply(&mut cur, op);
        if &cur == got {
            best = Some(i + 1);
        }
    }
    best
}

/// Runs the workload with operation `k` failing; `Ok(true)` when that operation was
/// critical (a write or sync the engine must refuse writes after).
fn one_fault(k: u64, transient: bool, sync: SyncMode, steps: &[Step]) -> Result<bool, String> {
    let what = format!(
        "fault at op {k} ({}, {sync:?})",
        if transient { "transient" } else { "persistent" }
    );
    let cfg = config(sync);
    let fs = MemFs::new();
    let tap = Tap::new(fs.clone());
    fs.fail_after(k, transient);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut run = run_workload(&tap, &cfg, steps);
        let fired = fs.ops() >= k;
        let critical = fired && tap.is_critical(k);
        let rec = tap.record(k);
        let what = format!("{what} [{rec:?}]");
        if critical {
            // Some call must have reported it, and the database refuses writes now.
            if let Some(db) = &run.db {
                if !run.closed {
                    let _ = db.flush();
                    let r = db.put(b"after-failure", b"x");
                    assert!(
                        r.is_err(),
                        "{what}: a write after a failed critical operation succeeded"
                    );
                } else {
                    assert!(
                        run.saw_error,
                        "{what}: the failure was never reported (close returned OK)"
                    );
                }
            }
        }
        // A power cut now.
        let cut = fs.crash(None);
        check_reopen(&cut, &cfg, &run, false, &format!("{what}, power cut"));
        // The process goes on: close (may fail), clear the faults, reopen the same files.
        if let Some(db) = run.db.take() {
            let _ = db.close();
        }
        fs.clear_faults();
        check_reopen(&fs, &cfg, &run, true, &format!("{what}, same fs"));
        critical
    }));
    match outcome {
        Ok(critical) => Ok(critical),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| format!("{what}: panic"))),
    }
}

fn sweep(sync: SyncMode) {
    let steps = workload();
    // The clean run gives N.
    let fs = MemFs::new();
    let tap = Tap::new(fs.clone());
    let run = run_workload(&tap, &config(sync), &steps);
    assert!(run.closed && !run.saw_error, "the clean run failed");
    let n = fs.ops();
    assert!(n > 50, "workload too small: {n} ops");
    let mut failures = Vec::new();
    let mut critical = 0;
    // A little past N: background work may shift the numbering from run to run.
    for k in 1..=n + 5 {
        for transient in [true, false] {
            match one_fault(k, transient, sync, &steps) {
                Ok(c) => critical += usize::from(c),
                Err(msg) => failures.push(msg),
            }
        }
    }
    eprintln!(
        "{sync:?}: N = {n} mutating operations, k = 1..={}, {} fault runs, {critical} on a \
         critical operation (writes refused after it)",
        n + 5,
        2 * (n + 5)
    );
    assert!(critical > n as usize, "too few critical faults: {critical}");
    assert!(
        failures.is_empty(),
        "{} of {} fault runs misbehaved:\n{}",
        failures.len(),
        2 * (n + 5),
        failures.join("\n")
    );
}

#[test]
fn every_failing_operation_is_refused_or_survived_wal_sync_none() {
    sweep(SyncMode::None);
}

#[test]
fn every_failing_operation_is_refused_or_survived_wal_sync_always() {
    sweep(SyncMode::Always);
}

/// Every file in the database's directories, by path.
fn files(fs: &MemFs) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["db", "db/wals", "db/ss_tables"] {
        for name in fs.list_dir(Path::new(dir)).unwrap() {
            let p = Path::new(dir).join(&name);
            if !["wals", "ss_tables"].contains(&name.as_str()) {
                out.push(p);
            }
        }
    }
    out
}

/// A full disk at many fill levels: writes fail with an error that says the disk is
/// full, reads keep working; after space is freed and the database reopened, nothing
/// synced is lost, and no temporary file or orphan table remains.
#[test]
fn a_full_disk_fails_writes_clearly_keeps_reads_and_loses_nothing_synced() {
    let steps = workload();
    for sync in [SyncMode::None, SyncMode::Always] {
        let cfg = config(sync);
        for limit in (0..40u64).map(|i| 600 + i * 450) {
            let what = format!("{sync:?}, space limit {limit}");
            let fs = MemFs::new();
            let tap = Tap::new(fs.clone());
            fs.set_space_limit(Some(limit));
            let mut run = run_workload(&tap, &cfg, &steps);
            if let Some(db) = &run.db {
                if !run.closed {
                    // Writes fail, and say why.
                    let e = db
                        .put(b"big", &[7u8; 64 << 10])
                        .expect_err("a write succeeded on a full disk");
                    let msg = e.to_string().to_lowercase();
                    assert!(
                        msg.contains("no space") || msg.contains("full"),
                        "{what}: the error does not say the disk is full: {e}"
                    );
                    // Reads keep working and see every acknowledged write.
                    let mut acked = run.synced.clone();
                    for op in &run.pending {
                        apply(&mut acked, op);
                    }
                    let got = contents(db);
                    let mut with_failed = acked.clone();
                    if let Some(op) = &run.failed {
                        apply(&mut with_failed, op);
                    }
                    assert!(
                        got == acked || got == with_failed,
                        "{what}: reads on a full disk: {}",
                        describe_diff(&got, &acked)
                    );
                }
            }
            if let Some(db) = run.db.take() {
                let _ = db.close();
            }
            fs.clear_faults();
            check_reopen(&fs, &cfg, &run, true, &what);
            // Nothing temporary, no orphan table, one manifest. Opened with compaction
            // idle, so the files are exactly what the open kept.
            let db = Lsm::open_on(quiet(&cfg), Arc::new(fs.clone())).unwrap();
            let live: usize = db.stats().levels.iter().map(|l| l.files).sum();
            let all = files(&fs);
            let tmp: Vec<_> = all
                .iter()
                .filter(|p| p.to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(tmp.is_empty(), "{what}: temporary files remain: {tmp:?}");
            let ssts = all
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "sst"))
                .count();
            assert_eq!(ssts, live, "{what}: orphan tables remain: {all:?}");
            let manifests = all
                .iter()
                .filter(|p| p.to_string_lossy().contains("MANIFEST-"))
                .count();
            assert_eq!(manifests, 1, "{what}: stale manifests remain: {all:?}");
            db.close().unwrap();
        }
    }
}
