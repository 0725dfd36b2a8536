//! Optimistic transactions: reads at a snapshot, read-your-writes, atomic commits,
//! conflicts on every kind of write to what was read (wherever the write lives by the
//! time of the commit), write skew, and a bank whose total never changes under
//! concurrent transfers, also across a reopen.

use lsm::{Config, Lsm, LsmError, Transaction, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn open(dir: &std::path::Path) -> Lsm {
    let mut c = Config::with_root(dir.join("db"));
    c.cache.persist_on_close = false;
    Lsm::open_with_config(c).unwrap()
}

fn all(db: &Lsm) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|r| r.unwrap()).collect()
}

#[test]
fn transaction_is_send() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Transaction>();
    assert_send::<lsm::TxIter>();
}

#[test]
fn reads_its_snapshot_and_its_own_writes_and_commits_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    let mut tx = db.transaction();
    db.put(b"c", b"3").unwrap(); // after the snapshot: not seen
    assert_eq!(tx.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(tx.get(b"c").unwrap(), None);
    tx.put(b"a", b"10");
    tx.delete(b"b");
    tx.put(b"d", b"4");
    assert_eq!(tx.get(b"a").unwrap().as_deref(), Some(&b"10"[..]));
    assert_eq!(tx.get(b"b").unwrap(), None);
    // Nothing is visible before the commit.
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"d").unwrap(), None);
    let seen: Vec<(Vec<u8>, Vec<u8>)> = tx.iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        seen,
        vec![
            (b"a".to_vec(), b"10".to_vec()),
            (b"d".to_vec(), b"4".to_vec())
        ]
    );
    assert_eq!(tx.len(), 3);
    // "c" was written after the snapshot, but only inside the iterated range... which
    // is everything: the commit conflicts.
    assert!(matches!(tx.commit(), Err(LsmError::Conflict)));
    assert_eq!(
        db.get(b"a").unwrap().as_deref(),
        Some(&b"1"[..]),
        "nothing applied"
    );

    let mut tx = db.transaction();
    assert_eq!(tx.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    tx.put(b"a", b"10");
    tx.delete(b"b");
    tx.put(b"d", b"4");
    tx.commit().unwrap();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = [("a", "10"), ("c", "3"), ("d", "4")]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(all(&db), want);

    // Uncommitted: discarded.
    let mut tx = db.transaction();
    tx.put(b"z", b"never");
    drop(tx);
    let mut tx = db.transaction();
    tx.put(b"z", b"never");
    tx.rollback();
    assert_eq!(db.get(b"z").unwrap(), None);

    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(all(&db), want, "committed transactions survive a reopen");
}

/// Every kind of write by someone else to a key the transaction read, made after it
/// began, makes its commit fail, wherever that write is by then: memtable, a flushed
/// table, or a compacted one.
#[test]
fn a_write_to_a_key_read_is_a_conflict_wherever_it_lives() {
    type Writer = fn(&Lsm);
    let writers: [(&str, Writer); 5] = [
        ("put", |db| db.put(b"k", b"other").unwrap()),
        ("same value", |db| db.put(b"k", b"v0").unwrap()),
        ("delete", |db| db.delete(b"k").unwrap()),
        ("delete_range", |db| db.delete_range(b"j", b"l").unwrap()),
        ("batch", |db| {
            let mut b = WriteBatch::new();
            b.put(b"x", b"1").delete(b"k");
            db.write(b).unwrap()
        }),
    ];
    for (name, write) in writers {
        for moved in ["memtable", "flushed", "compacted"] {
            let dir = tempfile::tempdir().unwrap();
            let db = open(dir.path());
            db.put(b"k", b"v0").unwrap();
            db.put(b"other", b"o").unwrap();
            let mut tx = db.transaction();
            assert!(tx.get(b"k").unwrap().is_some());
            tx.put(b"out", b"1");
            write(&db);
            match moved {
                "flushed" => db.flush().unwrap(),
                "compacted" => {
                    db.flush().unwrap();
                    db.compact().unwrap()
                }
                _ => {}
            }
            let r = tx.commit();
            assert!(
                matches!(r, Err(LsmError::Conflict)),
                "{name}, {moved}: {r:?}"
            );
            assert_eq!(db.get(b"out").unwrap(), None, "{name}, {moved}");
        }
    }
}

#[test]
fn writes_elsewhere_and_before_the_start_are_no_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"v0").unwrap();
    db.delete_range(b"a", b"c").unwrap();
    db.flush().unwrap();
    let mut tx = db.transaction();
    assert_eq!(tx.get(b"k").unwrap().as_deref(), Some(&b"v0"[..]));
    assert_eq!(tx.get(b"missing").unwrap(), None);
    let range: Vec<_> = tx.range(&b"p"[..]..&b"r"[..]).map(|r| r.unwrap()).collect();
    assert!(range.is_empty());
    // Outside the keys and the range read, and a range deletion that misses them.
    db.put(b"l", b"x").unwrap();
    db.put(b"r", b"x").unwrap();
    db.put(b"o", b"x").unwrap();
    db.delete_range(b"s", b"z").unwrap();
    db.flush().unwrap();
    db.put(b"kk", b"x").unwrap();
    // A blind write by both: not a conflict, the later commit wins.
    tx.put(b"blind", b"tx");
    db.put(b"blind", b"db").unwrap();
    tx.put(b"k", b"v1");
    tx.commit().unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(db.get(b"blind").unwrap().as_deref(), Some(&b"tx"[..]));
}

#[test]
fn a_write_into_a_range_read_is_a_conflict() {
    type Writer = fn(&Lsm);
    let cases: [(&str, Writer); 4] = [
        ("new key inside", |db| db.put(b"m5", b"x").unwrap()),
        ("delete of a key inside", |db| db.delete(b"m2").unwrap()),
        ("delete of a missing key inside", |db| {
            db.delete(b"m9").unwrap()
        }),
        ("range deletion meeting it", |db| {
            db.delete_range(b"a", b"m1").unwrap()
        }),
    ];
    for (name, write) in cases {
        for flushed in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = open(dir.path());
            for k in [&b"m1"[..], b"m2", b"m3"] {
                db.put(k, b"v").unwrap();
            }
            let mut tx = db.transaction();
            let n = tx.prefix(b"m").count();
            assert_eq!(n, 3);
            tx.put(b"count", n.to_string().as_bytes());
            write(&db);
            if flushed {
                db.flush().unwrap();
            }
            assert!(
                matches!(tx.commit(), Err(LsmError::Conflict)),
                "{name}, flushed {flushed}"
            );
            assert_eq!(db.get(b"count").unwrap(), None);
        }
    }
}

#[test]
fn write_skew_is_impossible_with_keys_and_with_ranges() {
    // Two on-call doctors; each transaction lets one go off call if the other is on.
    for by_range in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.put(b"oncall/alice", b"1").unwrap();
        db.put(b"oncall/bob", b"1").unwrap();
        let on_call = |tx: &mut Transaction| -> usize {
            if by_range {
                tx.prefix(b"oncall/")
                    .filter(|r| r.as_ref().unwrap().1 == b"1")
                    .count()
            } else {
                [&b"oncall/alice"[..], b"oncall/bob"]
                    .iter()
                    .filter(|k| tx.get(k).unwrap().as_deref() == Some(&b"1"[..]))
                    .count()
            }
        };
        let mut t1 = db.transaction();
        let mut t2 = db.transaction();
        assert_eq!(on_call(&mut t1), 2);
        assert_eq!(on_call(&mut t2), 2);
        t1.put(b"oncall/alice", b"0");
        t2.put(b"oncall/bob", b"0");
        t1.commit().unwrap();
        assert!(
            matches!(t2.commit(), Err(LsmError::Conflict)),
            "range {by_range}"
        );
        let mut check = db.transaction();
        assert_eq!(on_call(&mut check), 1, "someone is still on call");
    }
}

#[test]
fn iteration_merges_own_writes_like_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut rng = StdRng::seed_from_u64(7);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let key = |n: u32| format!("k{n:03}").into_bytes();
    for round in 0..40 {
        let mut tx = db.transaction();
        let mut view = model.clone();
        for _ in 0..rng.random_range(1..30) {
            let k = key(rng.random_range(0..200));
            match rng.random_range(0..4) {
                0 => {
                    tx.delete(&k);
                    view.remove(&k);
                }
                1 => assert_eq!(tx.get(&k).unwrap(), view.get(&k).cloned()),
                _ => {
                    let v = format!("r{round}").into_bytes();
                    tx.put(&k, &v);
                    view.insert(k, v);
                }
            }
        }
        let lo = key(rng.random_range(0..200));
        let hi = key(rng.random_range(0..200));
        let got: Vec<_> = tx
            .range(lo.clone()..hi.clone())
            .map(|r| r.unwrap())
            .collect();
        let want: Vec<_> = if lo < hi {
            view.range(lo..hi)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            Vec::new()
        };
        assert_eq!(got, want, "round {round}");
        let everything: BTreeMap<_, _> = tx.iter().map(|r| r.unwrap()).collect();
        assert_eq!(everything, view, "round {round}");
        if rng.random_range(0..3) == 0 {
            drop(tx);
        } else {
            tx.commit().unwrap();
            model = view;
        }
        if round % 10 == 9 {
            db.flush().unwrap();
        }
        assert_eq!(all(&db), model, "round {round}");
    }
}

#[test]
fn transact_retries_conflicts_so_no_increment_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"n", b"0").unwrap();
    let conflicts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            let conflicts = conflicts.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let mut attempts = 0;
                    // More attempts than `transact` makes, to count conflicts here.
                    loop {
                        attempts += 1;
                        let mut tx = db.transaction();
                        let n: u64 = std::str::from_utf8(&tx.get(b"n").unwrap().unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        tx.put(b"n", (n + 1).to_string().as_bytes());
                        match tx.commit() {
                            Ok(()) => break,
                            Err(LsmError::Conflict) => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                                assert!(attempts < 10_000);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(db.get(b"n").unwrap().as_deref(), Some(&b"800"[..]));

    // `transact` itself: it retries, and gives up with Conflict only after its bound.
    let db2 = db.clone();
    let out = db
        .transact(|tx| {
            let v = tx.get(b"n")?;
            tx.put(b"n", b"801");
            Ok(v)
        })
        .unwrap();
    assert_eq!(out.as_deref(), Some(&b"800"[..]));
    let mut runs = 0;
    let r = db.transact(|tx| {
        runs += 1;
        tx.get(b"n")?;
        db2.put(b"n", b"moved").unwrap(); // always conflicts
        tx.put(b"n", b"mine");
        Ok(())
    });
    assert!(matches!(r, Err(LsmError::Conflict)));
    assert_eq!(runs, lsm::transaction::TRANSACT_ATTEMPTS);
    assert_eq!(db.get(b"n").unwrap().as_deref(), Some(&b"moved"[..]));
    // Other errors are not retried.
    let mut runs = 0;
    let r: lsm::Result<()> = db.transact(|_| {
        runs += 1;
        Err(LsmError::InvalidArgument("no".into()))
    });
    assert!(matches!(r, Err(LsmError::InvalidArgument(_))));
    assert_eq!(runs, 1);
}

const ACCOUNTS: u32 = 100;
const START: u64 = 1000;

fn account(i: u32) -> Vec<u8> {
    format!("acct/{i:03}").into_bytes()
}

/// Even accounts live in the keyspace "checking", odd ones in "savings".
fn home(i: u32) -> &'static str {
    if i.is_multiple_of(2) {
        "checking"
    } else {
        "savings"
    }
}

/// The sum of every account in both keyspaces, read from one snapshot.
fn total(db: &Lsm) -> u64 {
    let snap = db.snapshot();
    let parse = |r: lsm::Result<(Vec<u8>, Vec<u8>)>| {
        let (_, v) = r.unwrap();
        std::str::from_utf8(&v).unwrap().parse::<u64>().unwrap()
    };
    let mut sum = 0;
    let mut n = 0;
    for name in ["checking", "savings"] {
        let ks = db.keyspace(name).unwrap();
        for v in snap.prefix_in(&ks, b"acct/").map(parse) {
            sum += v;
            n += 1;
        }
    }
    assert_eq!(n, ACCOUNTS, "every account is there");
    sum
}

/// 8 threads move money between 100 accounts in two keyspaces with `transact` for a
/// while; every snapshot taken meanwhile has the same total, and so does the
/// database after a reopen, and the one a power cut in the middle of the transfers
/// leaves (a cut copy of the file system, torn unsynced tails included).
/// `LSM_BANK_SECONDS` makes it run longer (10 s by default).
#[test]
fn bank_transfers_across_keyspaces_keep_the_total_in_every_snapshot_a_power_cut_and_a_reopen() {
    let seconds: u64 = std::env::var("LSM_BANK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let fs = lsm::fs::MemFs::new();
    let mut c = Config::with_root("db");
    c.cache.persist_on_close = false;
    // Small memtables: transfers straddle flushes and compactions.
    c.memtable.max_bytes = 64 << 10;
    c.compaction.level0_file_trigger = 2;
    c.compaction.base_level_bytes = 256 << 10;
    c.compaction.target_file_bytes = 64 << 10;
    let db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).unwrap();
    let mut b = WriteBatch::new();
    let checking = db.keyspace("checking").unwrap();
    let savings = db
        .keyspace_with("savings", |o| o.set("memtable.max_bytes", "32KiB"))
        .unwrap();
    for i in 0..ACCOUNTS {
        let ks = if home(i) == "checking" {
            &checking
        } else {
            &savings
        };
        b.put_in(ks, &account(i), START.to_string().as_bytes());
    }
    db.write(b).unwrap();
    db.sync().unwrap();
    let want = u64::from(ACCOUNTS) * START;

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let (db, stop, done) = (db.clone(), stop.clone(), done.clone());
            let spaces = [checking.clone(), savings.clone()];
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                while !stop.load(Ordering::Relaxed) {
                    let from = rng.random_range(0..ACCOUNTS);
                    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    let amount = rng.random_range(1..50u64);
                    let ks = |i: u32| &spaces[(i % 2) as usize];
                    let r = db.transact(|tx| {
                        let read = |tx: &mut Transaction, i: u32| -> lsm::Result<u64> {
                            let v = tx
                                .get_in(ks(i), &account(i))?
                                .expect("accounts are never deleted");
                            Ok(std::str::from_utf8(&v).unwrap().parse().unwrap())
                        };
                        let a = read(&mut *tx, from)?;
                        let b = read(&mut *tx, to)?;
                        if a >= amount {
                            tx.put_in(
                                ks(from),
                                &account(from),
                                (a - amount).to_string().as_bytes(),
                            );
                            tx.put_in(ks(to), &account(to), (b + amount).to_string().as_bytes());
                        }
                        Ok(())
                    });
                    match r {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        // Ten conflicts in a row can happen under contention.
                        Err(LsmError::Conflict) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut snapshots = 0;
    let mut cut = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        assert_eq!(total(&db), want, "a snapshot during the transfers");
        snapshots += 1;
        if cut.is_none() && started.elapsed() > Duration::from_secs(seconds) / 2 {
            // The power goes out now, in the middle of the transfers.
            cut = Some(fs.crash(Some(snapshots)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(done.load(Ordering::Relaxed) > 100, "transfers ran");
    assert!(snapshots > 10);
    assert_eq!(total(&db), want);
    drop((checking, savings));
    db.close().unwrap();
    let db = Lsm::open_on(c.clone(), Arc::new(fs)).unwrap();
    assert_eq!(total(&db), want, "after a reopen");
    db.verify().unwrap();
    db.close().unwrap();
    let cut = cut.expect("the power cut happened");
    let db = Lsm::open_on(c, Arc::new(cut)).unwrap();
    assert_eq!(total(&db), want, "after the power cut");
    db.verify().unwrap();
}

#[test]
fn a_transaction_of_a_closed_database_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"k", b"v").unwrap();
    let mut tx = db.transaction();
    tx.put(b"k", b"w");
    db.close().unwrap();
    assert!(matches!(tx.get(b"other"), Err(LsmError::Closed)));
    assert!(matches!(tx.commit(), Err(LsmError::Closed)));
    let tx = db.transaction();
    assert!(matches!(tx.commit(), Err(LsmError::Closed)));
}
