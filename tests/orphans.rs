//! What a crash can leave behind is removed at the next open.

use lsm::{Config, Lsm};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn unreferenced_tables_retired_segments_and_temp_files_are_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let cfg = Config::with_root(&root);
    let db = Lsm::open_with_config(cfg.clone()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let tables = names(&root.join("ss_tables"));
    assert_eq!(tables.len(), 1);

    // A table a crashed flush or compaction wrote but never recorded, an old WAL
    // segment, a half-written CURRENT and an old manifest.
    std::fs::write(root.join("ss_tables/999990.sst"), b"partial").unwrap();
    std::fs::write(root.join("wals/000001.log"), b"old").unwrap();
    std::fs::write(root.join("CURRENT.tmp"), b"MANIFEST-").unwrap();
    std::fs::write(root.join("MANIFEST-000000"), b"old").unwrap();

    let db = Lsm::open_with_config(cfg).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(names(&root.join("ss_tables")), tables);
    assert!(!root.join("wals/000001.log").exists());
    assert!(!root.join("CURRENT.tmp").exists());
    assert!(!root.join("MANIFEST-000000").exists());
    let manifests = names(&root)
        .into_iter()
        .filter(|n| n.starts_with("MANIFEST-"))
        .count();
    assert_eq!(manifests, 1);
    // New files never reuse the orphan's number.
    db.put(b"k2", b"v").unwrap();
    db.flush().unwrap();
    assert!(!names(&root.join("ss_tables")).contains(&"999990.sst".to_string()));
}

#[test]
fn compaction_inputs_are_deleted_once_no_reader_needs_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = Lsm::open_with_config(Config::with_root(&root)).unwrap();
    for i in 0..3u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
        db.flush().unwrap();
    }
    let before = names(&root.join("ss_tables"));
    assert_eq!(before.len(), 3);
    let mut it = db.iter();
    assert!(it.next().is_some());
    db.compact().unwrap();
    // The iterator still holds the old tables.
    let still = names(&root.join("ss_tables"));
    assert!(before.iter().all(|f| still.contains(f)), "{still:?}");
    assert_eq!(it.count(), 2);
    // Dropped: the inputs go, the compacted table stays.
    let after = names(&root.join("ss_tables"));
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(db.iter().count(), 3);
}
