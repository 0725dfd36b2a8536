//! Keyspaces: separate data and options per keyspace over one WAL, sequence and
//! manifest (issue 12).

use lsm::{Config, Lsm, LsmError, WriteBatch};

fn cfg(dir: &std::path::Path) -> Config {
    Config::with_root(dir.join("db"))
}

#[test]
fn a_new_keyspace_is_empty_and_separate_from_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(cfg(dir.path())).unwrap();
    db.put(b"k", b"default").unwrap();
    db.flush().unwrap();
    let ks = db.keyspace("users").unwrap();
    assert_eq!(ks.iter().count(), 0);
    assert_eq!(ks.get(b"k").unwrap(), None);
    ks.put(b"k", b"users").unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"default"[..]));
    assert_eq!(ks.get(b"k").unwrap().as_deref(), Some(&b"users"[..]));
    drop(ks);
    db.close().unwrap();
    let db = Lsm::open_with_config(cfg(dir.path())).unwrap();
    let ks = db.keyspace("users").unwrap();
    assert_eq!(ks.get(b"k").unwrap().as_deref(), Some(&b"users"[..]));
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"default"[..]));
    let _ = (WriteBatch::new(), LsmError::Conflict);
}
