//! `get_pinned` and `multi_get`: a pinned value is borrowed from where the value
//! lives (memtable, block) and stays valid and unchanged across overwrites, flushes,
//! compactions, cache eviction and close; `multi_get` reads every key at one point.

use lsm::{Config, Lsm, WriteBatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_root(dir.join("db"));
    // No key cache: a get must reach the memtable or a block.
    c.cache.key_cache_entries = 0;
    c
}

/// Where a pinned value borrows from, as its `Debug` says.
fn source(v: &lsm::PinnedValue) -> String {
    let d = format!("{v:?}");
    let at = d.find("from: \"").expect("a source in Debug") + 7;
    d[at..].split('"').next().unwrap_or_default().to_string()
}

/// The value of key `k` in round `r`: both spelled out, so a reader can check it.
fn value(k: u32, r: u32) -> Vec<u8> {
    let mut v = format!("{k:04}:{r:06}:").into_bytes();
    v.resize(300, b'a' + (r % 26) as u8);
    v
}

/// True when `v` is a value written for key `k` in some round.
fn valid(k: u32, v: &[u8]) -> bool {
    let r: Option<u32> = std::str::from_utf8(&v[5..11])
        .ok()
        .and_then(|r| r.parse().ok());
    r.is_some_and(|r| v == value(k, r).as_slice())
}

#[test]
fn a_pinned_value_borrows_and_outlives_overwrites_flushes_compactions_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // A block cache of a few blocks: the pinned block is evicted by the reads below.
    cfg.cache.block_cache_bytes = 64 << 10;
    let db = Lsm::open_with_config(cfg).unwrap();
    let big = vec![7u8; 3000];
    db.put(b"m", &big).unwrap();
    let from_mem = db.get_pinned(b"m").unwrap().unwrap();
    assert_eq!(source(&from_mem), "memtable", "zero-copy from the memtable");

    db.flush().unwrap();
    let from_block = db.get_pinned(b"m").unwrap().unwrap();
    assert_eq!(source(&from_block), "block", "zero-copy from a data block");

    // Overwrite, flush, compact away the tables both came from, and churn the block
    // cache so the pinned block is no longer in it.
    db.put(b"m", b"newer").unwrap();
    for i in 0..2000u32 {
        db.put(format!("fill{i:05}").as_bytes(), &[i as u8; 200])
            .unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    for i in (0..2000u32).step_by(7) {
        db.get(format!("fill{i:05}").as_bytes()).unwrap();
    }
    assert_eq!(db.get(b"m").unwrap().as_deref(), Some(&b"newer"[..]));
    assert_eq!(&from_mem[..], &big[..]);
    assert_eq!(&from_block[..], &big[..]);

    let clone = from_block.clone();
    db.close().unwrap();
    drop(db);
    assert_eq!(&from_mem[..], &big[..], "after close");
    assert_eq!(from_block.to_vec(), big, "after close");
    assert_eq!(clone, from_block);
}

#[test]
fn an_expiring_value_is_pinned_without_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path())).unwrap();
    db.put_with_ttl(b"t", b"session", std::time::Duration::from_secs(3600))
        .unwrap();
    let v = db.get_pinned(b"t").unwrap().unwrap();
    assert_eq!(&v[..], b"session");
    assert_eq!(source(&v), "memtable");
    db.flush().unwrap();
    let v = db.get_pinned(b"t").unwrap().unwrap();
    assert_eq!(&v[..], b"session");
    assert_eq!(source(&v), "block");
}

/// Readers pin values while a writer overwrites, flushes and compacts: every pinned
/// value must be one that was written for its key, and stay so while it is held.
#[test]
fn pinned_values_stay_intact_under_concurrent_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memtable.max_bytes = 256 << 10;
    cfg.cache.block_cache_bytes = 128 << 10;
    let db = Lsm::open_with_config(cfg).unwrap();
    for k in 0..200 {
        db.put(format!("{k:04}").as_bytes(), &value(k, 0)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held: Vec<(u32, lsm::PinnedValue)> = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = ((n * 37 + t * 11) % 200) as u32;
                    let v = db
                        .get_pinned(format!("{k:04}").as_bytes())
                        .unwrap()
                        .unwrap();
                    assert!(valid(k, &v), "a pinned value of {k} is not one written");
                    held.push((k, v));
                    if held.len() > 64 {
                        held.remove(0);
                    }
                    for (k, v) in &held {
                        assert!(valid(*k, v), "a held pinned value of {k} changed");
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for r in 1..=30 {
        for k in 0..200 {
            db.put(format!("{k:04}").as_bytes(), &value(k, r)).unwrap();
        }
        if r % 5 == 0 {
            db.compact().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert!(db.stats().flushes > 5, "the writer flushed meanwhile");
}

/// A writer keeps keys `a` and `b` equal with one batch per change; a reader's
/// `multi_get` of both must never see them differ (one view, one sequence number).
#[test]
fn multi_get_reads_every_key_at_one_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memtable.max_bytes = 64 << 10;
    let db = Lsm::open_with_config(cfg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let got = db.multi_get(&[&b"b"[..], b"zz-missing", b"a"]).unwrap();
                assert_eq!(got[1], None);
                assert_eq!(got[0], got[2], "a batch seen half-applied");
                seen += 1;
            }
            seen
        })
    };
    let filler = vec![0u8; 500];
    for i in 0..20_000u32 {
        let v = i.to_le_bytes();
        let mut b = WriteBatch::new();
        b.put(b"a", &v).put(b"b", &v).put(&i.to_be_bytes(), &filler);
        db.write(b).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert!(db.stats().flushes > 2);
    // The snapshot form reads at the snapshot.
    let snap = db.snapshot();
    db.put(b"a", b"later").unwrap();
    let got = snap.multi_get(&[b"a", b"b"]).unwrap();
    assert_eq!(got[0], got[1]);
    assert_eq!(
        db.multi_get(&[b"a"]).unwrap()[0].as_deref(),
        Some(&b"later"[..])
    );
    assert!(db.multi_get::<&[u8]>(&[]).unwrap().is_empty());
}
