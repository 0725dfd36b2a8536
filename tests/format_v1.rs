//! A database an older build wrote in format 1 (v1 log framing in its WAL segment and
//! its MANIFEST, `tests/fixtures/v1_db`) opens, replays its WAL and reads back, and the
//! files written from then on are format 2.

use lsm::fs::{FileSystem, MemFs};
use lsm::{Config, Lsm, RecoveryMode};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The files of `tests/fixtures/<name>` on a fresh `MemFs`, durable.
fn load(name: &str) -> MemFs {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let fs = MemFs::new();
    for dir in ["db", "db/wals", "db/ss_tables"] {
        fs.create_dir_all(Path::new(dir)).unwrap();
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                let path = Path::new(dir).join(e.file_name());
                let f = fs.create(&path).unwrap();
                f.append(&std::fs::read(e.path()).unwrap()).unwrap();
                f.sync().unwrap();
            }
        }
        fs.sync_dir(Path::new(dir)).unwrap();
    }
    fs
}

/// What the fixture holds (see its README).
fn expected() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for i in 0..40u32 {
        m.insert(
            format!("k{i:03}").into_bytes(),
            format!("table-{i}").into_bytes(),
        );
    }
    for i in 30..60u32 {
        m.insert(
            format!("k{i:03}").into_bytes(),
            format!("wal-{i}").into_bytes(),
        );
    }
    m.remove(b"k005".as_slice());
    for i in 10..15u32 {
        m.remove(&format!("k{i:03}").into_bytes());
    }
    m
}

fn config(mode: RecoveryMode) -> Config {
    let mut c = Config::with_root("db");
    c.cache.persist_on_close = false;
    c.wal.recovery = mode;
    c
}

#[test]
fn a_format_1_database_opens_and_replays_its_wal() {
    for mode in [
        RecoveryMode::Absolute,
        RecoveryMode::TolerateTail,
        RecoveryMode::Salvage,
    ] {
        let fs = load("v1_db");
        // The fixture really is format 1: v1 type bytes at offset 6 of both logs.
        let wal = fs.read_all(Path::new("db/wals/000003.log")).unwrap();
        let manifest = fs.read_all(Path::new("db/MANIFEST-000002")).unwrap();
        assert_eq!((wal[6], manifest[6]), (1, 1));
        assert_eq!(wal[7 + 8], 1, "WAL format version 1");

        let db = Lsm::open_on(config(mode), Arc::new(fs.clone()))
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let got: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, expected(), "{mode:?}");
        db.verify().unwrap();
        db.put(b"new", b"write").unwrap();
        db.close().unwrap();

        // Reopened: what this build wrote (a new manifest, new segments) is format 2.
        let db = Lsm::open_on(config(mode), Arc::new(fs.clone())).unwrap();
        assert_eq!(db.get(b"new").unwrap().as_deref(), Some(&b"write"[..]));
        assert_eq!(db.get(b"k045").unwrap().as_deref(), Some(&b"wal-45"[..]));
        let current = String::from_utf8(fs.read_all(Path::new("db/CURRENT")).unwrap()).unwrap();
        let manifest = fs
            .read_all(&Path::new("db").join(current.trim_end()))
            .unwrap();
        assert_eq!(manifest[6], 5, "a v2 FULL fragment");
        db.close().unwrap();
    }
}

/// What the table fixture holds.
fn table_expected() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for i in 0..3000u32 {
        let v = if (2000..2500).contains(&i) {
            format!("v1b-{i}")
        } else {
            format!("v1-{i}")
        };
        m.insert(format!("k{i:05}").into_bytes(), v.into_bytes());
    }
    m.remove(b"k00100".as_slice());
    for i in 200..300u32 {
        m.remove(&format!("k{i:05}").into_bytes());
    }
    m
}

/// The table format version in a table file's footer (bytes 56..60 of the last 72).
fn table_version(fs: &MemFs, path: &Path) -> u32 {
    let b = fs.read_all(path).unwrap();
    let at = b.len() - 72 + 56;
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn tables(fs: &MemFs) -> Vec<std::path::PathBuf> {
    let dir = Path::new("db/ss_tables");
    let mut v: Vec<_> = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

#[test]
fn format_1_tables_are_read_and_compacted_into_format_2() {
    // With a block cache far below the tables' metadata (so their whole index and
    // filter go through it), with none at all, and with the defaults.
    for cache_bytes in [4096u64, 0, 64 << 20] {
        let fs = load("table_v1");
        let old = tables(&fs);
        assert_eq!(old.len(), 2);
        for t in &old {
            assert_eq!(table_version(&fs, t), 1, "{}", t.display());
        }
        let mut c = config(RecoveryMode::Absolute);
        c.cache.block_cache_bytes = cache_bytes;
        c.cache.pin_l0_index_and_filter = false;
        let db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).unwrap();
        let want = table_expected();
        for (k, v) in want.iter().step_by(7) {
            assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]));
        }
        for absent in [&b"k00100"[..], b"k00250", b"k03000", b"a", b"zz"] {
            assert_eq!(db.get(absent).unwrap(), None);
        }
        let got: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, want);
        let back: Vec<Vec<u8>> = db.iter().rev().map(|r| r.unwrap().0).collect();
        assert_eq!(back, want.keys().rev().cloned().collect::<Vec<_>>());
        db.verify().unwrap();

        // Compaction rewrites them in format 2; nothing changes for the reader.
        db.compact().unwrap();
        let new = tables(&fs);
        assert!(!new.is_empty() && new.iter().all(|t| !old.contains(t)));
        for t in &new {
            assert_eq!(table_version(&fs, t), 2, "{}", t.display());
        }
        let got: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, want);
        db.verify().unwrap();
        db.close().unwrap();
        let db = Lsm::open_on(c, Arc::new(fs.clone())).unwrap();
        for (k, v) in want.iter().step_by(5) {
            assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]));
        }
        db.close().unwrap();
    }
}

/// The manifest format version in the header record of the live manifest.
fn manifest_version(fs: &MemFs) -> u32 {
    let current = String::from_utf8(fs.read_all(Path::new("db/CURRENT")).unwrap()).unwrap();
    let m = fs
        .read_all(&Path::new("db").join(current.trim_end()))
        .unwrap();
    let at = m
        .windows(8)
        .position(|w| w == b"LSMMANIF")
        .expect("a manifest header");
    u32::from_le_bytes(m[at + 8..at + 12].try_into().unwrap())
}

/// Databases written before keyspaces (manifest versions 1 and 2) open unchanged,
/// their data as the keyspace "default"; the manifest this build then writes is
/// the newest version, and keyspaces created in it persist.
#[test]
fn databases_from_before_keyspaces_open_as_the_keyspace_default() {
    for (fixture, version) in [("v1_db", 1), ("table_v1", 2)] {
        let fs = load(fixture);
        assert_eq!(manifest_version(&fs), version, "{fixture}");
        let c = config(RecoveryMode::Absolute);
        let db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).unwrap();
        assert_eq!(db.keyspaces(), ["default"], "{fixture}");
        assert_eq!(manifest_version(&fs), 4, "{fixture}: rewritten at open");
        let before: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert!(!before.is_empty());
        let users = db.keyspace("users").unwrap();
        users.put(b"k000", b"not the default's").unwrap();
        drop(users);
        db.close().unwrap();
        let db = Lsm::open_on(c, Arc::new(fs.clone())).unwrap();
        assert_eq!(db.keyspaces(), ["default", "users"], "{fixture}");
        let after: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert_eq!(
            after, before,
            "{fixture}: the default keyspace is untouched"
        );
        let users = db.keyspace("users").unwrap();
        assert_eq!(
            users.get(b"k000").unwrap().as_deref(),
            Some(&b"not the default's"[..])
        );
        drop(users);
        db.close().unwrap();
    }
}
