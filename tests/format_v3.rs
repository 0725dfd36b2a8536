//! A database an older build wrote with manifest format 3 (`tests/fixtures/v3_db`, see
//! its README) opens, replays its WAL and reads back; the manifest written from then on
//! is format 4, which records the merge operator the database is first opened with.

use lsm::{Config, Lsm, LsmError};
use std::collections::BTreeMap;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3_db/db");
    copy_dir(&src, &dir.path().join("db"));
    dir
}

fn config(root: &Path, op: &str) -> Config {
    let mut c = Config::with_root(root.join("db"));
    c.cache.persist_on_close = false;
    c.set("merge.operator", op).unwrap();
    c
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn expected() -> (Map, Map) {
    let mut default = Map::new();
    let mut users = Map::new();
    for i in 0..40u32 {
        default.insert(
            format!("k{i:03}").into_bytes(),
            format!("table-{i}").into_bytes(),
        );
        users.insert(
            format!("u{i:03}").into_bytes(),
            format!("user-{i}").into_bytes(),
        );
    }
    default.remove(b"k005".as_slice());
    for i in 30..60u32 {
        default.insert(
            format!("k{i:03}").into_bytes(),
            format!("wal-{i}").into_bytes(),
        );
    }
    users.remove(b"u007".as_slice());
    (default, users)
}

fn check(db: &Lsm) {
    check_with(db, &[]);
}

/// The fixture's content plus `extra` in keyspace default.
fn check_with(db: &Lsm, extra: &[(&[u8], Vec<u8>)]) {
    let (mut default, users) = expected();
    for (k, v) in extra {
        default.insert(k.to_vec(), v.clone());
    }
    let got: Map = db.iter().map(|r| r.unwrap()).collect();
    assert!(got == default, "keyspace default differs");
    let ks = db.keyspace("users").unwrap();
    let got: Map = ks.iter().map(|r| r.unwrap()).collect();
    assert!(got == users, "keyspace users differs");
}

#[test]
fn a_format_3_database_opens_and_reads_back() {
    let dir = fixture();
    let db = Lsm::open_with_config(config(dir.path(), "none")).unwrap();
    check(&db);
    db.put(b"new", b"1").unwrap();
    db.close().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "none")).unwrap();
    check_with(&db, &[(b"new", b"1".to_vec())]);
}

/// A format-3 database has no operator recorded: the first open with one records it
/// (in a format-4 manifest), and from then on the database requires it.
#[test]
fn the_first_open_with_an_operator_records_it_in_format_4() {
    let dir = fixture();
    let db = Lsm::open_with_config(config(dir.path(), "u64_add")).unwrap();
    check(&db);
    db.merge(b"n", &5u64.to_le_bytes()).unwrap();
    db.close().unwrap();
    match Lsm::open_with_config(config(dir.path(), "none")) {
        Err(LsmError::Config { key, .. }) => assert_eq!(key, "merge.operator"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened without the recorded operator"),
    }
    let db = Lsm::open_with_config(config(dir.path(), "u64_add")).unwrap();
    check_with(&db, &[(b"n", 5u64.to_le_bytes().to_vec())]);
    // The manifest now in use says format 4.
    let current = std::fs::read_to_string(dir.path().join("db/CURRENT")).unwrap();
    let manifest = std::fs::read(dir.path().join("db").join(current.trim())).unwrap();
    let at = manifest
        .windows(8)
        .position(|w| w == b"LSMMANIF")
        .expect("a manifest header");
    assert_eq!(&manifest[at + 8..at + 12], &4u32.to_le_bytes());
}
