//! What each `wal.sync` mode makes survive a power cut, and how the engine behaves
//! after a failed write or sync (through the in-memory file system's faults).

use lsm::fs::MemFs;
use lsm::{Config, Lsm, LsmError};
use std::sync::Arc;
use std::time::Duration;

fn config(sync: &str) -> Config {
    let mut c = Config::with_root("db");
    c.set("wal.sync", sync).unwrap();
    c.directory.log = String::new();
    c
}

fn open(fs: &MemFs, c: &Config) -> Lsm {
    Lsm::open_on(c.clone(), Arc::new(fs.clone())).unwrap()
}

#[test]
fn sync_none_loses_unsynced_writes_to_a_power_cut_until_sync() {
    let fs = MemFs::new();
    let c = config("none");
    let db = open(&fs, &c);
    db.put(b"synced", b"1").unwrap();
    db.sync().unwrap();
    db.put(b"unsynced", b"2").unwrap();
    let after = fs.crash(None);
    let db2 = open(&after, &c);
    assert_eq!(db2.get(b"synced").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db2.get(b"unsynced").unwrap(), None);
    drop(db);
}

#[test]
fn sync_always_keeps_every_acknowledged_write() {
    let fs = MemFs::new();
    let c = config("always");
    let db = open(&fs, &c);
    for i in 0..50u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
    }
    let db2 = open(&fs.crash(Some(3)), &c);
    assert_eq!(db2.iter().count(), 50);
    drop(db);
}

#[test]
fn sync_interval_makes_writes_durable_within_the_interval() {
    let fs = MemFs::new();
    let c = config("20ms");
    let db = open(&fs, &c);
    db.put(b"k", b"v").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let db2 = open(&fs.crash(None), &c);
    assert_eq!(db2.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert!(db.stats().wal_syncs >= 1);
}

#[test]
fn flush_makes_writes_durable() {
    let fs = MemFs::new();
    let c = config("none");
    let db = open(&fs, &c);
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    let db2 = open(&fs.crash(None), &c);
    assert_eq!(db2.get(b"k").unwrap(), Some(b"v".to_vec()));
    drop(db);
}

#[test]
fn a_failed_wal_write_refuses_later_writes_until_reopen() {
    let fs = MemFs::new();
    let c = config("always");
    let db = open(&fs, &c);
    db.put(b"before", b"1").unwrap();
    fs.fail_after(1, true); // the next append fails, later ones would succeed
    let e = db.put(b"failed", b"2").unwrap_err();
    assert!(matches!(e, LsmError::Io { .. }), "{e}");
    // Never retried and reported as success, even though the disk works again.
    let e = db.put(b"after", b"3").unwrap_err();
    assert!(e.to_string().contains("refuses writes"), "{e}");
    assert!(db.flush().is_err());
    // Reads keep working.
    assert_eq!(db.get(b"before").unwrap(), Some(b"1".to_vec()));
    drop(db);
    let db = open(&fs, &c);
    assert_eq!(db.get(b"before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"after").unwrap(), None);
    db.put(b"after", b"3").unwrap();
}

#[test]
fn a_failed_fsync_refuses_later_writes() {
    let fs = MemFs::new();
    let c = config("always");
    let db = open(&fs, &c);
    db.put(b"before", b"1").unwrap();
    // append succeeds (op 1), its fsync (op 2) fails
    fs.fail_after(2, true);
    assert!(db.put(b"unsure", b"2").is_err());
    assert!(db.put(b"after", b"3").is_err());
    assert!(db.sync().is_err());
    drop(db);
    let db = open(&fs.crash(None), &c);
    assert_eq!(db.get(b"before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"after").unwrap(), None);
}

#[test]
fn a_failed_flush_refuses_writes_and_loses_nothing() {
    let fs = MemFs::new();
    let c = config("none");
    let db = open(&fs, &c);
    for i in 0..100u32 {
        db.put(&i.to_be_bytes(), b"v").unwrap();
    }
    db.sync().unwrap();
    fs.fail_after(3, false); // every operation from the third on fails: the flush dies
    assert!(db.flush().is_err());
    assert!(db.put(b"x", b"y").is_err());
    fs.clear_faults();
    drop(db);
    let db = open(&fs, &c);
    assert_eq!(db.iter().count(), 100);
}

#[test]
fn a_full_disk_fails_writes_clearly_and_keeps_reads() {
    let fs = MemFs::new();
    let c = config("always");
    let db = open(&fs, &c);
    db.put(b"a", b"1").unwrap();
    fs.set_space_limit(Some(0));
    let e = db.put(b"b", &[0u8; 1000]).unwrap_err();
    assert!(e.to_string().contains("no space"), "{e}");
    assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));
    fs.clear_faults();
    drop(db);
    let db = open(&fs, &c);
    assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"b").unwrap(), None);
}
