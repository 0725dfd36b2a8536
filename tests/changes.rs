//! The change feed: `changes_since` replays into a second database exactly, purged
//! history is an error, `wal.retention` keeps flushed segments (across a reopen), and
//! a subscription misses nothing under concurrent writers.

use lsm::{ChangeKind, Config, Lsm, LsmError, WriteBatch};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn config(dir: &std::path::Path, retention: &str) -> Config {
    let mut c = Config::with_root(dir);
    c.set("wal.retention", retention).unwrap();
    // Small memtables: flushes (and with them retired segments) happen often.
    c.set("memtable.max_entries", "500").unwrap();
    c
}

fn contents(db: &Lsm) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter().map(|r| r.unwrap()).collect()
}

/// How many operations the feed holds from `seq` on.
fn ops_since(db: &Lsm, seq: u64) -> u64 {
    db.changes_since(seq)
        .unwrap()
        .map(|b| b.unwrap().ops().len() as u64)
        .sum()
}

/// Applies every change from `from` on to `dst`, returning the next seq to ask for.
fn replay(src: &Lsm, dst: &Lsm, from: u64) -> u64 {
    let mut next = from;
    for b in src.changes_since(from).unwrap() {
        let b = b.unwrap();
        assert!(b.seq() <= next, "batch {} after {next}: a gap", b.seq());
        assert!(b.last_seq() >= next);
        dst.write(b.to_write_batch(&[]).unwrap()).unwrap();
        next = b.last_seq() + 1;
    }
    next
}

#[test]
fn the_feed_replays_every_kind_of_write_into_an_equal_database() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = Lsm::open_with_config(config(a.path(), "1GiB")).unwrap();
    let dst = Lsm::open(b.path()).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut next = 1;
    for round in 0..20 {
        for _ in 0..300 {
            let k = format!("k{:04}", rng.random_range(0..2000)).into_bytes();
            match rng.random_range(0..10) {
                0 => {
                    src.delete(&k).unwrap();
                    model.remove(&k);
                }
                1 => {
                    let end = format!("k{:04}", rng.random_range(0..2000)).into_bytes();
                    if k < end {
                        src.delete_range(&k, &end).unwrap();
                        model.retain(|x: &Vec<u8>, _| x < &k || x >= &end);
                    }
                }
                2 => {
                    let mut wb = WriteBatch::new();
                    for i in 0..5u8 {
                        let mut k2 = k.clone();
                        k2.push(i);
                        wb.put(&k2, &[i; 3]);
                        model.insert(k2, vec![i; 3]);
                    }
                    src.write(wb).unwrap();
                }
                _ => {
                    let v = rng.random::<u64>().to_le_bytes().to_vec();
                    src.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
            }
        }
        if round % 7 == 3 {
            src.flush().unwrap();
        }
        next = replay(&src, &dst, next);
        assert_eq!(next, src.latest_sequence() + 1);
        let want: Vec<_> = model.clone().into_iter().collect();
        assert_eq!(contents(&src), want);
        assert_eq!(contents(&dst), want, "round {round}");
    }
    // Every operation is in the feed once, from the very first.
    assert_eq!(ops_since(&src, 1), src.latest_sequence());
    // And after a reopen (the flushed segments are kept, the open replays the rest).
    drop(src);
    let src = Lsm::open_with_config(config(a.path(), "1GiB")).unwrap();
    assert_eq!(ops_since(&src, 1), src.latest_sequence());
    src.put(b"after", b"reopen").unwrap();
    next = replay(&src, &dst, next);
    assert_eq!(next, src.latest_sequence() + 1);
    assert_eq!(contents(&src), contents(&dst));
}

#[test]
fn history_past_the_retention_is_changes_purged_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "0")).unwrap();
    for i in 0..2000u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
    }
    db.flush().unwrap();
    db.put(b"late", b"v").unwrap();
    let latest = db.latest_sequence();
    let e = db.changes_since(1).err().expect("purged history must fail");
    let LsmError::ChangesPurged { oldest } = e else {
        panic!("{e}")
    };
    assert!(
        oldest > 1 && oldest <= latest,
        "oldest {oldest} latest {latest}"
    );
    // From `oldest` on the feed is whole.
    let got: Vec<u64> = db
        .changes_since(oldest)
        .unwrap()
        .flat_map(|b| b.unwrap().ops().iter().map(|o| o.seq()).collect::<Vec<_>>())
        .collect();
    assert_eq!(got, (oldest..=latest).collect::<Vec<_>>());
    assert_eq!(
        db.changes_since(oldest - 1).err().map(|e| e.to_string()),
        Some(LsmError::ChangesPurged { oldest }.to_string())
    );
    // Past the end: nothing, no error.
    assert_eq!(db.changes_since(latest + 1).unwrap().count(), 0);
}

#[test]
fn a_size_retention_keeps_the_newest_flushed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "256KiB")).unwrap();
    let value = [7u8; 100];
    for i in 0..20_000u32 {
        db.put(&i.to_be_bytes(), &value).unwrap();
    }
    db.flush().unwrap();
    let latest = db.latest_sequence();
    let LsmError::ChangesPurged { oldest } = db.changes_since(1).err().unwrap() else {
        panic!()
    };
    // About 256 KiB of ~130-byte records are kept: whole segments of 500 of them.
    let kept = latest + 1 - oldest;
    assert!((1000..=2500).contains(&kept), "kept {kept} of {latest}");
    assert_eq!(ops_since(&db, oldest), kept);
}

#[test]
fn four_writers_and_a_consumer_end_equal_also_across_a_reopen() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dst = Arc::new(Lsm::open(b.path()).unwrap());
    let mut next = 1;
    for run in 0..2 {
        let src = Arc::new(Lsm::open_with_config(config(a.path(), "1GiB")).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4u32)
            .map(|w| {
                let src = src.clone();
                std::thread::spawn(move || {
                    for i in 0..1500u32 {
                        let k = format!("w{w}-{:03}", i % 400);
                        if i % 9 == 0 {
                            src.delete(k.as_bytes()).unwrap();
                        } else {
                            src.put(k.as_bytes(), format!("{run}-{i}").as_bytes())
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        let consumer = {
            let (src, dst, stop) = (src.clone(), dst.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = next;
                loop {
                    let done = stop.load(Ordering::Acquire);
                    next = replay(&src, &dst, next);
                    if done {
                        return next;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        next = consumer.join().unwrap();
        assert_eq!(next, src.latest_sequence() + 1);
        assert_eq!(contents(&src), contents(&dst), "run {run}");
    }
}

#[test]
fn a_subscription_misses_nothing_under_eight_writers() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Lsm::open_with_config(config(dir.path(), "0")).unwrap());
    db.put(b"user:before", b"x").unwrap();
    let mut sub = db.subscribe(b"user:").unwrap();
    const PER: u32 = 400;
    let writers: Vec<_> = (0..8u32)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    db.put(format!("user:{w}:{i}").as_bytes(), b"v").unwrap();
                    db.put(format!("other:{w}:{i}").as_bytes(), b"v").unwrap();
                }
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut last = 0;
    while seen.len() < (8 * PER) as usize {
        let b = sub
            .next_timeout(Duration::from_secs(30))
            .unwrap()
            .expect("a committed change did not arrive");
        assert!(b.seq() > last, "out of order: {} after {last}", b.seq());
        last = b.last_seq();
        for op in b.ops() {
            assert!(op.key().starts_with(b"user:"), "{:?}", op.key());
            assert_eq!(op.kind(), ChangeKind::Put);
            assert!(
                op.seq() <= db.latest_sequence(),
                "delivered before it was visible"
            );
            assert!(seen.insert(op.key().to_vec()), "twice: {:?}", op.key());
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(!seen.contains(&b"user:before"[..]));
    assert_eq!(sub.next_timeout(Duration::from_millis(50)).unwrap(), None);
    // A range delete over the prefix reaches it; one elsewhere does not.
    db.delete_range(b"a", b"b").unwrap();
    db.delete_range(b"user:0", b"user:1").unwrap();
    let b = sub.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(b.ops()[0].kind(), ChangeKind::DeleteRange);
    assert_eq!(b.ops()[0].end(), Some(&b"user:1"[..]));
    // Closing ends the subscription with an error, not a hang.
    let mut sub2 = db.subscribe(b"").unwrap();
    let db = Arc::try_unwrap(db).ok().unwrap();
    db.close().unwrap();
    assert!(matches!(
        sub2.next_timeout(Duration::from_secs(5)),
        Err(LsmError::Closed)
    ));
}

#[test]
fn subscribe_since_hands_out_history_then_live_each_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Lsm::open_with_config(config(dir.path(), "1GiB")).unwrap());
    for i in 0..300u32 {
        db.put(format!("k:{i:05}").as_bytes(), b"h").unwrap();
    }
    db.flush().unwrap();
    // Writers run while the subscription is made and reads its history, so batches
    // are committed on both sides of the moment it switches to the live queue.
    const WRITERS: u32 = 4;
    const PER: u32 = 500;
    let go = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, go) = (db.clone(), go.clone());
            std::thread::spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                for i in 0..PER {
                    let mut b = WriteBatch::new();
                    b.put(format!("w{w}:{i:05}").as_bytes(), b"live");
                    if i % 3 == 0 {
                        b.delete(format!("k:{i:05}").as_bytes());
                    }
                    db.write(b).unwrap();
                }
            })
        })
        .collect();
    go.store(true, Ordering::Release);
    let mut sub = db.subscribe_since(b"", 1).unwrap();
    let total = 300 + WRITERS * PER + WRITERS * PER.div_ceil(3);
    let mut next = 1;
    let mut ops = 0u32;
    while ops < total {
        let b = sub
            .next_timeout(Duration::from_secs(30))
            .unwrap()
            .expect("a committed batch did not arrive");
        assert_eq!(b.seq(), next, "a gap or a repeat");
        for (op, seq) in b.ops().iter().zip(b.seq()..) {
            assert_eq!(op.seq(), seq);
        }
        next = b.last_seq() + 1;
        ops += b.ops().len() as u32;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(ops, total);
    assert_eq!(next, db.latest_sequence() + 1);
    assert_eq!(sub.next_timeout(Duration::from_millis(50)).unwrap(), None);
    db.put(b"after", b"x").unwrap();
    let b = sub.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!((b.seq(), b.ops()[0].key()), (next, &b"after"[..]));

    // A prefix filters the history as it filters the live batches; a start in the
    // future hands out nothing before it.
    let mut sub = db.subscribe_since(b"w1:", 1).unwrap();
    let first = sub.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert!(first.ops().iter().all(|o| o.key().starts_with(b"w1:")));
    let from = db.latest_sequence() + 3;
    let mut later = db.subscribe_since(b"", from).unwrap();
    for k in [b"x1", b"x2", b"x3"] {
        db.put(k, b"v").unwrap();
    }
    let b = later.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!((b.seq(), b.ops()[0].key()), (from, &b"x3"[..]));
    assert_eq!(later.try_next().unwrap(), None);
}

#[test]
fn subscribe_since_of_purged_history_is_changes_purged_with_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "0")).unwrap();
    assert_eq!(db.oldest_change().unwrap(), 1);
    for i in 0..2000u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
    }
    db.flush().unwrap();
    db.put(b"late", b"v").unwrap();
    let oldest = db.oldest_change().unwrap();
    assert!(oldest > 1 && oldest <= db.latest_sequence(), "{oldest}");
    match db.subscribe_since(b"", 1) {
        Err(LsmError::ChangesPurged { oldest: o }) => assert_eq!(o, oldest),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("purged history must fail"),
    }
    let mut sub = db.subscribe_since(b"", oldest).unwrap();
    let b = sub.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(b.seq(), oldest);
}

#[test]
fn wal_retention_values_are_checked() {
    let mut c = Config::default();
    for good in ["0", "1GiB", "24h", "7d", "1GiB,24h", "500ms"] {
        c.set("wal.retention", good)
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["", "lots", "1GiB,2GiB", "24h,1h", "-1"] {
        let e = c.set("wal.retention", bad).unwrap_err();
        assert!(e.to_string().contains("wal.retention"), "{bad}: {e}");
    }
}
