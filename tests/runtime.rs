//! The engine's background runtime: a panicking job poisons the database instead of
//! hanging it or leaving it half-alive.

use lsm::fs::MemFs;
use lsm::{Config, Lsm, LsmError};
use std::sync::Arc;

#[test]
fn a_panic_in_a_flush_poisons_writes_and_does_not_hang() {
    let fs = MemFs::new();
    let mut cfg = Config::with_root("db");
    cfg.directory.log = String::new();
    let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone())).unwrap();
    db.put(b"k", b"v").unwrap();
    db.sync().unwrap();
    // `flush()` first switches memtables on this thread (sync the WAL, create the
    // next segment, write and sync its header, sync the directory, then record the
    // segment in the manifest with an append and a sync: 7 operations); the 8th,
    // creating the table in the background flush job, panics.
    fs.panic_after(8);
    let e = db.flush().unwrap_err();
    assert!(matches!(e, LsmError::Io { .. }), "{e}");
    let e = db.put(b"k2", b"v").unwrap_err();
    assert!(e.to_string().contains("panicked"), "{e}");
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    fs.clear_faults();
    drop(db);
    let db = Lsm::open_on(cfg, Arc::new(fs)).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn properties_report_stats_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open(dir.path().join("db")).unwrap();
    db.put(b"a", b"1").unwrap();
    // One operation in eight is timed, counted per thread from its first operation:
    // the put was this thread's first, so gets 8 and 16 of the thread are timed.
    for _ in 0..16 {
        db.get(b"a").unwrap();
    }
    db.flush().unwrap();
    let text = db.property("lsm.stats").unwrap();
    assert!(text.contains("flushes: 1"), "{text}");
    let json = db.property("lsm.stats.json").unwrap();
    assert!(json.starts_with('{') && json.ends_with('}'));
    assert!(
        json.contains("\"flushes\":1") && json.contains("\"levels\":[{\"level\":0,\"files\":1"),
        "{json}"
    );
    assert!(json.contains("\"get_latency\":{\"count\":2"), "{json}");
    assert_eq!(db.property("lsm.nope"), None);
}
