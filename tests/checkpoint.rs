//! Checkpoints of a database under concurrent writes are consistent copies: each holds,
//! for every writer thread, an unbroken prefix of what that thread wrote (and each of
//! its batches whole), at least every write acknowledged before the checkpoint began
//! and nothing acknowledged after it ended; and each opens and verifies on its own.

use lsm::{Config, Lsm, LsmError, WriteBatch};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

const THREADS: usize = 4;
const CHECKPOINTS: usize = 6;
/// Writes per thread between checkpoints (progress, not time, paces the test).
const STEP: u64 = 400;
/// Each thread's upper bound, so the test ends even if checkpoints stall.
const MAX_WRITES: u64 = 20_000;

fn item_key(t: usize, n: u64) -> Vec<u8> {
    format!("t{t}/item/{n:08}").into_bytes()
}

fn counter_key(t: usize) -> Vec<u8> {
    format!("t{t}/counter").into_bytes()
}

fn item_value(t: usize, n: u64) -> Vec<u8> {
    format!("{t}:{n}:{}", "v".repeat((n % 64) as usize)).into_bytes()
}

fn config(root: &Path) -> Config {
    let mut c = Config::with_root(root);
    c.memtable.max_entries = 300;
    c
}

/// Runs `f` on another thread; panics if it does not finish within a minute (a hang
/// guard against deadlocks, with a margin far beyond any legitimate run time).
fn guarded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not return within 60 s: deadlock"))
}

/// For each thread, how many writes the database at `root` holds; asserts they are
/// whole and form a prefix.
fn writes_held(db: &Lsm, what: &str) -> [u64; THREADS] {
    let mut held = [0u64; THREADS];
    for (t, h) in held.iter_mut().enumerate() {
        let prefix = format!("t{t}/item/").into_bytes();
        let mut n = 0u64;
        for item in db.prefix(&prefix) {
            let (k, v) = item.unwrap_or_else(|e| panic!("{what}: iteration: {e}"));
            assert_eq!(
                k,
                item_key(t, n),
                "{what}: thread {t} has a hole before write {n}"
            );
            assert_eq!(
                v,
                item_value(t, n),
                "{what}: thread {t} write {n} has a wrong value"
            );
            n += 1;
        }
        // The counter travels in the same batch as the item: both or neither.
        let counter = db.get(&counter_key(t)).unwrap();
        let want = n.checked_sub(1).map(|last| last.to_string().into_bytes());
        assert_eq!(counter, want, "{what}: thread {t}: half a batch");
        if n > 0 {
            assert_eq!(
                db.get(&item_key(t, n - 1)).unwrap(),
                Some(item_value(t, n - 1))
            );
        }
        assert_eq!(db.get(&item_key(t, n)).unwrap(), None);
        *h = n;
    }
    held
}

#[test]
fn checkpoints_under_concurrent_writes_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = Lsm::open_with_config(config(&root)).unwrap();
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            let acked = acked.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for n in 0..MAX_WRITES {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut b = WriteBatch::new();
                    b.put(&item_key(t, n), &item_value(t, n));
                    b.put(&counter_key(t), n.to_string().as_bytes());
                    db.write(b).unwrap();
                    acked[t].store(n + 1, Ordering::Release);
                }
            })
        })
        .collect();

    let load = |a: &Vec<AtomicU64>| -> [u64; THREADS] {
        std::array::from_fn(|t| a[t].load(Ordering::Acquire))
    };
    let mut taken: Vec<(PathBuf, [u64; THREADS], [u64; THREADS])> = Vec::new();
    for i in 0..CHECKPOINTS {
        // Wait for progress: every thread at least `STEP` more writes (or done).
        let target = (i as u64 + 1) * STEP;
        while load(&acked).iter().any(|&n| n < target.min(MAX_WRITES)) {
            for (t, w) in writers.iter().enumerate() {
                let early = w.is_finished() && acked[t].load(Ordering::Acquire) < MAX_WRITES;
                assert!(!early, "writer {t} stopped early (see its panic)");
            }
            thread::yield_now();
        }
        let ck = dir.path().join(format!("ckpt{i}"));
        let before = load(&acked);
        let (d, c) = (db.clone(), ck.clone());
        guarded("checkpoint", move || d.checkpoint(&c))
            .unwrap_or_else(|e| panic!("checkpoint {i}: {e}"));
        let after = load(&acked);
        if i == 0 {
            // A checkpoint opens while its source is still being written.
            let c = Lsm::open_with_config(config(&ck)).unwrap();
            let held = writes_held(&c, "checkpoint 0 (source live)");
            assert!((0..THREADS).all(|t| held[t] >= before[t] && held[t] <= after[t] + 1));
            c.verify().unwrap();
            c.close().unwrap();
        }
        taken.push((ck, before, after));
    }

    // A checkpoint never goes into an existing directory (or file).
    let existing = dir.path().join("ckpt0");
    match db.checkpoint(&existing) {
        Err(LsmError::InvalidArgument(_)) => {}
        other => panic!("checkpoint into an existing directory: {other:?}"),
    }
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        db.checkpoint(&file),
        Err(LsmError::InvalidArgument(_))
    ));

    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let final_acked = load(&acked);
    let held = writes_held(&db, "source");
    assert_eq!(held, final_acked, "the source lost acknowledged writes");
    let flushes = db.stats().flushes;
    eprintln!("{final_acked:?} writes per thread, {flushes} flushes");
    assert!(
        flushes > CHECKPOINTS as u64,
        "too few flushes to test anything"
    );
    db.close().unwrap();

    let mut previous = [0u64; THREADS];
    for (i, (ck, before, after)) in taken.iter().enumerate() {
        let what = format!("checkpoint {i}");
        let c = Lsm::open_with_config(config(ck)).unwrap_or_else(|e| panic!("{what}: open: {e}"));
        let held = writes_held(&c, &what);
        for t in 0..THREADS {
            assert!(
                held[t] >= before[t],
                "{what}: thread {t}: {} writes acknowledged before the checkpoint, {} in it",
                before[t],
                held[t]
            );
            // At most the write in flight when the checkpoint finished.
            assert!(
                held[t] <= after[t] + 1,
                "{what}: thread {t}: holds {} writes, only {} acknowledged when it returned",
                held[t],
                after[t]
            );
            assert!(
                held[t] >= previous[t],
                "{what}: older than the checkpoint before it"
            );
        }
        previous = held;
        let report = c.verify().unwrap_or_else(|e| panic!("{what}: verify: {e}"));
        assert!(!report.files.is_empty());
        // The copy is a database of its own: writable, and durable across reopen.
        c.put(b"only-in-checkpoint", i.to_string().as_bytes())
            .unwrap();
        c.close().unwrap();
        let c = Lsm::open_with_config(config(ck)).unwrap();
        assert_eq!(
            c.get(b"only-in-checkpoint").unwrap(),
            Some(i.to_string().into_bytes())
        );
        assert_eq!(writes_held(&c, &what), held);
        c.close().unwrap();
    }
    // Writing to the checkpoints did not touch the source (hard-linked tables are
    // immutable).
    let db = Lsm::open_with_config(config(&root)).unwrap();
    assert_eq!(db.get(b"only-in-checkpoint").unwrap(), None);
    assert_eq!(writes_held(&db, "source after checkpoints"), final_acked);
    db.verify().unwrap();
}

/// Regression: checkpoint()/verify() used to deadlock with a writer stalled in
/// make_room (deletion lock -> WAL lock, against WAL lock -> waiting for a flush ->
/// deletion lock). Deletions now wait on pins instead of a lock.
#[test]
fn checkpoint_during_a_write_stall_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut c = Config::with_root(&root);
    // Tiny memtables and a single immutable slot: writers stall all the time.
    c.memtable.max_entries = 8;
    c.memtable.max_immutable = 1;
    let db = Lsm::open_with_config(c).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    db.put(&item_key(t, n), &item_value(t, n)).unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    for i in 0..150 {
        let d = db.clone();
        let ck = dir.path().join(format!("ck{i}"));
        if i % 2 == 0 {
            guarded("checkpoint during a write stall", move || d.checkpoint(&ck)).unwrap();
        } else {
            guarded("verify during a write stall", move || {
                d.verify().map(|_| ())
            })
            .unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        db.stats().stalls > 0,
        "no write stall happened: the test proves nothing"
    );
}
