//! The background scheduler and the write path under it (the scale issue): several
//! compactions at once, subcompactions, and stalls that hold no lock.
//!
//! A compaction hook (`Lsm::set_compaction_hook`, feature `sim`) holds chosen
//! compactions on their own thread, so a test can keep one job running while others
//! start, or keep level 0 at its stop limit for as long as it likes.

mod common;

use common::{apply, assert_gets, contents, describe_diff, exec, gen_op, key, State};
use lsm::fs::{CrashModel, MemFs};
use lsm::{CompactionJobInfo, Config, Lsm, SyncMode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const NKEYS: u32 = 600;

/// A gate that compactions matching a predicate wait at until it is opened.
#[derive(Default)]
struct Hold {
    open: Mutex<bool>,
    cv: Condvar,
    /// Compactions that started, in order: (start level, held).
    seen: Mutex<Vec<(usize, bool)>>,
    /// Compactions waiting at the gate now.
    waiting: AtomicU64,
}

impl Hold {
    fn install(
        self: &Arc<Self>,
        db: &Lsm,
        holds: impl Fn(&CompactionJobInfo) -> bool + Send + Sync + 'static,
    ) {
        let me = self.clone();
        db.set_compaction_hook(Some(Arc::new(move |info: &CompactionJobInfo| {
            let held = holds(info);
            me.seen.lock().unwrap().push((info.start_level, held));
            if !held {
                return;
            }
            me.waiting.fetch_add(1, Ordering::SeqCst);
            let mut open = me.open.lock().unwrap();
            while !*open {
                open = me.cv.wait(open).unwrap();
            }
            me.waiting.fetch_sub(1, Ordering::SeqCst);
        })));
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// Waits (a liveness bound, not a measurement) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting until {what}");
}

/// Runs `f` on another thread and fails if it does not return within 10 s: a call
/// blocked behind a lock would never return.
fn returns_promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not return while writes were stalled"))
}

/// Tiny levels, so that compactions of every level happen all the time.
fn small(threads: usize) -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = 48;
    c.memtable.max_immutable = 2;
    c.sstable.block_size = 256;
    for (k, v) in [
        ("compaction.base_level_bytes", "8KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "2KiB"),
        ("compaction.level0_file_trigger", "2"),
        ("compaction.level0_slowdown_files", "40"),
        ("compaction.level0_stop_files", "60"),
        ("cache.persist_on_close", "false"),
    ] {
        c.set(k, v).unwrap();
    }
    c.compaction.background_threads = threads;
    c
}

fn run_ops(db: &Lsm, model: &mut State, seed: u64, range: std::ops::Range<u64>) {
    for i in range {
        let op = gen_op(seed, i, NKEYS);
        exec(db, &op).unwrap();
        apply(model, &op);
    }
}

fn check(db: &Lsm, model: &State, what: &str) {
    let got = contents(db);
    assert!(
        &got == model,
        "{what}: contents differ from the model: {}",
        describe_diff(&got, model)
    );
    assert_gets(db, model, NKEYS);
}

#[test]
fn a_level0_compaction_runs_while_one_out_of_level2_is_held_and_the_model_agrees_after_each_reopen()
{
    let fs = Arc::new(MemFs::new());
    let mut config = small(3);
    config.wal.sync = SyncMode::Always;
    // Levels smaller than the live data, so that level 2 and below overflow too.
    config.set("compaction.base_level_bytes", "2KiB").unwrap();
    config.set("compaction.target_file_bytes", "1KiB").unwrap();
    let mut model = State::new();
    let seed = 11;
    let mut next = 0u64;
    for round in 0..3 {
        let db = Lsm::open_on(config.clone(), fs.clone()).unwrap();
        let hold = Arc::new(Hold::default());
        // Only the first job out of level 2 or deeper is held: it takes no level-1
        // file, so level-0 jobs (which take level-1 files of any key) can still run.
        let armed = AtomicBool::new(true);
        hold.install(&db, move |info| {
            info.start_level >= 2 && !info.manual && armed.swap(false, Ordering::SeqCst)
        });
        // Write until a deeper compaction is held, then until a level-0 compaction
        // has also started and finished beside it.
        let mut guard = 0;
        while hold.waiting.load(Ordering::SeqCst) == 0 {
            run_ops(&db, &mut model, seed, next..next + 50);
            next += 50;
            guard += 1;
            assert!(
                guard < 400,
                "no compaction out of level 2 or deeper started: {:?} {}",
                hold.seen.lock().unwrap(),
                db.stats()
            );
        }
        let done_before = db.stats().compactions;
        let l0_started_before = hold.seen.lock().unwrap().len();
        eventually("a level-0 compaction finishes beside the held one", || {
            run_ops(&db, &mut model, seed, next..next + 20);
            next += 20;
            let seen = hold.seen.lock().unwrap();
            let l0_since = seen[l0_started_before..]
                .iter()
                .any(|(level, held)| *level == 0 && !held);
            l0_since && db.stats().compactions > done_before
        });
        assert!(
            hold.waiting.load(Ordering::SeqCst) >= 1,
            "the held compaction is still running"
        );
        let s = db.stats();
        assert!(s.compactions_running >= 1, "{s}");

        // A power cut now, with jobs in flight: every write was synced, so all of
        // them are there after recovery.
        let cut = Arc::new(fs.crash_with(CrashModel::Holes { seed: round }));
        {
            let recovered = Lsm::open_on(config.clone(), cut).unwrap();
            check(
                &recovered,
                &model,
                "after a cut during concurrent compactions",
            );
        }

        hold.release();
        run_ops(&db, &mut model, seed, next..next + 200);
        next += 200;
        check(&db, &model, "live, after the held compaction finished");
        db.close().unwrap();
        let db = Lsm::open_on(config.clone(), fs.clone()).unwrap();
        check(&db, &model, &format!("after reopen {round}"));
        db.close().unwrap();
    }
}

#[test]
fn subcompactions_split_large_jobs_and_lose_nothing() {
    let fs = Arc::new(MemFs::new());
    let mut config = small(2);
    config.compaction.max_subcompactions = 4;
    let mut model = State::new();
    let db = Lsm::open_on(config.clone(), fs.clone()).unwrap();
    let snap_model;
    let snap;
    {
        run_ops(&db, &mut model, 5, 0..3000);
        // A snapshot in the middle keeps old versions and range deletions alive
        // across the pieces' boundaries.
        snap = db.snapshot();
        snap_model = model.clone();
        run_ops(&db, &mut model, 5, 3000..6000);
        db.compact_range(None, None).unwrap();
    }
    let s = db.stats();
    assert!(s.subcompactions > 0, "no job was split: {s}");
    check(&db, &model, "after split compactions");
    let mut got: State = snap.iter().map(|r| r.unwrap()).collect();
    let second = common::second(&db);
    got.extend(
        snap.iter_in(&second)
            .map(|r| r.unwrap())
            .map(|(k, v)| (common::in_second(&k), v)),
    );
    assert!(
        got == snap_model,
        "the snapshot changed: {}",
        describe_diff(&got, &snap_model)
    );
    drop(snap);
    db.close().unwrap();
    let db = Lsm::open_on(config, fs).unwrap();
    check(&db, &model, "after reopen");
}

#[test]
fn a_stall_at_the_level0_stop_limit_leaves_reads_syncs_and_the_interval_syncer_free() {
    let fs = Arc::new(MemFs::new());
    let mut config = small(2);
    config.wal.sync = SyncMode::Interval(Duration::from_millis(10));
    config.memtable.max_entries = 20;
    for (k, v) in [
        ("compaction.level0_file_trigger", "2"),
        ("compaction.level0_slowdown_files", "3"),
        ("compaction.level0_stop_files", "4"),
    ] {
        config.set(k, v).unwrap();
    }
    let db = Arc::new(Lsm::open_on(config.clone(), fs.clone()).unwrap());
    let hold = Arc::new(Hold::default());
    hold.install(&db, |_| true);

    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) && i < 100_000 {
                db.put(&key(i), format!("v{i}").as_bytes()).unwrap();
                i += 1;
                acked.store(u64::from(i), Ordering::SeqCst);
            }
        })
    };
    eventually("the writer stalls at the level-0 stop limit", || {
        let s = db.stats();
        s.levels[0].files >= 4 && s.stalls > 0
    });
    // The writer is stopped now. The one write that passed flow control before the
    // fourth table appeared (it may have waited for that very flush, a memtable
    // stall that also counts in `stalls`) still completes; nothing after it does.
    let seen = acked.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    let stalled_at = acked.load(Ordering::SeqCst);
    assert!(
        stalled_at <= seen + 1,
        "writes go on: {seen} acknowledged at the stop limit, {stalled_at} later"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(acked.load(Ordering::SeqCst), stalled_at, "writes go on");
    assert!(stalled_at > 0);

    // Every acknowledged write becomes durable about one interval later, stall or
    // not: a power cut that keeps only synced data still has them all.
    std::thread::sleep(Duration::from_millis(200));
    let cut = Arc::new(fs.crash_with(CrashModel::Synced));
    {
        let recovered = Lsm::open_on(config.clone(), cut).unwrap();
        for i in 0..stalled_at as u32 {
            assert_eq!(
                recovered.get(&key(i)).unwrap(),
                Some(format!("v{i}").into_bytes()),
                "acknowledged write {i} of {stalled_at} was not synced by the interval syncer during the stall"
            );
        }
    }

    // Reads and syncs do not wait for the stalled writer.
    let last = stalled_at as u32 - 1;
    let got = returns_promptly("get", {
        let db = db.clone();
        move || db.get(&key(last)).unwrap()
    });
    assert_eq!(got, Some(format!("v{last}").into_bytes()));
    returns_promptly("sync", {
        let db = db.clone();
        move || db.sync().unwrap()
    });
    // A flush and a checkpoint go on too, and the checkpoint holds every write
    // acknowledged before the stall.
    returns_promptly("flush", {
        let db = db.clone();
        move || db.flush().unwrap()
    });
    returns_promptly("checkpoint", {
        let db = db.clone();
        move || db.checkpoint("cp").unwrap()
    });
    {
        let mut cp = config.clone();
        cp.directory = lsm::Directories::under(std::path::Path::new("cp"));
        let copy = Lsm::open_on(cp, fs.clone()).unwrap();
        for i in 0..stalled_at as u32 {
            assert_eq!(
                copy.get(&key(i)).unwrap(),
                Some(format!("v{i}").into_bytes()),
                "write {i} missing from the checkpoint taken during the stall"
            );
        }
    }

    stop.store(true, Ordering::SeqCst);
    hold.release();
    writer.join().unwrap();
    let n = acked.load(Ordering::SeqCst) as u32;
    let s = db.stats();
    assert!(s.stall_level0_micros > 0, "the stall was counted: {s}");
    assert!(s.longest_stall_micros > 0, "{s}");
    drop(db);
    let db = Lsm::open_on(config, fs).unwrap();
    for i in 0..n {
        assert_eq!(db.get(&key(i)).unwrap(), Some(format!("v{i}").into_bytes()));
    }
}

#[test]
fn a_slowdown_holds_writes_to_the_delayed_write_rate_without_stopping_them() {
    let fs = Arc::new(MemFs::new());
    let mut config = small(2);
    config.memtable.max_entries = 20;
    config.compaction.delayed_write_rate = 64 << 10;
    for (k, v) in [
        ("compaction.level0_file_trigger", "2"),
        ("compaction.level0_slowdown_files", "2"),
        ("compaction.level0_stop_files", "1000"),
    ] {
        config.set(k, v).unwrap();
    }
    let db = Lsm::open_on(config, fs).unwrap();
    let hold = Arc::new(Hold::default());
    hold.install(&db, |_| true);
    let value = vec![7u8; 1000];
    let mut i = 0;
    eventually("writes are delayed", || {
        for _ in 0..10 {
            db.put(&key(i), &value).unwrap();
            i += 1;
        }
        db.stats().slowdowns > 0
    });
    let s = db.stats();
    assert!(s.delay_micros > 0, "{s}");
    assert_eq!(s.stalls, 0, "a slowdown is not a stop: {s}");
    hold.release();
    for n in 0..i {
        assert_eq!(db.get(&key(n)).unwrap().as_deref(), Some(&value[..]));
    }
}
