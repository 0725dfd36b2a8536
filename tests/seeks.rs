//! Seeks against a model, over every kind of source a key's versions can be spread
//! across: the memtable, level-0 tables and deeper levels, with deletions, range
//! deletions, overwrites and snapshots. A seek to a key stops at the newest source
//! that holds it and leaves the older ones unpositioned until the cursor moves on
//! (`MergingIterator::by_age`); every seek here is checked where it lands and after a
//! step either way, which is when the skipped sources are positioned.

use lsm::{Config, Lsm, RawIterator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(n: u32) -> Vec<u8> {
    format!("key{n:04}").into_bytes()
}

/// Checks a seek to `target` and one step from there in each direction.
fn check_seek(it: &mut RawIterator, model: &Model, target: &[u8], ctx: &str) {
    it.seek(target);
    let at = model.range(target.to_vec()..).next();
    assert_eq!(
        it.valid().then(|| (it.key().to_vec(), it.value().to_vec())),
        at.map(|(k, v)| (k.clone(), v.clone())),
        "{ctx}: seek {:?}",
        String::from_utf8_lossy(target)
    );
    let Some((k, _)) = at else {
        it.status().unwrap();
        return;
    };
    it.next();
    let after = model.range::<Vec<u8>, _>((
        std::ops::Bound::Excluded(k.clone()),
        std::ops::Bound::Unbounded,
    ));
    assert_eq!(
        it.valid().then(|| it.key().to_vec()),
        after.map(|(k, _)| k.clone()).next(),
        "{ctx}: next after seek {:?}",
        String::from_utf8_lossy(target)
    );
    it.seek(target);
    it.prev();
    let before = model.range(..k.clone()).next_back();
    assert_eq!(
        it.valid().then(|| it.key().to_vec()),
        before.map(|(k, _)| k.clone()),
        "{ctx}: prev after seek {:?}",
        String::from_utf8_lossy(target)
    );
    it.status().unwrap();
}

/// Seeks to every key of the key space (present or not) and between keys, on the
/// database and on a snapshot taken earlier.
fn check_all(db: &Lsm, model: &Model, snap: &(lsm::Snapshot, Model), nkeys: u32, ctx: &str) {
    let mut it = db.raw_iter();
    let mut sit = snap.0.raw_iter();
    for n in 0..nkeys {
        let k = key(n);
        check_seek(&mut it, model, &k, ctx);
        check_seek(&mut sit, &snap.1, &k, &format!("{ctx} (snapshot)"));
        let mut between = k.clone();
        between.push(b'!');
        check_seek(&mut it, model, &between, ctx);
    }
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = 64;
    cfg.sstable.block_size = 256;
    cfg.cache.key_cache_entries = 0;
    // Small levels, so the versions of a key spread over level 0 and several levels.
    cfg.set("compaction.base_level_bytes", "4KiB").unwrap();
    cfg.set("compaction.level_fanout", "2").unwrap();
    cfg.set("compaction.target_file_bytes", "2KiB").unwrap();
    cfg.set("compaction.level0_file_trigger", "3").unwrap();
    let db = Lsm::open_with_config(cfg).unwrap();
    let nkeys = 300;
    let mut model = Model::new();
    let mut snap = (db.snapshot(), model.clone());
    let mut deepest = 0;
    for round in 0..12 {
        for step in 0..400 {
            let n = rng.random_range(0..nkeys);
            match rng.random_range(0..10) {
                0..=5 => {
                    let v = format!("{round}/{step}").into_bytes();
                    db.put(&key(n), &v).unwrap();
                    model.insert(key(n), v);
                }
                6..=8 => {
                    db.delete(&key(n)).unwrap();
                    model.remove(&key(n));
                }
                _ => {
                    let end = (n + rng.random_range(1..8)).min(nkeys);
                    db.delete_range(&key(n), &key(end)).unwrap();
                    let doomed: Vec<Vec<u8>> = model
                        .range(key(n)..key(end))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        model.remove(&k);
                    }
                }
            }
        }
        if round % 3 == 0 {
            snap = (db.snapshot(), model.clone());
        }
        if round % 4 == 3 {
            db.flush().unwrap();
        }
        let ctx = format!("seed {seed} round {round}");
        check_all(&db, &model, &snap, nkeys, &ctx);
        let levels = db.stats().levels.iter().filter(|l| l.files > 0).count();
        deepest = deepest.max(levels);
    }
    // The sources the seeks ran over were several, or this proves little.
    assert!(
        deepest >= 3,
        "seed {seed}: only {deepest} levels with tables"
    );
}

#[test]
fn seeks_agree_with_the_model_over_memtables_and_levels() {
    for seed in 1..=3 {
        run(seed);
    }
}
