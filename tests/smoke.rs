use lsm::{Config, Lsm, WriteBatch};

#[test]
fn put_get_delete_flush_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut cfg = Config::with_root(&root);
    cfg.memtable.max_entries = 100;
    {
        let db = Lsm::open_with_config(cfg.clone()).unwrap();
        for i in 0..1000u32 {
            db.put(format!("k{i:05}").as_bytes(), format!("v{i}").as_bytes())
                .unwrap();
        }
        db.delete(b"k00005").unwrap();
        db.delete_range(b"k00100", b"k00200").unwrap();
        let mut b = WriteBatch::new();
        b.put(b"zz", b"1").delete(b"k00001");
        db.write(b).unwrap();
        assert_eq!(db.get(b"k00007").unwrap(), Some(b"v7".to_vec()));
        assert_eq!(db.get(b"k00005").unwrap(), None);
        assert_eq!(db.get(b"k00150").unwrap(), None);
        db.flush().unwrap();
        assert_eq!(db.get(b"k00150").unwrap(), None);
        assert_eq!(db.get(b"k00999").unwrap(), Some(b"v999".to_vec()));
        let n = db.iter().count();
        assert_eq!(n, 1000 - 2 - 100 + 1);
        let rev: Vec<_> = db.iter().rev().map(|r| r.unwrap().0).collect();
        assert_eq!(rev.len(), n);
        assert_eq!(rev[0], b"zz");
        println!("{}", db.stats());
        assert_eq!(db.stats().last_sequence, 1000 + 1 + 1 + 2);
        db.close().unwrap();
    }
    let db = Lsm::open_with_config(cfg).unwrap();
    // Sequence numbers survive a reopen: the next write continues after the last.
    assert_eq!(db.stats().last_sequence, 1004);
    let snap = db.snapshot();
    assert_eq!(snap.sequence(), 1004);
    assert_eq!(db.get(b"k00150").unwrap(), None);
    assert_eq!(db.get(b"k00999").unwrap(), Some(b"v999".to_vec()));
    assert_eq!(db.iter().count(), 1000 - 2 - 100 + 1);
    let r = db.verify().unwrap();
    assert!(!r.files.is_empty());
}

#[test]
fn the_shipped_config_toml_loads_and_names_every_section() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.wal.version, 1);
    assert_eq!(c.memtable.max_entries, 1_000_000);
    let text = std::fs::read_to_string(&path).unwrap();
    for section in [
        "[wal]",
        "[memtable]",
        "[directory]",
        "[cache]",
        "[sstable]",
        "[compaction]",
    ] {
        assert!(text.contains(section), "config.toml lacks {section}");
    }
}
