//! Keyspaces (issue 12): separate data and options per keyspace over one WAL,
//! sequence and manifest; batches and snapshots across them; drops that are durable
//! and never pull a file from under a reader; the shared memory budget; WAL segments
//! kept exactly as long as some keyspace needs them.

use lsm::fs::{FileSystem, MemFs};
use lsm::{Config, Keyspace, Lsm, LsmError, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn small() -> Config {
    let mut c = Config::with_root("db");
    c.cache.persist_on_close = false;
    c.memtable.max_entries = 200;
    c.compaction.level0_file_trigger = 2;
    c.compaction.base_level_bytes = 64 << 10;
    c.compaction.target_file_bytes = 16 << 10;
    c.sstable.block_size = 512;
    c
}

fn items(it: lsm::Iter) -> BTreeMap<Vec<u8>, Vec<u8>> {
    it.map(|r| r.unwrap()).collect()
}

fn tables(fs: &MemFs) -> usize {
    fs.list_dir(Path::new("db/ss_tables"))
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".sst"))
        .count()
}

fn wal_segments(fs: &MemFs) -> usize {
    fs.list_dir(Path::new("db/wals"))
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".log"))
        .count()
}

fn handle(db: &Lsm, name: &str) -> Option<Keyspace> {
    (name != "default").then(|| db.keyspace(name).unwrap())
}

fn check_all(db: &Lsm, model: &Model, what: &str) {
    let mut names = db.keyspaces();
    assert_eq!(names[0], "default", "{what}: \"default\" comes first");
    names.sort();
    assert_eq!(
        names,
        model.keys().cloned().collect::<Vec<_>>(),
        "{what}: the keyspaces"
    );
    for (name, want) in model {
        let ks = handle(db, name);
        let got = match &ks {
            Some(ks) => items(ks.iter()),
            None => items(db.iter()),
        };
        assert!(
            got == *want,
            "{what}: keyspace {name} differs from its model"
        );
        let back: Vec<_> = match &ks {
            Some(ks) => ks.iter().rev().map(|r| r.unwrap()).collect(),
            None => db.iter().rev().map(|r| r.unwrap()).collect(),
        };
        assert!(
            back.into_iter().eq(want.clone().into_iter().rev()),
            "{what}: {name} backwards"
        );
        for (k, v) in want.iter().take(20) {
            let got = match &ks {
                Some(ks) => ks.get(k).unwrap(),
                None => db.get(k).unwrap(),
            };
            assert_eq!(got.as_ref(), Some(v), "{what}: get in {name}");
        }
        // multi_get over present and absent keys, backwards.
        let mut keys: Vec<Vec<u8>> = want.keys().take(30).cloned().collect();
        keys.push(b"\xff-absent".to_vec());
        keys.reverse();
        let expect: Vec<_> = keys.iter().map(|k| want.get(k).cloned()).collect();
        let got = match &ks {
            Some(ks) => ks.multi_get(&keys).unwrap(),
            None => db.multi_get(&keys).unwrap(),
        };
        assert_eq!(got, expect, "{what}: multi_get in {name}");
    }
}

/// Random writes into four keyspaces (one with its own options), alone and in
/// batches spanning them, with flushes, compactions, snapshots, closes and power
/// cuts after a sync, against one map per keyspace.
#[test]
fn the_model_holds_for_every_keyspace_across_batches_snapshots_flushes_and_reopens() {
    let names = ["default", "a", "b", "c"];
    let mut rng = StdRng::seed_from_u64(12);
    let mut fs = MemFs::new();
    let mut db = Lsm::open_on(small(), Arc::new(fs.clone())).unwrap();
    db.keyspace("a").unwrap();
    db.keyspace_with("b", |o| {
        o.set("sstable.compression", "none")?;
        o.set("memtable.max_entries", "50")
    })
    .unwrap();
    db.keyspace_with("c", |o| o.set("sstable.bloom_bits_per_key", "0"))
        .unwrap();
    let mut model: Model = names
        .iter()
        .map(|n| (n.to_string(), BTreeMap::new()))
        .collect();
    let key = |rng: &mut StdRng| format!("k{:04}", rng.random_range(0..300)).into_bytes();
    for round in 0..12 {
        let snap = db.snapshot();
        let snap_model = model.clone();
        for i in 0..400 {
            let r = rng.random_range(0..100);
            let name = names[rng.random_range(0..names.len())];
            let ks = handle(&db, name);
            let k = key(&mut rng);
            let m = model.get_mut(name).unwrap();
            if r < 55 {
                let v = format!("{round}.{i}").into_bytes();
                match &ks {
                    Some(ks) => ks.put(&k, &v).unwrap(),
                    None => db.put(&k, &v).unwrap(),
                }
                m.insert(k, v);
            } else if r < 70 {
                match &ks {
                    Some(ks) => ks.delete(&k).unwrap(),
                    None => db.delete(&k).unwrap(),
                }
                m.remove(&k);
            } else if r < 75 {
                let mut end = k.clone();
                end[4] = b'9';
                match &ks {
                    Some(ks) => ks.delete_range(&k, &end).unwrap(),
                    None => db.delete_range(&k, &end).unwrap(),
                }
                m.retain(|x, _| !(x >= &k && x < &end));
            } else {
                // A batch spanning keyspaces.
                let mut b = WriteBatch::new();
                for j in 0..rng.random_range(2..8) {
                    let name = names[rng.random_range(0..names.len())];
                    let ks = handle(&db, name);
                    let k = key(&mut rng);
                    let m = model.get_mut(name).unwrap();
                    if rng.random_range(0..4) == 0 {
                        match &ks {
                            Some(ks) => b.delete_in(ks, &k),
                            None => b.delete(&k),
                        };
                        m.remove(&k);
                    } else {
                        let v = format!("{round}.{i}.{j}").into_bytes();
                        match &ks {
                            Some(ks) => b.put_in(ks, &k, &v),
                            None => b.put(&k, &v),
                        };
                        m.insert(k, v);
                    }
                }
                db.write(b).unwrap();
            }
        }
        // The snapshot still sees every keyspace as it was.
        for (name, want) in &snap_model {
            let got = match handle(&db, name) {
                Some(ks) => items(snap.iter_in(&ks)),
                None => items(snap.iter()),
            };
            assert!(
                got == *want,
                "round {round}: the snapshot of {name} changed"
            );
        }
        drop(snap);
        check_all(&db, &model, &format!("round {round}, live"));
        match round % 4 {
            0 => db.flush().unwrap(),
            1 => db.compact().unwrap(),
            2 => {
                db.close().unwrap();
                db = Lsm::open_on(small(), Arc::new(fs.clone())).unwrap();
                check_all(&db, &model, &format!("round {round}, after a reopen"));
            }
            _ => {
                // Power cut after a sync: every acknowledged write is back.
                db.sync().unwrap();
                let cut = fs.crash(Some(round));
                drop(db);
                fs = cut;
                db = Lsm::open_on(small(), Arc::new(fs.clone())).unwrap();
                check_all(&db, &model, &format!("round {round}, after a power cut"));
            }
        }
    }
    // Per-keyspace options survived every reopen.
    let b = db.keyspace("b").unwrap();
    assert_eq!(b.config().memtable.max_entries, 50);
    assert_eq!(b.config().sstable.compression, lsm::Compression::None);
    let c = db.keyspace("c").unwrap();
    assert_eq!(c.config().sstable.bloom_bits_per_key, 0);
    assert_eq!(c.config().memtable.max_entries, 200);
    db.verify().unwrap();
    assert_eq!(db.stats().keyspaces, 4);
}

#[test]
fn names_options_and_misuse_give_clear_errors() {
    let db = Lsm::open_on(small(), Arc::new(MemFs::new())).unwrap();
    for bad in ["", "a b", "ü", "x/y", &"n".repeat(65)] {
        assert!(
            matches!(db.keyspace(bad), Err(LsmError::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        db.drop_keyspace("default"),
        Err(LsmError::InvalidArgument(_))
    ));
    assert!(matches!(
        db.drop_keyspace("missing"),
        Err(LsmError::InvalidArgument(_))
    ));
    // A key a keyspace may not set, and a bad value, name the key.
    match db.keyspace_with("w", |o| o.set("wal.sync", "always")) {
        Err(LsmError::Config { key, .. }) => assert_eq!(key, "wal.sync"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        db.keyspace_with("w", |o| o.set("sstable.block_size", "tiny")),
        Err(LsmError::Config { .. })
    ));
    assert_eq!(db.keyspaces(), ["default"], "nothing was created");
    // Options are fixed at creation: the same ones are fine, others are refused.
    let opts = |o: &mut lsm::KeyspaceOptions| o.set("sstable.compression", "none");
    let a = db.keyspace_with("a", opts).unwrap();
    assert_eq!(db.keyspace_with("a", opts).unwrap().id(), a.id());
    assert_eq!(db.keyspace("a").unwrap().id(), a.id());
    assert!(matches!(
        db.keyspace_with("a", |o| o.set("sstable.compression", "zstd")),
        Err(LsmError::InvalidArgument(_))
    ));
    // "default" is the handle's own keyspace.
    let d = db.keyspace("default").unwrap();
    d.put(b"k", b"v").unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    // A keyspace of another database (even one with a keyspace of the same id) is
    // refused, never read or written somewhere else.
    let other = Lsm::open_on(small(), Arc::new(MemFs::new())).unwrap();
    let twin = other.keyspace("a").unwrap();
    assert_eq!(twin.id(), a.id());
    let mut b = WriteBatch::new();
    b.put_in(&a, b"x", b"1");
    assert!(matches!(other.write(b), Err(LsmError::InvalidArgument(_))));
    let mut b = WriteBatch::new();
    b.put_in(&a, b"x", b"1").put_in(&twin, b"y", b"2");
    assert!(matches!(
        db.write(b.clone()),
        Err(LsmError::InvalidArgument(_))
    ));
    assert!(matches!(other.write(b), Err(LsmError::InvalidArgument(_))));
    assert_eq!(twin.iter().count(), 0);
    let snap = other.snapshot();
    assert!(matches!(
        snap.get_in(&a, b"k"),
        Err(LsmError::InvalidArgument(_))
    ));
    assert!(matches!(
        snap.multi_get_in(&a, &[b"k"]),
        Err(LsmError::InvalidArgument(_))
    ));
    assert!(matches!(
        snap.iter_in(&a).next(),
        Some(Err(LsmError::InvalidArgument(_)))
    ));
    let mut tx = other.transaction();
    assert!(matches!(
        tx.get_in(&a, b"k"),
        Err(LsmError::InvalidArgument(_))
    ));
    tx.put_in(&a, b"k", b"v");
    assert!(matches!(tx.commit(), Err(LsmError::InvalidArgument(_))));
    assert_eq!(a.iter().count(), 0);
    // After close every call says so.
    db.close().unwrap();
    assert!(matches!(a.put(b"k", b"v"), Err(LsmError::Closed)));
    assert!(matches!(a.get(b"k"), Err(LsmError::Closed)));
    assert!(matches!(a.get_pinned(b"k"), Err(LsmError::Closed)));
    assert!(matches!(a.multi_get(&[b"k"]), Err(LsmError::Closed)));
    assert!(matches!(db.multi_get(&[b"k"]), Err(LsmError::Closed)));
    assert!(matches!(db.keyspace("z"), Err(LsmError::Closed)));
    assert!(matches!(db.drop_keyspace("a"), Err(LsmError::Closed)));
    assert!(a.iter().next().unwrap().is_err());
}

/// A dropped keyspace is gone for later reads and writes, also after a reopen and
/// after a power cut that follows the drop; its name can be used again for a new,
/// empty keyspace; its tables are deleted.
#[test]
fn a_drop_is_durable_and_deletes_the_files() {
    let fs = MemFs::new();
    let db = Lsm::open_on(small(), Arc::new(fs.clone())).unwrap();
    let logs = db.keyspace("logs").unwrap();
    let keep = db.keyspace("keep").unwrap();
    for i in 0..2000u32 {
        logs.put(format!("{i:05}").as_bytes(), b"entry").unwrap();
        keep.put(format!("{i:05}").as_bytes(), b"kept").unwrap();
    }
    db.flush().unwrap();
    // Unflushed writes too, in the WAL only.
    logs.put(b"late", b"x").unwrap();
    let before = tables(&fs);
    db.drop_keyspace("logs").unwrap();
    assert_eq!(db.keyspaces(), ["default", "keep"]);
    assert!(logs.is_dropped());
    for r in [
        logs.put(b"k", b"v"),
        logs.get(b"k").map(|_| ()),
        logs.get_pinned(b"k").map(|_| ()),
        logs.multi_get(&[b"k"]).map(|_| ()),
        logs.delete(b"k"),
        logs.compact(),
    ] {
        match r {
            Err(LsmError::InvalidArgument(m)) => assert!(m.contains("logs"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        logs.iter().next(),
        Some(Err(LsmError::InvalidArgument(_)))
    ));
    let mut b = WriteBatch::new();
    b.put_in(&keep, b"a", b"1").put_in(&logs, b"b", b"2");
    assert!(matches!(db.write(b), Err(LsmError::InvalidArgument(_))));
    assert_eq!(
        keep.get(b"a").unwrap(),
        None,
        "the failed batch wrote nothing"
    );
    assert!(
        tables(&fs) < before,
        "the dropped keyspace's tables are deleted"
    );

    let cut = fs.crash(Some(7));
    drop((logs, keep));
    db.close().unwrap();
    for (what, fs) in [("reopen", fs), ("power cut", cut)] {
        let db = Lsm::open_on(small(), Arc::new(fs)).unwrap();
        assert_eq!(db.keyspaces(), ["default", "keep"], "{what}");
        assert_eq!(db.keyspace("keep").unwrap().iter().count(), 2000, "{what}");
        let again = db.keyspace("logs").unwrap();
        assert_eq!(
            again.iter().count(),
            0,
            "{what}: a new keyspace of the old name"
        );
        assert_eq!(
            again.get(b"late").unwrap(),
            None,
            "{what}: WAL writes stay dropped"
        );
        db.close().unwrap();
    }
}

/// Iterators made before a drop go on reading every entry while other threads drop
/// the keyspace, flush and compact; the files are deleted only once they are done.
#[test]
fn a_drop_racing_readers_never_deletes_a_file_an_iterator_needs() {
    for round in 0..8u32 {
        let fs = MemFs::new();
        let db = Lsm::open_on(small(), Arc::new(fs.clone())).unwrap();
        let ks = db.keyspace("hot").unwrap();
        for i in 0..3000u32 {
            ks.put(format!("{i:05}").as_bytes(), format!("v{i}").as_bytes())
                .unwrap();
        }
        db.flush().unwrap();
        let hot_files = fs.list_dir(Path::new("db/ss_tables")).unwrap();
        let iters: Vec<lsm::Iter> = (0..4).map(|_| ks.iter()).collect();
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let readers: Vec<_> = iters
            .into_iter()
            .enumerate()
            .map(|(t, it)| {
                let barrier = barrier.clone();
                let ks = ks.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut n = 0u32;
                    let mut it = it;
                    if t % 2 == 1 {
                        // Read from the back too.
                        while let Some(r) = it.next_back() {
                            let (k, v) = r.unwrap();
                            assert_eq!(v, format!("v{}", 2999 - n).into_bytes(), "{k:?}");
                            n += 1;
                        }
                    } else {
                        for r in it {
                            let (k, v) = r.unwrap();
                            assert_eq!(k, format!("{n:05}").into_bytes());
                            assert_eq!(v, format!("v{n}").into_bytes());
                            n += 1;
                        }
                    }
                    assert_eq!(n, 3000, "an iterator lost entries");
                    // Reads started now see the drop (or, if it has not happened
                    // yet, the data), never a wrong value.
                    match ks.get(b"00007") {
                        Ok(v) => assert_eq!(v.as_deref(), Some(&b"v7"[..])),
                        Err(LsmError::InvalidArgument(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        barrier.wait();
        if round % 2 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        db.drop_keyspace("hot").unwrap();
        // More work that deletes files while the readers go on.
        for i in 0..2000u32 {
            db.put(format!("{i:05}").as_bytes(), b"d").unwrap();
        }
        db.flush().unwrap();
        db.compact().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        drop(ks);
        // Now nothing holds the dropped tables: only the default keyspace's remain.
        // Once the last job lets go of its inputs, only the default keyspace's tables
        // remain.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let live = || db.stats().levels.iter().map(|l| l.files).sum::<usize>();
        while tables(&fs) != live() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let live = live();
        let now = fs.list_dir(Path::new("db/ss_tables")).unwrap();
        assert!(
            !now.iter().any(|f| hot_files.contains(f)),
            "round {round}: a dropped table was left behind: {now:?}"
        );
        assert_eq!(
            tables(&fs),
            live,
            "round {round}: a table was left behind: {now:?}"
        );
        db.close().unwrap();
        let db = Lsm::open_on(small(), Arc::new(fs)).unwrap();
        assert_eq!(db.keyspaces(), ["default"]);
        db.close().unwrap();
    }
}

/// A keyspace written once keeps its WAL segment alive while another one rotates
/// the WAL many times: the segment survives until that write is in a table (it
/// comes back after a power cut), and then goes, so the WAL stays short.
#[test]
fn wal_segments_live_exactly_as_long_as_a_keyspace_needs_them() {
    let fs = MemFs::new();
    let mut c = small();
    c.memtable.max_entries = 50;
    let db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).unwrap();
    let rare = db.keyspace("rare").unwrap();
    rare.put(b"once", b"kept").unwrap();
    let mut max_segments = 0;
    for i in 0..3000u32 {
        db.put(format!("{i:05}").as_bytes(), b"busy").unwrap();
        if i == 100 {
            db.sync().unwrap();
            // The rare write is only in an old segment now.
            let cut = fs.crash(None);
            let db2 = Lsm::open_on(c.clone(), Arc::new(cut)).unwrap();
            assert_eq!(
                db2.keyspace("rare")
                    .unwrap()
                    .get(b"once")
                    .unwrap()
                    .as_deref(),
                Some(&b"kept"[..]),
                "the rare keyspace's write was lost with an old WAL segment"
            );
            db2.close().unwrap();
        }
        max_segments = max_segments.max(wal_segments(&fs));
    }
    // 60 rotations happened; a stale memtable is flushed after 8 of them (and up to
    // `max_immutable` full memtables wait for their flush meanwhile).
    assert!(db.stats().flushes >= 50);
    assert!(
        max_segments <= 16,
        "{max_segments} WAL segments were kept for one old write"
    );
    db.close().unwrap();
    let db = Lsm::open_on(c, Arc::new(fs)).unwrap();
    assert_eq!(
        db.keyspace("rare")
            .unwrap()
            .get(b"once")
            .unwrap()
            .as_deref(),
        Some(&b"kept"[..])
    );
}

/// `memtable.total_bytes` bounds the memtables of all keyspaces together: twenty
/// keyspaces whose own limits are far away still flush, and lose nothing.
#[test]
fn the_write_buffer_manager_flushes_the_largest_memtable_past_the_shared_budget() {
    let mut c = small();
    c.memtable.max_entries = 10_000_000;
    c.memtable.max_bytes = 64 << 20;
    c.memtable.total_bytes = 1 << 20;
    let db = Lsm::open_on(c.clone(), Arc::new(MemFs::new())).unwrap();
    let spaces: Vec<Keyspace> = (0..20)
        .map(|i| db.keyspace(&format!("ks{i}")).unwrap())
        .collect();
    let value = vec![7u8; 1000];
    for i in 0..6000u32 {
        let ks = &spaces[(i % 20) as usize];
        ks.put(format!("{i:06}").as_bytes(), &value).unwrap();
    }
    let flushes = db.stats().flushes;
    // 6 MB of writes into a 1 MiB budget.
    assert!(
        flushes >= 4,
        "only {flushes} flushes for 6 MB in a 1 MiB budget"
    );
    for i in (0..6000u32).step_by(7) {
        let ks = &spaces[(i % 20) as usize];
        assert_eq!(
            ks.get(format!("{i:06}").as_bytes()).unwrap().as_ref(),
            Some(&value)
        );
    }
    // Without the shared limit the same writes fit every keyspace's own memtable.
    let mut unbounded = c;
    unbounded.memtable.total_bytes = 0;
    let db = Lsm::open_on(unbounded, Arc::new(MemFs::new())).unwrap();
    for i in 0..6000u32 {
        db.keyspace(&format!("ks{}", i % 20))
            .unwrap()
            .put(format!("{i:06}").as_bytes(), &value)
            .unwrap();
    }
    assert_eq!(db.stats().flushes, 0);
}

/// Transactions across keyspaces: write skew between keys of two keyspaces, and a
/// range read inside a keyspace, are conflicts; the same range in another keyspace
/// is not.
#[test]
fn transactions_see_conflicts_per_keyspace() {
    let db = Lsm::open_on(small(), Arc::new(MemFs::new())).unwrap();
    let a = db.keyspace("a").unwrap();
    let b = db.keyspace("b").unwrap();
    a.put(b"x", b"1").unwrap();
    b.put(b"y", b"1").unwrap();
    let mut t1 = db.transaction();
    let mut t2 = db.transaction();
    for t in [&mut t1, &mut t2] {
        assert!(t.get_in(&a, b"x").unwrap().is_some());
        assert!(t.get_in(&b, b"y").unwrap().is_some());
    }
    t1.put_in(&a, b"x", b"0");
    t2.put_in(&b, b"y", b"0");
    t1.commit().unwrap();
    assert!(matches!(t2.commit(), Err(LsmError::Conflict)), "write skew");
    assert_eq!(b.get(b"y").unwrap().as_deref(), Some(&b"1"[..]));

    // A range iterated in keyspace a.
    let mut t = db.transaction();
    assert_eq!(t.range_in(&a, b"m".as_slice()..b"n".as_slice()).count(), 0);
    t.put_in(&a, b"z", b"1");
    db.put(b"mm", b"same range, default keyspace").unwrap();
    b.put(b"mm", b"same range, keyspace b").unwrap();
    t.commit().unwrap();
    let mut t = db.transaction();
    assert_eq!(t.prefix_in(&a, b"m").count(), 0);
    t.put_in(&b, b"w", b"1");
    a.put(b"mq", b"into the range read").unwrap();
    assert!(matches!(t.commit(), Err(LsmError::Conflict)));
    assert_eq!(
        b.get(b"w").unwrap(),
        None,
        "a failed commit applies nothing"
    );

    // Own writes are read back per keyspace.
    let mut t = db.transaction();
    t.put_in(&a, b"k", b"in a");
    t.put(b"k", b"in default");
    assert_eq!(t.get_in(&a, b"k").unwrap().as_deref(), Some(&b"in a"[..]));
    assert_eq!(t.get_in(&b, b"k").unwrap(), None);
    let seen: Vec<_> = t.iter_in(&a).map(|r| r.unwrap().0).collect();
    let want: [&[u8]; 4] = [b"k", b"mq", b"x", b"z"];
    assert_eq!(seen, want);
    t.commit().unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"in default"[..]));
    assert_eq!(a.get(b"k").unwrap().as_deref(), Some(&b"in a"[..]));

    // A keyspace dropped before the commit fails it cleanly.
    let mut t = db.transaction();
    t.put_in(&b, b"late", b"1");
    db.drop_keyspace("b").unwrap();
    assert!(matches!(t.commit(), Err(LsmError::InvalidArgument(_))));
}

/// A checkpoint holds every keyspace, and opens with them.
#[test]
fn a_checkpoint_holds_every_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::with_root(dir.path().join("db"));
    c.cache.persist_on_close = false;
    let db = Lsm::open_with_config(c).unwrap();
    let a = db
        .keyspace_with("a", |o| o.set("sstable.compression", "none"))
        .unwrap();
    a.put(b"flushed", b"1").unwrap();
    db.put(b"d", b"1").unwrap();
    db.flush().unwrap();
    a.put(b"in-wal", b"2").unwrap();
    db.checkpoint(dir.path().join("copy")).unwrap();
    let mut c2 = Config::with_root(dir.path().join("copy"));
    c2.cache.persist_on_close = false;
    let copy = Lsm::open_with_config(c2).unwrap();
    assert_eq!(copy.keyspaces(), ["default", "a"]);
    let ca = copy.keyspace("a").unwrap();
    assert_eq!(ca.get(b"flushed").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(ca.get(b"in-wal").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(ca.config().sstable.compression, lsm::Compression::None);
    assert_eq!(copy.get(b"d").unwrap().as_deref(), Some(&b"1"[..]));
}
