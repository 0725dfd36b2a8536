//! Many threads reading and writing one database at once, through clones of one handle.

use lsm::{Config, Lsm, WriteBatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Reader threads that each run their check in a loop until [`Readers::finish`].
struct Readers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

/// Starts `n` readers of `db`; reader `r` runs `make(r)` over and over.
fn readers<F: FnMut(&Lsm) + Send + 'static>(db: &Lsm, n: u32, make: impl Fn(u32) -> F) -> Readers {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|r| {
            let (db, stop, mut read) = (db.clone(), stop.clone(), make(r));
            std::thread::spawn(move || {
                let mut runs = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    read(&db);
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    Readers { stop, threads }
}

impl Readers {
    /// Stops the readers and returns how many checks each ran (a reader's failed
    /// assertion fails the test here).
    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn handle_is_send_sync_and_clone() {
    assert_send_sync_clone::<Lsm>();
}

#[test]
fn eight_writers_and_readers_see_their_own_writes_and_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = 500; // flushes happen during the run
    let db = Lsm::open_with_config(cfg.clone()).unwrap();

    // Readers: a batch writes the same value under "pair/a" and "pair/b"; any reader,
    // at any moment, must see both equal (batches are atomic to readers).
    let readers = readers(&db, 2, |_| {
        |db: &Lsm| {
            let snap = db.snapshot();
            let a = snap.get(b"pair/a").unwrap();
            let b = snap.get(b"pair/b").unwrap();
            assert_eq!(a, b, "a reader saw half a batch");
            let items: Vec<_> = snap.prefix(b"pair/").map(|r| r.unwrap().1).collect();
            assert!(items.is_empty() || (items.len() == 2 && items[0] == items[1]));
        }
    });

    let writers: Vec<_> = (0..8u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..1500u32 {
                    let k = format!("t{t}/{i:05}");
                    db.put(k.as_bytes(), &i.to_le_bytes()).unwrap();
                    assert_eq!(
                        db.get(k.as_bytes()).unwrap(),
                        Some(i.to_le_bytes().to_vec())
                    );
                    if i % 3 == 0 {
                        db.delete(k.as_bytes()).unwrap();
                    }
                    if i % 50 == 0 {
                        let v = format!("{t}:{i}");
                        let mut b = WriteBatch::new();
                        b.put(b"pair/a", v.as_bytes()).put(b"pair/b", v.as_bytes());
                        db.write(b).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        readers.finish().iter().all(|&n| n > 0),
        "a reader never ran"
    );

    let check = |db: &Lsm| {
        for t in 0..8u32 {
            let got: Vec<_> = db
                .prefix(format!("t{t}/").as_bytes())
                .map(|r| r.unwrap())
                .collect();
            let want: Vec<_> = (0..1500u32)
                .filter(|i| i % 3 != 0)
                .map(|i| {
                    (
                        format!("t{t}/{i:05}").into_bytes(),
                        i.to_le_bytes().to_vec(),
                    )
                })
                .collect();
            assert_eq!(got, want, "thread {t}'s keys");
        }
    };
    check(&db);
    assert!(db.stats().flushes > 0);
    db.close().unwrap();
    let db = Lsm::open_with_config(cfg).unwrap();
    check(&db);
}

/// Keys that exist from start to end are overwritten by writers while flushes and
/// compactions (background and on request) run: a get must never find one missing.
/// Guards the read path's order (view first, then the sequence number).
#[test]
fn gets_never_miss_keys_that_always_exist_while_they_are_overwritten_and_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = 200;
    cfg.cache.key_cache_entries = 0; // every get goes to the memtables and tables
    for (k, v) in [
        ("compaction.base_level_bytes", "16KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "8KiB"),
        ("compaction.level0_file_trigger", "2"),
    ] {
        cfg.set(k, v).unwrap();
    }
    let db = Lsm::open_with_config(cfg).unwrap();
    const KEYS: u32 = 64;
    for k in 0..KEYS {
        db.put(format!("k{k:03}").as_bytes(), b"0").unwrap();
    }
    let readers = readers(&db, 3, |r| {
        let mut k = r;
        move |db: &Lsm| {
            let key = format!("k{:03}", k % KEYS);
            assert!(db.get(key.as_bytes()).unwrap().is_some(), "{key} missing");
            k = k.wrapping_mul(31).wrapping_add(7);
        }
    });
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for round in 1..=150u32 {
                for k in 0..KEYS {
                    db.put(format!("k{k:03}").as_bytes(), &round.to_le_bytes())
                        .unwrap();
                }
                if round % 25 == 0 {
                    db.compact().unwrap();
                }
            }
        })
    };
    writer.join().unwrap();
    let gets: u64 = readers.finish().iter().sum();
    assert!(gets > 1000, "only {gets} gets ran");
    assert!(
        db.stats().compactions > 0,
        "no compaction ran during the reads"
    );
}

/// Writers insert into the memtables after they leave the WAL lock, several at once,
/// and publish in sequence-number order. A snapshot must therefore be complete when
/// taken: every write at or below its sequence number is in place, so reading it twice
/// gives the same answer, however long the reader takes, while memtables fill and
/// switch underneath. A write published before its insert (or before an earlier
/// group's) shows up as a key appearing in the second read.
#[test]
fn a_snapshot_reads_the_same_twice_while_writers_insert_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = 700; // switches and flushes during the run
    let db = Lsm::open_with_config(cfg).unwrap();
    let readers = readers(&db, 2, |_| {
        |db: &Lsm| {
            let snap = db.snapshot();
            let first: Vec<_> = snap.iter().map(|r| r.unwrap()).collect();
            std::thread::yield_now();
            let second: Vec<_> = snap.iter().map(|r| r.unwrap()).collect();
            assert!(first == second, "a snapshot changed under its reader");
            for (k, v) in &first {
                assert_eq!(snap.get(k).unwrap().as_ref(), Some(v), "get vs scan");
            }
        }
    });
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..4000u32 {
                    let k = format!("w{t}/{:03}", i % 150);
                    if i % 7 == 0 {
                        let mut b = WriteBatch::new();
                        b.put(k.as_bytes(), &i.to_le_bytes())
                            .delete(format!("w{t}/{:03}", (i + 1) % 150).as_bytes());
                        db.write(b).unwrap();
                    } else {
                        db.put(k.as_bytes(), &i.to_le_bytes()).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        readers.finish().iter().all(|&n| n > 0),
        "a reader never ran"
    );
    // Each writer's keys are its own: a model per writer, applied in its order.
    for t in 0..4u32 {
        let mut model = std::collections::BTreeMap::new();
        for i in 0..4000u32 {
            let k = format!("w{t}/{:03}", i % 150).into_bytes();
            model.insert(k, i.to_le_bytes().to_vec());
            if i % 7 == 0 {
                model.remove(format!("w{t}/{:03}", (i + 1) % 150).as_bytes());
            }
        }
        let got: Vec<_> = db
            .prefix(format!("w{t}/").as_bytes())
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, model.into_iter().collect::<Vec<_>>(), "writer {t}");
    }
}
