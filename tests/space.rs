//! Space amplification: overwrites and deletions are reclaimed by compaction.

use lsm::{Config, Lsm, WriteBatch};

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dir_bytes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn overwritten_twenty_times_and_half_deleted_compacts_to_near_live_size() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut cfg = Config::with_root(&root);
    cfg.set("memtable.max_bytes", "4MiB").unwrap();
    cfg.set("compaction.base_level_bytes", "8MiB").unwrap();
    cfg.set("compaction.target_file_bytes", "2MiB").unwrap();
    let db = Lsm::open_with_config(cfg).unwrap();
    const KEYS: u32 = 100_000;
    let value = |round: u32, k: u32| format!("{round:02}-{k:08}-{}", "x".repeat(40)).into_bytes();
    for round in 0..20u32 {
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
            let mut b = WriteBatch::new();
            for &k in chunk {
                b.put(format!("key{k:08}").as_bytes(), &value(round, k));
            }
            db.write(b).unwrap();
        }
    }
    for chunk in (0..KEYS).step_by(2).collect::<Vec<_>>().chunks(1000) {
        let mut b = WriteBatch::new();
        for &k in chunk {
            b.delete(format!("key{k:08}").as_bytes());
        }
        db.write(b).unwrap();
    }
    db.compact().unwrap();
    let live: u64 = db
        .iter()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.len() + v.len()) as u64
        })
        .sum();
    assert_eq!(db.iter().count() as u32, KEYS / 2);
    assert_eq!(db.get(b"key00000001").unwrap(), Some(value(19, 1)));
    assert_eq!(db.get(b"key00000002").unwrap(), None);
    let s = db.stats();
    let tables: u64 = s.levels.iter().map(|l| l.bytes).sum();
    assert!(
        (tables as f64) < 1.5 * live as f64,
        "tables hold {tables} bytes for {live} bytes of live data"
    );
    assert!(s.compaction_dropped > 0);
    db.close().unwrap();
    // On disk too (tables, the retired WAL, the manifest), after the old files went.
    let on_disk = dir_bytes(&root);
    assert!(
        (on_disk as f64) < 1.5 * live as f64,
        "the directory holds {on_disk} bytes for {live} bytes of live data"
    );
}

/// `sstable.compression_from_level`: tables written to shallower levels (flushes go
/// to level 0) are stored as they are, deeper ones compressed; every value reads back
/// after a reopen either way.
#[test]
fn compression_starts_at_its_level() {
    const KEYS: u32 = 3000;
    let value = |k: u32| format!("{k:08}{}", "compressible ".repeat(40)).into_bytes();
    let raw = u64::from(KEYS) * (11 + value(0).len() as u64);
    for from_level in [0usize, 1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::with_root(dir.path().join("db"));
        cfg.set("sstable.compression", "lz4").unwrap();
        cfg.set("sstable.compression_from_level", &from_level.to_string())
            .unwrap();
        let db = Lsm::open_with_config(cfg.clone()).unwrap();
        // Two overlapping flushes, so that the compaction rewrites them (a single
        // table would move down as it is).
        for _ in 0..2 {
            for k in 0..KEYS {
                db.put(format!("key{k:08}").as_bytes(), &value(k)).unwrap();
            }
            db.flush().unwrap();
        }
        let level0 = db.stats().levels[0].bytes;
        assert_eq!(
            level0 < raw / 2,
            from_level == 0,
            "from level {from_level}: two level-0 tables take {level0} bytes for 2 x {raw}"
        );
        db.compact().unwrap();
        let s = db.stats();
        let (level, bytes) = s
            .levels
            .iter()
            .enumerate()
            .find(|(_, l)| l.bytes > 0)
            .map(|(i, l)| (i, l.bytes))
            .unwrap();
        assert!(level >= 1, "the compaction left the data in level {level}");
        assert_eq!(
            bytes < raw / 2,
            level >= from_level,
            "from level {from_level}: level {level} takes {bytes} bytes for {raw}"
        );
        db.close().unwrap();
        let db = Lsm::open_with_config(cfg).unwrap();
        for k in 0..KEYS {
            let got = db.get(format!("key{k:08}").as_bytes()).unwrap();
            assert_eq!(got, Some(value(k)), "from level {from_level}, key {k}");
        }
    }
}
