//! SSTable corruption: with one byte of a table flipped anywhere, the database either
//! refuses to open with `Corruption`, or every read returns the right answer or a
//! `Corruption` error. Never a wrong value, never a missing key reported as absent,
//! never a panic; and `verify()` always reports the damage.

use lsm::{Config, Lsm, LsmError, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const NKEYS: u32 = 1200;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn config(root: &Path) -> Config {
    let mut c = Config::with_root(root);
    c.memtable.max_entries = 1_000_000;
    c.sstable.block_size = 1024;
    c
}

/// Builds a database whose data is in exactly one table; returns the model.
fn build(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    let db = Lsm::open_with_config(config(root)).unwrap();
    for i in 0..NKEYS {
        let v = format!("value-{i}-{}", "x".repeat((i % 40) as usize)).into_bytes();
        db.put(&key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    // Point and range tombstones end up in the table too.
    for i in (0..NKEYS).step_by(7) {
        db.delete(&key(i)).unwrap();
        model.remove(&key(i));
    }
    let mut b = WriteBatch::new();
    b.delete_range(&key(500), &key(530));
    db.write(b).unwrap();
    for i in 500..530 {
        model.remove(&key(i));
    }
    db.flush().unwrap();
    db.close().unwrap();
    model
}

fn is_corruption(e: &LsmError) -> bool {
    matches!(e, LsmError::Corruption { .. })
}

/// Opens the database with `table` damaged and checks every read. Returns whether the
/// open succeeded.
fn check_damaged(root: &Path, model: &BTreeMap<Vec<u8>, Vec<u8>>, what: &str) -> bool {
    let db = match Lsm::open_with_config(config(root)) {
        Ok(db) => db,
        Err(e) => {
            assert!(
                is_corruption(&e),
                "{what}: open failed with a non-Corruption error: {e}"
            );
            return false;
        }
    };
    for i in 0..NKEYS + 5 {
        let k = key(i);
        match db.get(&k) {
            Ok(v) => assert_eq!(
                v.as_ref(),
                model.get(&k),
                "{what}: get(key{i:05}) returned wrong data"
            ),
            Err(e) => assert!(is_corruption(&e), "{what}: get(key{i:05}): {e}"),
        }
    }
    let mut seen = Vec::new();
    let mut failed = false;
    for item in db.iter() {
        match item {
            Ok((k, v)) => {
                assert_eq!(
                    model.get(&k),
                    Some(&v),
                    "{what}: iteration yielded a wrong item {}",
                    String::from_utf8_lossy(&k)
                );
                if let Some(last) = seen.last() {
                    assert!(*last < k, "{what}: iteration out of order");
                }
                seen.push(k);
            }
            Err(e) => {
                assert!(is_corruption(&e), "{what}: iteration error: {e}");
                failed = true;
                break;
            }
        }
    }
    if !failed {
        let want: Vec<&Vec<u8>> = model.keys().collect();
        let got: Vec<&Vec<u8>> = seen.iter().collect();
        assert!(got == want, "{what}: iteration silently lost or added keys");
    }
    match db.verify() {
        Err(e) => assert!(is_corruption(&e), "{what}: verify failed with {e}"),
        Ok(_) => panic!("{what}: verify() did not notice the damage"),
    }
    db.close().unwrap();
    true
}

fn the_table(root: &Path) -> PathBuf {
    let tables: Vec<PathBuf> = fs::read_dir(root.join("ss_tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    assert_eq!(tables.len(), 1, "expected one table: {tables:?}");
    tables.into_iter().next().unwrap()
}

#[test]
fn a_flipped_byte_anywhere_in_a_table_is_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let model = build(&root);
    let table = the_table(&root);
    let original = fs::read(&table).unwrap();
    let len = original.len();
    assert!(len > 20_000, "table too small: {len}");

    // Sanity: undamaged, everything reads back and verifies.
    {
        let db = Lsm::open_with_config(config(&root)).unwrap();
        let all: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
        assert!(all == model);
        db.verify().unwrap();
        db.close().unwrap();
    }

    let mut rng = StdRng::seed_from_u64(0x55_7ab1e);
    let mut positions: Vec<usize> = (0..100).map(|_| rng.random_range(0..len)).collect();
    positions.extend((0..len).step_by(len / 40));
    // The tail holds the index, filter, metadata and footer: cover it densely.
    positions.extend((len.saturating_sub(400)..len).step_by(4));
    positions.extend(len - 48..len);
    positions.sort_unstable();
    positions.dedup();

    let mut opened = 0;
    let mut failures = Vec::new();
    for &pos in &positions {
        let mut bytes = original.clone();
        let mask = rng.random_range(1..=255u8);
        bytes[pos] ^= mask;
        fs::write(&table, &bytes).unwrap();
        let what = format!("byte {pos} of {len} ^ {mask:#04x}");
        match catch_unwind(AssertUnwindSafe(|| check_damaged(&root, &model, &what))) {
            Ok(true) => opened += 1,
            Ok(false) => {}
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{what}: {msg}"));
            }
        }
        fs::write(&table, &original).unwrap();
        // A panic may have left the lock held by a leaked handle; never by design.
    }
    assert!(
        failures.is_empty(),
        "{} of {} flips misbehaved:\n{}",
        failures.len(),
        positions.len(),
        failures.join("\n")
    );
    eprintln!("{} flips, {opened} opened", positions.len());

    // The restored table is whole again.
    let db = Lsm::open_with_config(config(&root)).unwrap();
    db.verify().unwrap();
    let all: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().map(|r| r.unwrap()).collect();
    assert!(all == model);
}
