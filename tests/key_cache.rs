//! The key cache: warm after a clean restart, never stale, cold when its file is bad.

use lsm::{Config, Lsm};
use std::path::Path;

fn cfg(root: &Path) -> Config {
    let mut c = Config::with_root(root);
    c.set("cache.key_cache_entries", "1000").unwrap();
    c
}

#[test]
fn hot_keys_are_hits_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(&dir.path().join("db"));
    let db = Lsm::open_with_config(c.clone()).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    // Hot: read twice (the cache admits a key on its second miss).
    for _ in 0..2 {
        for i in 0..10u32 {
            db.get(format!("k{i}").as_bytes()).unwrap();
        }
    }
    assert_eq!(db.stats().key_cache_entries, 10);
    db.close().unwrap();
    assert!(dir.path().join("db/cache").exists());

    let db = Lsm::open_with_config(c).unwrap();
    assert_eq!(db.stats().key_cache_entries, 10);
    for i in 0..10u32 {
        assert_eq!(
            db.get(format!("k{i}").as_bytes()).unwrap(),
            Some(i.to_le_bytes().to_vec())
        );
    }
    let s = db.stats();
    assert_eq!((s.key_cache_hits, s.key_cache_misses), (10, 0));
}

#[test]
fn writes_are_never_shadowed_by_the_cache_also_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(&dir.path().join("db"));
    let db = Lsm::open_with_config(c.clone()).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"1").unwrap();
    db.put(b"c", b"1").unwrap();
    db.put(b"d", b"1").unwrap();
    for k in [b"a", b"b", b"c", b"d", b"a", b"b", b"c", b"d"] {
        db.get(k).unwrap();
    }
    assert_eq!(db.stats().key_cache_entries, 4);
    db.put(b"a", b"2").unwrap();
    db.delete(b"b").unwrap();
    let mut batch = lsm::WriteBatch::new();
    batch.put(b"c", b"2");
    db.write(batch).unwrap();
    assert_eq!(db.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"c").unwrap(), Some(b"2".to_vec()));
    db.delete_range(b"d", b"e").unwrap();
    assert_eq!(db.get(b"d").unwrap(), None);
    db.close().unwrap();

    // Reopen, cache "a", then change it through a second session that skips the cache
    // file (persist_on_close = false) -- the saved file is now stale.
    let db = Lsm::open_with_config(c.clone()).unwrap();
    for _ in 0..3 {
        assert_eq!(db.get(b"a").unwrap(), Some(b"2".to_vec()));
    }
    assert_eq!(
        db.stats().key_cache_hits,
        1,
        "cached on the second read, hit on the third"
    );
    db.close().unwrap();
    let mut no_persist = c.clone();
    no_persist.set("cache.persist_on_close", "false").unwrap();
    let db = Lsm::open_with_config(no_persist).unwrap();
    db.put(b"a", b"3").unwrap();
    db.close().unwrap();
    let db = Lsm::open_with_config(c).unwrap();
    assert_eq!(
        db.stats().key_cache_entries,
        0,
        "a stale cache file must not load"
    );
    assert_eq!(db.get(b"a").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_damaged_cache_file_means_a_cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let c = cfg(&root);
    let db = Lsm::open_with_config(c.clone()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.get(b"k").unwrap();
    db.get(b"k").unwrap();
    db.close().unwrap();
    let db = Lsm::open_with_config(c.clone()).unwrap();
    assert_eq!(db.stats().key_cache_entries, 1, "the intact file loads");
    db.close().unwrap();
    let file = root.join("cache");
    let good = std::fs::read(&file).unwrap();
    let damaged: Vec<Vec<u8>> = vec![
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        b"garbage, not a cache file".to_vec(),
        {
            let mut g = good.clone();
            let mid = g.len() / 2;
            g[mid] ^= 0xff;
            g
        },
    ];
    for bytes in damaged {
        std::fs::write(&file, &bytes).unwrap();
        let db = Lsm::open_with_config(c.clone()).unwrap();
        assert_eq!(db.stats().key_cache_entries, 0);
        assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
        drop(db);
    }
}

#[test]
fn large_values_are_bounded_by_key_cache_bytes_not_only_by_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(&dir.path().join("db"));
    // Room for 100,000 entries by count, but only 256 KiB: about 60 of the values.
    c.set("cache.key_cache_entries", "100000").unwrap();
    c.set("cache.key_cache_bytes", "256KiB").unwrap();
    let db = Lsm::open_with_config(c.clone()).unwrap();
    let value = |i: u32| vec![(i % 251) as u8; 4096];
    for i in 0..1000u32 {
        db.put(format!("k{i}").as_bytes(), &value(i)).unwrap();
    }
    let mut most = 0;
    for _ in 0..2 {
        for i in 0..1000u32 {
            assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap(), Some(value(i)));
            let s = db.stats();
            assert!(
                s.key_cache_bytes <= 256 << 10,
                "{} bytes cached, over the 256 KiB budget",
                s.key_cache_bytes
            );
            most = most.max(s.key_cache_entries);
        }
    }
    let s = db.stats();
    assert!(most > 20, "the cache holds values ({most} at most)");
    assert!(
        s.key_cache_entries < 100,
        "{} entries: not evicted by bytes",
        s.key_cache_entries
    );
    assert!(s.key_cache_bytes >= s.key_cache_entries * 4096);
    // Cached values are right, and the bound survives a save and load.
    for i in 0..1000u32 {
        assert_eq!(db.get(format!("k{i}").as_bytes()).unwrap(), Some(value(i)));
    }
    db.close().unwrap();
    let db = Lsm::open_with_config(c).unwrap();
    assert!(db.stats().key_cache_bytes <= 256 << 10);
    assert!(db.stats().key_cache_entries > 0);
}
