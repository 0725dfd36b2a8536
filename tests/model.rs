//! Model test: thousands of random operations against a `BTreeMap`, with a memtable so
//! small that the data spreads over many SSTables, checked after every step that reads.

use lsm::{Config, Lsm, Snapshot, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::ops::Bound;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
/// What a held iterator must still yield.
type Expected = std::vec::IntoIter<(Vec<u8>, Vec<u8>)>;

fn key(rng: &mut StdRng) -> Vec<u8> {
    // A small key space so overwrites, deletes and range deletes hit live keys; a few
    // keys share prefixes of different lengths to exercise prefix compression.
    let n: u32 = rng.random_range(0..300);
    match n % 7 {
        0 => format!("k{n}").into_bytes(),
        1 => format!("k{n:03}/x").into_bytes(),
        2 => vec![b'k', (n % 256) as u8, 0xff],
        _ => format!("k{n:03}").into_bytes(),
    }
}

fn value(rng: &mut StdRng, step: usize) -> Vec<u8> {
    let len = match rng.random_range(0..20) {
        0 => 0,
        1 => rng.random_range(1000..5000),
        _ => rng.random_range(1..40),
    };
    let mut v = format!("{step}:").into_bytes();
    v.resize(v.len() + len, b'a' + (step % 26) as u8);
    v
}

fn model_range(m: &Model, lo: &Option<Vec<u8>>, hi: &Option<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let lo = lo
        .as_ref()
        .map_or(Bound::Unbounded, |l| Bound::Included(l.clone()));
    let hi = hi
        .as_ref()
        .map_or(Bound::Unbounded, |h| Bound::Excluded(h.clone()));
    m.range((lo, hi))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn collect(it: impl Iterator<Item = lsm::Result<(Vec<u8>, Vec<u8>)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| r.expect("iteration failed")).collect()
}

/// Reads through `check` that `db` (or a snapshot) agrees with `model`.
fn check_range(db: &Lsm, snap: Option<&Snapshot>, model: &Model, rng: &mut StdRng, ctx: &str) {
    let (lo, hi) = match rng.random_range(0..4) {
        0 => (None, None),
        1 => (Some(key(rng)), None),
        2 => (None, Some(key(rng))),
        _ => {
            let (a, b) = (key(rng), key(rng));
            (Some(a.clone().min(b.clone())), Some(a.max(b)))
        }
    };
    let want = model_range(model, &lo, &hi);
    let range = (
        lo.clone().map_or(Bound::Unbounded, Bound::Included),
        hi.clone().map_or(Bound::Unbounded, Bound::Excluded),
    );
    let (fwd, rev) = match snap {
        Some(s) => (
            collect(s.range(range.clone())),
            collect(s.range(range).rev()),
        ),
        None => (
            collect(db.range(range.clone())),
            collect(db.range(range).rev()),
        ),
    };
    assert_eq!(fwd, want, "{ctx}: forward range {lo:?}..{hi:?}");
    let mut rev_want = want.clone();
    rev_want.reverse();
    assert_eq!(rev, rev_want, "{ctx}: reverse range {lo:?}..{hi:?}");

    // Both ends at once: alternate next and next_back until they meet.
    let mut it = match snap {
        Some(s) => s.range::<Vec<u8>, _>(..),
        None => db.range::<Vec<u8>, _>(..),
    };
    let all = model_range(model, &None, &None);
    let (mut front, mut back) = (Vec::new(), Vec::new());
    loop {
        let item = if rng.random_bool(0.5) {
            it.next().map(|r| (true, r.unwrap()))
        } else {
            it.next_back().map(|r| (false, r.unwrap()))
        };
        match item {
            Some((true, kv)) => front.push(kv),
            Some((false, kv)) => back.push(kv),
            None => break,
        }
    }
    back.reverse();
    front.extend(back);
    assert_eq!(front, all, "{ctx}: double-ended iteration");

    // A cursor walk that changes direction at random.
    let mut cur = match snap {
        Some(s) => s.raw_iter(),
        None => db.raw_iter(),
    };
    let target = key(rng);
    cur.seek(&target);
    let keys: Vec<&Vec<u8>> = model.keys().collect();
    let mut pos = keys.partition_point(|k| k.as_slice() < target.as_slice());
    for _ in 0..20 {
        match keys.get(pos) {
            Some(k) => {
                assert!(cur.valid(), "{ctx}: cursor invalid, expected {k:?}");
                assert_eq!(cur.key(), k.as_slice(), "{ctx}: cursor key");
                assert_eq!(cur.value(), model[*k].as_slice(), "{ctx}: cursor value");
            }
            None => {
                assert!(!cur.valid(), "{ctx}: cursor should be exhausted");
                cur.status().unwrap();
                break;
            }
        }
        if rng.random_bool(0.6) {
            cur.next();
            pos += 1;
        } else {
            cur.prev();
            if pos == 0 {
                assert!(!cur.valid(), "{ctx}: cursor before first");
                break;
            }
            pos -= 1;
        }
    }
    cur.seek_for_prev(&target);
    let last_le = model.range(..=target.clone()).next_back();
    assert_eq!(
        cur.valid().then(|| cur.key().to_vec()),
        last_le.map(|(k, _)| k.clone()),
        "{ctx}: seek_for_prev"
    );
}

fn run(seed: u64, steps: usize, tiny_levels: bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = rng.random_range(20..120);
    cfg.sstable.block_size = 256;
    if tiny_levels {
        // Levels of a few KiB, so background compaction runs all the time and the
        // tree grows several levels deep within a few thousand operations.
        cfg.set("compaction.base_level_bytes", "1KiB").unwrap();
        cfg.set("compaction.level_fanout", "2").unwrap();
        cfg.set("compaction.target_file_bytes", "1KiB").unwrap();
        cfg.set("compaction.level0_file_trigger", "2").unwrap();
        cfg.memtable.max_entries = rng.random_range(10..40);
    }
    let mut deepest_levels = 0;
    let (mut flushes, mut compactions) = (0, 0);
    if seed % 2 == 1 {
        cfg.set("sstable.compression", "lz4").unwrap();
        // Some seeds mix uncompressed shallow levels with compressed deep ones.
        if seed % 4 == 3 {
            cfg.set("sstable.compression_from_level", "1").unwrap();
        }
    }
    let mut db = Lsm::open_with_config(cfg.clone()).unwrap();
    let mut model = Model::new();
    // Snapshots held across writes, flushes and reopen-free stretches.
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    // An iterator kept open across writes, flushes and compactions, with what it must
    // still yield (the view at its creation).
    let mut held: Option<(lsm::Iter, Expected)> = None;
    // Pinned values, with what they read: they must not change or go away.
    let mut pins: Vec<(lsm::PinnedValue, Vec<u8>)> = Vec::new();

    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        if step % 10 == 0 {
            match &mut held {
                None => {
                    let want = model_range(&model, &None, &None);
                    held = Some((db.iter(), want.into_iter()));
                }
                Some((it, want)) => {
                    for _ in 0..rng.random_range(1..20) {
                        let got = it.next().map(|r| r.expect("held iterator failed"));
                        let exp = want.next();
                        assert_eq!(got, exp, "{ctx}: iterator held across changes");
                        if exp.is_none() {
                            held = None;
                            break;
                        }
                    }
                }
            }
        }
        for (v, want) in &pins {
            assert_eq!(&v[..], &want[..], "{ctx}: a pinned value changed");
        }
        let used = db.stats().levels.iter().filter(|l| l.files > 0).count();
        deepest_levels = deepest_levels.max(used);
        match rng.random_range(0..100) {
            0..=44 => {
                let (k, v) = (key(&mut rng), value(&mut rng, step));
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            45..=54 => {
                let k = key(&mut rng);
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            55..=57 => {
                let (a, b) = (key(&mut rng), key(&mut rng));
                let (s, e) = (a.clone().min(b.clone()), a.max(b));
                db.delete_range(&s, &e).unwrap();
                let doomed: Vec<_> = model.range(s..e).map(|(k, _)| k.clone()).collect();
                for k in doomed {
                    model.remove(&k);
                }
            }
            58..=64 => {
                let mut b = WriteBatch::new();
                let mut next = model.clone();
                for _ in 0..rng.random_range(1..8) {
                    let k = key(&mut rng);
                    if rng.random_bool(0.7) {
                        let v = value(&mut rng, step);
                        b.put(&k, &v);
                        next.insert(k, v);
                    } else {
                        b.delete(&k);
                        next.remove(&k);
                    }
                }
                db.write(b).unwrap();
                model = next;
            }
            65..=72 => {
                let k = key(&mut rng);
                assert_eq!(
                    db.get(&k).unwrap(),
                    model.get(&k).cloned(),
                    "{ctx}: get {k:?}"
                );
            }
            73..=75 => {
                // Pinned: compared now, and kept (across writes, flushes, compactions
                // and reopens) to be compared again later.
                let k = key(&mut rng);
                let got = db.get_pinned(&k).unwrap();
                assert_eq!(
                    got.as_deref(),
                    model.get(&k).map(Vec::as_slice),
                    "{ctx}: get_pinned {k:?}"
                );
                if let Some(v) = got {
                    if pins.len() >= 16 {
                        pins.remove(rng.random_range(0..pins.len()));
                    }
                    pins.push((v, model[&k].clone()));
                }
            }
            76..=79 => {
                // Sorted, unsorted, repeated and missing keys together.
                let keys: Vec<Vec<u8>> = (0..rng.random_range(0..12))
                    .map(|_| key(&mut rng))
                    .collect();
                let want: Vec<Option<Vec<u8>>> =
                    keys.iter().map(|k| model.get(k).cloned()).collect();
                assert_eq!(db.multi_get(&keys).unwrap(), want, "{ctx}: multi_get");
                let pinned = db.multi_get_pinned(&keys).unwrap();
                let pinned: Vec<Option<Vec<u8>>> =
                    pinned.into_iter().map(|v| v.map(|v| v.to_vec())).collect();
                assert_eq!(pinned, want, "{ctx}: multi_get_pinned");
            }
            80..=85 => check_range(&db, None, &model, &mut rng, &ctx),
            86..=88 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                } else {
                    snaps.remove(rng.random_range(0..snaps.len()));
                }
            }
            89..=92 => {
                if let Some((s, m)) = snaps.get(rng.random_range(0..snaps.len().max(1))) {
                    let k = key(&mut rng);
                    assert_eq!(
                        s.get(&k).unwrap(),
                        m.get(&k).cloned(),
                        "{ctx}: snapshot get"
                    );
                    assert_eq!(
                        s.get_pinned(&k).unwrap().map(|v| v.to_vec()),
                        m.get(&k).cloned(),
                        "{ctx}: snapshot get_pinned"
                    );
                    let keys = [key(&mut rng), k.clone(), key(&mut rng)];
                    let want: Vec<Option<Vec<u8>>> =
                        keys.iter().map(|k| m.get(k).cloned()).collect();
                    assert_eq!(
                        s.multi_get(&keys).unwrap(),
                        want,
                        "{ctx}: snapshot multi_get"
                    );
                    check_range(&db, Some(s), m, &mut rng, &format!("{ctx} (snapshot)"));
                }
            }
            93..=94 => db.flush().unwrap(),
            95 => {
                if rng.random_bool(0.3) {
                    db.compact().unwrap();
                } else {
                    let (a, b) = (key(&mut rng), key(&mut rng));
                    db.compact_range(Some(&a.clone().min(b.clone())), Some(&a.max(b)))
                        .unwrap();
                }
            }
            _ => {
                // Reopen: snapshots cannot outlive the handle's engine meaningfully.
                snaps.clear();
                held = None;
                flushes += db.stats().flushes;
                compactions += db.stats().compactions;
                db.close().unwrap();
                assert!(matches!(db.get(b"x"), Err(lsm::LsmError::Closed)));
                db = Lsm::open_with_config(cfg.clone()).unwrap();
                check_range(&db, None, &model, &mut rng, &format!("{ctx} (reopened)"));
            }
        }
    }
    // Everything, point by point, before and after a final reopen.
    for k in model.keys() {
        assert_eq!(
            db.get(k).unwrap().as_ref(),
            model.get(k),
            "seed {seed}: final get"
        );
    }
    assert_eq!(collect(db.iter()), model_range(&model, &None, &None));
    flushes += db.stats().flushes;
    compactions += db.stats().compactions;
    assert!(
        flushes > 10,
        "seed {seed}: expected many flushes, got {flushes}"
    );
    if tiny_levels {
        assert!(
            deepest_levels >= 3,
            "seed {seed}: only {deepest_levels} levels in use"
        );
        assert!(
            compactions > 10,
            "seed {seed}: too few compactions: {compactions}"
        );
    }
    db.verify().unwrap();
    db.close().unwrap();
    drop(db);
    // The database is closed and its handle gone: pinned values still hold their
    // bytes.
    for (v, want) in &pins {
        assert_eq!(&v[..], &want[..], "seed {seed}: a pinned value after close");
    }
    let db = Lsm::open_with_config(cfg).unwrap();
    assert_eq!(
        collect(db.iter()),
        model_range(&model, &None, &None),
        "seed {seed}: after reopen"
    );
}

#[test]
fn model_seed_1() {
    run(1, 4000, false);
}

#[test]
fn model_seed_2() {
    run(2, 4000, false);
}

#[test]
fn model_compacting_seed_3() {
    run(3, 4000, true);
}

#[test]
fn model_compacting_seed_4() {
    run(4, 4000, true);
}

#[test]
fn model_compacting_seed_5() {
    run(5, 4000, true);
}
