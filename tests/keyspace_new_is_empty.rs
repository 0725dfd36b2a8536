//! A keyspace created while "default" has tables starts empty: its first version is
//! its own, not the one of "default" (which the creation's manifest edit returned),
//! whether "default" was flushed in this session or before a reopen.

use lsm::{Config, Lsm};

fn open(dir: &std::path::Path) -> Lsm {
    let mut c = Config::with_root(dir.join("db"));
    c.cache.persist_on_close = false;
    Lsm::open_with_config(c).unwrap()
}

fn check_empty(db: &Lsm, name: &str) {
    let ks = db.keyspace(name).unwrap();
    assert_eq!(ks.get(b"ada").unwrap(), None, "{name} reads default's key");
    assert_eq!(ks.iter().count(), 0, "{name} iterates default's keys");
    let mut it = ks.raw_iter();
    it.seek_to_first();
    assert!(!it.valid());
    it.status().unwrap();
    // Its writes and compactions stay its own.
    ks.put(b"own", b"1").unwrap();
    db.flush().unwrap();
    ks.compact().unwrap();
    assert_eq!(ks.iter().count(), 1);
    assert_eq!(db.get(b"ada").unwrap().as_deref(), Some(&b"default"[..]));
    assert_eq!(db.get(b"own").unwrap(), None);
}

#[test]
fn created_after_a_flush_of_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"ada", b"default").unwrap();
    db.flush().unwrap();
    check_empty(&db, "after_flush");
}

#[test]
fn created_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.put(b"ada", b"default").unwrap();
    db.close().unwrap();
    drop(db);
    let db = open(dir.path());
    check_empty(&db, "after_reopen");
    db.close().unwrap();
    drop(db);
    // And after the next reopen, where its version comes from the manifest.
    let db = open(dir.path());
    let ks = db.keyspace("after_reopen").unwrap();
    assert_eq!(ks.get(b"ada").unwrap(), None);
    assert_eq!(ks.get(b"own").unwrap().as_deref(), Some(&b"1"[..]));
}
