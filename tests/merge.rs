//! Merge operators: every built-in against a model, folding in flushes and
//! compactions, snapshots, the operator recorded in the database, failures.

use lsm::{Config, Lsm, LsmError, MergeOperator};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn config(root: &Path, op: &str) -> Config {
    let mut c = Config::with_root(root);
    c.memtable.max_entries = 150;
    c.compaction.level0_file_trigger = 2;
    c.compaction.base_level_bytes = 16 << 10;
    c.compaction.target_file_bytes = 8 << 10;
    c.set("merge.operator", op).unwrap();
    c
}

/// A small deterministic generator (no dependency on a crate's RNG stream).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the built-in `op` makes of `existing` and one operand.
fn model_merge(op: &str, existing: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    match op {
        "u64_add" => {
            let e = existing.map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
            let o = u64::from_le_bytes(operand.try_into().unwrap());
            e.wrapping_add(o).to_le_bytes().to_vec()
        }
        "append" => [existing.unwrap_or_default(), operand].concat(),
        "max" => existing.map_or(operand, |e| e.max(operand)).to_vec(),
        "min" => existing.map_or(operand, |e| e.min(operand)).to_vec(),
        _ => unreachable!(),
    }
}

fn value(op: &str, rng: &mut Rng) -> Vec<u8> {
    match op {
        "u64_add" => rng.below(1000).to_le_bytes().to_vec(),
        _ => {
            let len = 1 + rng.below(6) as usize;
            (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
        }
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("k{i:03}").into_bytes()
}

fn check(db: &Lsm, model: &Model, what: &str) {
    for i in 0..40 {
        let k = key(i);
        assert_eq!(
            db.get(&k).unwrap(),
            model.get(&k).cloned(),
            "{what}: get {i}"
        );
        let pinned = db.get_pinned(&k).unwrap().map(|v| v.to_vec());
        assert_eq!(pinned, model.get(&k).cloned(), "{what}: get_pinned {i}");
    }
    let keys: Vec<Vec<u8>> = (0..40).rev().map(key).collect();
    let want: Vec<_> = keys.iter().map(|k| model.get(k).cloned()).collect();
    assert_eq!(db.multi_get(&keys).unwrap(), want, "{what}: multi_get");
    let fwd: Vec<(Vec<u8>, Vec<u8>)> = db.iter().map(|r| r.unwrap()).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(fwd, want, "{what}: forward scan");
    let mut back: Vec<(Vec<u8>, Vec<u8>)> = db.iter().rev().map(|r| r.unwrap()).collect();
    back.reverse();
    assert_eq!(back, want, "{what}: backward scan");
}

/// Random puts, deletes, range deletes and merges with each built-in, with flushes,
/// compactions, snapshots and reopens, against a model applying the same semantics.
#[test]
fn every_builtin_matches_a_model_through_flushes_compactions_snapshots_and_reopens() {
    for op in lsm::merge::BUILTIN_OPERATORS {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Lsm::open_with_config(config(dir.path(), op)).unwrap();
        let mut model = Model::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ op.len() as u64);
        let mut snaps = Vec::new();
        for step in 0..3000u64 {
            let k = key(rng.below(40));
            match rng.below(20) {
                0..=9 => {
                    let v = value(op, &mut rng);
                    db.merge(&k, &v).unwrap();
                    let next = model_merge(op, model.get(&k).map(Vec::as_slice), &v);
                    model.insert(k, next);
                }
                10..=14 => {
                    let v = value(op, &mut rng);
                    db.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                15..=16 => {
                    db.delete(&k).unwrap();
                    model.remove(&k);
                }
                17 => {
                    let end = key(rng.below(40));
                    let (s, e) = if k <= end { (k, end) } else { (end, k) };
                    db.delete_range(&s, &e).unwrap();
                    let doomed: Vec<Vec<u8>> = model.range(s..e).map(|(k, _)| k.clone()).collect();
                    for d in doomed {
                        model.remove(&d);
                    }
                }
                18 => {
                    if snaps.len() < 3 {
                        snaps.push((db.snapshot(), model.clone()));
                    } else {
                        snaps.remove(rng.below(3) as usize);
                    }
                }
                _ => {
                    if step % 3 == 0 {
                        db.flush().unwrap();
                    } else {
                        db.compact().unwrap();
                    }
                }
            }
            if step % 500 == 499 {
                check(&db, &model, &format!("{op} at step {step}"));
                for (s, m) in &snaps {
                    let got: Model = s.iter().map(|r| r.unwrap()).collect();
                    if &got != m {
                        let diff: Vec<_> = m
                            .iter()
                            .filter(|(k, v)| got.get(*k) != Some(v))
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    v.clone(),
                                    got.get(k).cloned(),
                                )
                            })
                            .collect();
                        let extra: Vec<_> = got
                            .keys()
                            .filter(|k| !m.contains_key(*k))
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                            .collect();
                        panic!("{op}: a snapshot changed at step {step}: {diff:?} extra {extra:?}");
                    }
                    for (k, v) in m.iter().take(5) {
                        assert_eq!(s.get(k).unwrap().as_ref(), Some(v), "{op}: snapshot get");
                    }
                }
            }
            if step == 1500 {
                snaps.clear();
                db.close().unwrap();
                db = Lsm::open_with_config(config(dir.path(), op)).unwrap();
                check(&db, &model, &format!("{op} after a reopen"));
            }
        }
        snaps.clear();
        db.compact().unwrap();
        check(&db, &model, &format!("{op} after a full compaction"));
        db.close().unwrap();
        // Reopen without a flush of the last writes: they come back from the WAL.
        let db = Lsm::open_with_config(config(dir.path(), op)).unwrap();
        check(&db, &model, &format!("{op} after the last reopen"));
    }
}

/// The entries of every table file, as `lsm dump` prints them.
fn dump_tables(dir: &Path) -> String {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("ss_tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    files.sort();
    for f in files {
        lsm::tools::dump_file(&f, &mut out, &|b| String::from_utf8_lossy(b).into_owned()).unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn compaction_leaves_one_value_per_key_at_the_bottom_and_reads_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "u64_add")).unwrap();
    for round in 0..5u64 {
        for i in 0..20u64 {
            db.merge(&key(i), &(i + round).to_le_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    let before: Vec<_> = (0..20).map(|i| db.get(&key(i)).unwrap()).collect();
    let dumped = dump_tables(dir.path());
    assert!(
        dumped.contains(" merge => "),
        "operands before compaction:\n{dumped}"
    );
    db.compact().unwrap();
    let dumped = dump_tables(dir.path());
    assert!(
        !dumped.contains(" merge => "),
        "an operand survived the compaction:\n{dumped}"
    );
    for i in 0..20u64 {
        let want = (5 * i + 10).to_le_bytes().to_vec();
        assert_eq!(before[i as usize].as_ref(), Some(&want));
        assert_eq!(db.get(&key(i)).unwrap(), Some(want.clone()));
        let k = String::from_utf8(key(i)).unwrap();
        assert_eq!(
            dumped.matches(&format!("{k} @ ")).count(),
            1,
            "{k} has one entry:\n{dumped}"
        );
    }
}

#[test]
fn the_operator_is_recorded_and_another_or_none_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Lsm::open_with_config(config(dir.path(), "append")).unwrap();
        db.merge(b"k", b"x").unwrap();
        db.close().unwrap();
    }
    for other in ["u64_add", "none"] {
        match Lsm::open_with_config(config(dir.path(), other)) {
            Err(LsmError::Config { key, reason }) => {
                assert_eq!(key, "merge.operator");
                assert!(reason.contains("append"), "{reason}");
            }
            Err(e) => panic!("{other}: {e}"),
            Ok(_) => panic!("opened with {other}"),
        }
    }
    let db = Lsm::open_with_config(config(dir.path(), "append")).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"x".to_vec()));
    db.close().unwrap();
    // A manifest roll keeps the record.
    let db = Lsm::open_with_config(config(dir.path(), "append")).unwrap();
    db.close().unwrap();
    assert!(Lsm::open_with_config(config(dir.path(), "max")).is_err());
}

#[test]
fn a_merge_without_an_operator_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "none")).unwrap();
    let mut b = lsm::WriteBatch::new();
    b.put(b"a", b"1").merge(b"b", b"2");
    assert!(matches!(db.write(b), Err(LsmError::InvalidArgument(_))));
    assert!(matches!(
        db.merge(b"b", b"2"),
        Err(LsmError::InvalidArgument(_))
    ));
    assert_eq!(
        db.get(b"a").unwrap(),
        None,
        "the batch was not applied in part"
    );
    assert!(Config::with_root(dir.path())
        .set("merge.operator", "sum")
        .is_err());
}

#[test]
fn a_batch_mixes_merges_with_puts_and_deletes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "append")).unwrap();
    let mut b = lsm::WriteBatch::new();
    b.merge(b"k", b"1")
        .put(b"k", b"a")
        .merge(b"k", b"b")
        .delete(b"j")
        .merge(b"j", b"c");
    db.write(b).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"ab".to_vec()));
    assert_eq!(db.get(b"j").unwrap(), Some(b"c".to_vec()));
}

/// A keyspace may have its own built-in operator; it is recorded with the keyspace.
#[test]
fn a_keyspace_has_its_own_operator() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "none")).unwrap();
    let ks = db
        .keyspace_with("counters", |o| o.set("merge.operator", "u64_add"))
        .unwrap();
    for _ in 0..3 {
        ks.merge(b"hits", &2u64.to_le_bytes()).unwrap();
    }
    assert!(
        db.merge(b"hits", &2u64.to_le_bytes()).is_err(),
        "default has none"
    );
    db.flush().unwrap();
    ks.merge(b"hits", &1u64.to_le_bytes()).unwrap();
    assert_eq!(ks.get(b"hits").unwrap(), Some(7u64.to_le_bytes().to_vec()));
    drop(ks);
    db.close().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "none")).unwrap();
    let ks = db.keyspace("counters").unwrap();
    assert_eq!(ks.get(b"hits").unwrap(), Some(7u64.to_le_bytes().to_vec()));
}

/// An operator of the user's own, with a partial merge, and one that fails on some
/// operands: a read of that key reports the failure, compaction keeps its entries,
/// and a later put makes it readable again.
#[test]
fn user_operators_partial_merges_and_failures() {
    struct Csv;
    impl MergeOperator for Csv {
        fn name(&self) -> &str {
            "csv"
        }
        fn full_merge(&self, _: &[u8], base: Option<&[u8]>, ops: &[&[u8]]) -> Option<Vec<u8>> {
            let mut parts: Vec<&[u8]> = base.into_iter().collect();
            for o in ops {
                if *o == b"bad" {
                    return None;
                }
                parts.push(o);
            }
            Some(parts.join(&b","[..]))
        }
        fn partial_merge(&self, k: &[u8], ops: &[&[u8]]) -> Option<Vec<u8>> {
            self.full_merge(k, None, ops)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(dir.path(), "none").with_merge_operator(Arc::new(Csv));
    let db = Lsm::open_with_config(cfg()).unwrap();
    db.put(b"a", b"x").unwrap();
    db.flush().unwrap();
    db.merge(b"a", b"y").unwrap();
    db.merge(b"a", b"z").unwrap();
    db.merge(b"b", b"1").unwrap();
    db.merge(b"b", b"bad").unwrap();
    db.flush().unwrap();
    assert_eq!(db.get(b"a").unwrap(), Some(b"x,y,z".to_vec()));
    assert!(matches!(db.get(b"b"), Err(LsmError::InvalidArgument(_))));
    assert!(
        db.iter().any(|r| r.is_err()),
        "a scan reports the failed merge"
    );
    db.compact().unwrap();
    assert_eq!(db.get(b"a").unwrap(), Some(b"x,y,z".to_vec()));
    assert!(db.get(b"b").is_err(), "the operands were kept, not lost");
    db.put(b"b", b"fresh").unwrap();
    db.merge(b"b", b"2").unwrap();
    assert_eq!(db.get(b"b").unwrap(), Some(b"fresh,2".to_vec()));
    db.close().unwrap();
    let reopened = Lsm::open_with_config(cfg()).unwrap();
    assert_eq!(reopened.get(b"a").unwrap(), Some(b"x,y,z".to_vec()));
    assert_eq!(reopened.get(b"b").unwrap(), Some(b"fresh,2".to_vec()));
}

/// Merges from many threads at once lose no increment.
#[test]
fn concurrent_counters_lose_no_increment() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open_with_config(config(dir.path(), "u64_add")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let db = &db;
            s.spawn(move || {
                for i in 0..2000u64 {
                    db.merge(&key((i + t) % 10), &1u64.to_le_bytes()).unwrap();
                }
            });
        }
    });
    let total: u64 = (0..10)
        .map(|i| u64::from_le_bytes(db.get(&key(i)).unwrap().unwrap().try_into().unwrap()))
        .sum();
    assert_eq!(total, 8000);
}
