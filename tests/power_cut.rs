//! Power loss, simulated with `MemFs::crash_with`: after a cut at any point the
//! database opens, and its content is the state after some prefix of the acknowledged
//! history that contains every synced write (`sync()`, `flush()`, a `sync: true` write,
//! or any write with `wal.sync = "always"`). Each seed runs several generations on the
//! same file system: write, cut, recover, check, write on the recovered database, cut
//! again. Seeds alternate between two models of what a cut keeps of unsynced data: a
//! prefix (a torn append), or any subset of its 4 KiB pages with the lost ones read as
//! zeros (a disk writing back dirty pages in any order).

mod common;

use common::{
    apply, assert_gets, contents, describe_diff, exec, find_prefix, gen_op, to_batch, Op, State,
};
use lsm::fs::{CrashModel, MemFs};
use lsm::{Config, Lsm, SyncMode, WriteOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const NKEYS: u32 = 200;
const GENERATIONS: usize = 3;

/// The number of cuts of a power-cut test: `LSM_POWER_CUTS` when set (the long run,
/// see `scripts/reliability_long.sh`), else the test's short default.
fn cuts(default: usize) -> usize {
    std::env::var("LSM_POWER_CUTS")
        .ok()
        .map(|v| v.parse().expect("LSM_POWER_CUTS must be a number"))
        .unwrap_or(default)
}

fn config(seed: u64, sync: SyncMode) -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = [16, 40, 120][(seed % 3) as usize];
    c.memtable.max_immutable = 2;
    c.sstable.block_size = 512;
    c.wal.sync = sync;
    c
}

/// Tiny levels: flushes and compactions run most of the time, so cuts land in them.
fn compacting(seed: u64, sync: SyncMode) -> Config {
    let mut c = config(seed, sync);
    c.memtable.max_entries = [8, 16, 30][(seed % 3) as usize];
    c.sstable.block_size = 256;
    for (k, v) in [
        ("compaction.base_level_bytes", "4KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "2KiB"),
        ("compaction.level0_file_trigger", "2"),
        // Concurrent compactions and subcompactions, so cuts land in them.
        ("compaction.background_threads", "3"),
        ("compaction.max_subcompactions", "3"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// How the power goes out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Whenever the test thread gets there (background work races it).
    Now,
    /// At a chosen file operation a little ahead: from it on every operation fails, as
    /// if the machine had stopped, then the cut. Lands inside flushes, compactions and
    /// manifest edits at exact points.
    AtOp,
}

/// The crash model of a seed: odd seeds lose unsynced pages in any order, even ones a
/// suffix (a torn prefix of the unsynced tail when `torn` is set).
fn model_for(seed: u64, torn: Option<u64>) -> CrashModel {
    match (seed % 2, torn) {
        (1, t) => CrashModel::Holes {
            seed: t.unwrap_or(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        },
        (_, Some(seed)) => CrashModel::Torn { seed },
        (_, None) => CrashModel::Synced,
    }
}

/// What a run went through.
#[derive(Default)]
struct Tally {
    cuts: usize,
    ops: u64,
    /// Operations acknowledged but lost to a cut (allowed when not synced).
    lost: usize,
    /// Cuts after which the database held at least one table.
    with_tables: usize,
    /// Cuts under the hole model (unsynced pages lost in any order).
    holes: usize,
}

/// One seed: `GENERATIONS` cuts on one file system.
fn run_seed(seed: u64, sync: SyncMode, tally: &mut Tally) {
    run_seed_with(seed, sync, config(seed, sync), Cut::Now, gen_op, tally)
}

/// `gen_op` with every put's value grown to 1-3 KiB: a few writes span several pages,
/// so the hole model loses pages in the middle of the unsynced tail.
fn gen_big_op(seed: u64, index: u64, nkeys: u32) -> Op {
    let grow = |op: Op| match op {
        Op::Put(k, mut v) => {
            let n = 1000 + (index as usize * 7919 + v.len() * 31) % 2000;
            v.resize(n, b'a' + (index % 26) as u8);
            Op::Put(k, v)
        }
        other => other,
    };
    match gen_op(seed, index, nkeys) {
        Op::Batch(ops) => Op::Batch(ops.into_iter().map(grow).collect()),
        Op::Tx(ops) => Op::Tx(ops.into_iter().map(grow).collect()),
        op => grow(op),
    }
}

fn run_seed_with(
    seed: u64,
    sync: SyncMode,
    cfg: Config,
    cut: Cut,
    gen: fn(u64, u64, u32) -> Op,
    tally: &mut Tally,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc0ffee);
    let mut fs = MemFs::new();
    let mut db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone())).unwrap();
    let mut model = State::new();
    let mut next_op = 0u64;
    for generation in 0..GENERATIONS {
        // `synced` is the state at the last sync point; `pending` the operations
        // acknowledged after it, in order.
        let mut synced = model.clone();
        let mut pending: Vec<Op> = Vec::new();
        let mut current = model.clone();
        let n_ops: u64 = rng.random_range(1..350);
        // With `Cut::AtOp`, the machine stops at a file operation during the last
        // stretch of writes; the writes that fail then are not acknowledged (but may
        // have reached the file: they stay possible, never required).
        let stop_at = (cut == Cut::AtOp).then(|| n_ops.saturating_sub(rng.random_range(0..20)));
        let mut ops_done = 0;
        for i in 0..n_ops {
            if stop_at == Some(i) {
                fs.fail_after(rng.random_range(1..60), false);
            }
            let op = gen(seed, next_op, NKEYS);
            next_op += 1;
            ops_done += 1;
            let sync_write = rng.random_range(0..100) < 3;
            let r = if sync_write {
                db.keyspace(common::SECOND)
                    .and_then(|ks| db.write_opt(to_batch(&ks, &op), WriteOptions { sync: true }))
            } else {
                exec(&db, &op)
            };
            if r.is_err() && stop_at.is_some() {
                pending.push(op);
                break;
            }
            r.unwrap();
            apply(&mut current, &op);
            pending.push(op);
            let r = rng.random_range(0..100);
            let point = if r < 2 {
                db.sync()
            } else if r < 4 {
                db.flush()
            } else {
                Ok(())
            };
            if point.is_err() && stop_at.is_some() {
                break;
            }
            point.unwrap();
            if sync_write || r < 4 || sync == SyncMode::Always {
                synced = current.clone();
                pending.clear();
            }
        }
        let torn = if rng.random_bool(0.6) {
            Some(rng.random::<u64>())
        } else {
            None
        };
        let torn = model_for(seed, torn);
        // The cut happens now, possibly in the middle of a background flush.
        let after = fs.crash_with(torn);
        drop(db);

        let recovered = Lsm::open_on(cfg.clone(), Arc::new(after.clone())).unwrap_or_else(|e| {
            panic!("seed {seed} generation {generation} ({sync:?}, torn {torn:?}): open after power cut failed: {e}")
        });
        let got = contents(&recovered);
        let Some(k) = find_prefix(&got, &synced, &pending) else {
            panic!(
                "seed {seed} generation {generation} ({sync:?}, torn {torn:?}): the recovered \
                 content is no prefix of the history between the last synced write and the \
                 last acknowledged one ({} ops apart); vs the last synced state: {}; vs the \
                 acknowledged state: {}",
                pending.len(),
                describe_diff(&got, &synced),
                describe_diff(&got, &current)
            )
        };
        if sync == SyncMode::Always && cut == Cut::Now {
            assert_eq!(
                k,
                pending.len(),
                "wal.sync = always lost acknowledged writes"
            );
        }
        tally.cuts += 1;
        tally.holes += usize::from(matches!(torn, CrashModel::Holes { .. }));
        tally.ops += ops_done;
        tally.lost += pending.len() - k;
        if recovered.stats().levels.iter().any(|l| l.files > 0) {
            tally.with_tables += 1;
        }
        model = got;
        // Unacknowledged-by-the-model operations are re-issued from the history.
        next_op -= (pending.len() - k) as u64;
        assert_gets(&recovered, &model, NKEYS);
        recovered
            .verify()
            .unwrap_or_else(|e| panic!("seed {seed} generation {generation}: verify: {e}"));
        fs = after;
        db = recovered;
    }
    drop(db);
}

#[test]
fn power_cut_without_wal_sync_keeps_a_prefix_with_every_synced_write() {
    let mut t = Tally::default();
    let seeds = (cuts(450) / GENERATIONS) as u64;
    for seed in 0..seeds {
        run_seed(seed, SyncMode::None, &mut t);
    }
    eprintln!(
        "{} cuts ({} under the hole model), {} ops, {} unsynced ops lost, {} cuts with tables",
        t.cuts, t.holes, t.ops, t.lost, t.with_tables
    );
    assert_eq!(t.cuts, seeds as usize * GENERATIONS);
    assert!(
        t.with_tables > 0,
        "no flush ever happened: the test is too weak"
    );
}

#[test]
fn power_cut_with_wal_sync_always_keeps_every_acknowledged_write() {
    let mut t = Tally::default();
    let seeds = (cuts(180) / GENERATIONS) as u64;
    for seed in 1000..1000 + seeds {
        run_seed(seed, SyncMode::Always, &mut t);
    }
    eprintln!(
        "{} cuts ({} under the hole model), {} ops, {} cuts with tables",
        t.cuts, t.holes, t.ops, t.with_tables
    );
    assert_eq!(t.cuts, seeds as usize * GENERATIONS);
    assert_eq!(t.lost, 0);
    assert!(
        t.with_tables > 0,
        "no flush ever happened: the test is too weak"
    );
}

/// Tiny levels (base level 4 KiB, fanout 2, 2 KiB files, compaction at 2 level-0
/// files): cuts land in flushes, compactions and their manifest edits, half of them at
/// an exact file operation. Every open succeeds; every synced write is there.
#[test]
fn power_cut_during_compactions_keeps_every_synced_write() {
    let mut t = Tally::default();
    let seeds = (cuts(150) / GENERATIONS) as u64;
    for seed in 2000..2000 + seeds {
        let sync = if seed % 4 == 0 {
            SyncMode::Always
        } else {
            SyncMode::None
        };
        let cut = if seed % 2 == 0 { Cut::AtOp } else { Cut::Now };
        run_seed_with(seed, sync, compacting(seed, sync), cut, gen_op, &mut t);
    }
    eprintln!(
        "compacting: {} cuts ({} under the hole model), {} ops, {} unsynced ops lost, {} cuts with tables",
        t.cuts, t.holes, t.ops, t.lost, t.with_tables
    );
    assert!(
        t.with_tables > t.cuts / 2,
        "too few flushes: the test is too weak"
    );
}

/// Values of 1-3 KiB and rare syncs: the unsynced tail of the WAL spans many pages, so
/// under the hole model valid records often follow a lost page. The database opens
/// with the history up to the first hole (never a record after it), and every synced
/// write is there.
#[test]
fn power_cut_with_holes_in_a_long_unsynced_tail_keeps_a_prefix() {
    let mut t = Tally::default();
    let seeds = (cuts(90) / GENERATIONS) as u64;
    for seed in 3000..3000 + seeds {
        let mut cfg = config(seed, SyncMode::None);
        cfg.memtable.max_entries = 400;
        // Odd seeds: the hole model (see `model_for`).
        run_seed_with(seed | 1, SyncMode::None, cfg, Cut::Now, gen_big_op, &mut t);
    }
    eprintln!(
        "holes: {} cuts ({} under the hole model), {} ops, {} unsynced ops lost",
        t.cuts, t.holes, t.ops, t.lost
    );
    assert!(t.lost > 0, "no cut lost anything: the test is too weak");
}

/// Every open writes a new manifest and swaps CURRENT to it (create, append, sync,
/// directory sync, CURRENT.tmp, rename, directory sync, old manifest deleted). A cut at
/// each of those operations, torn or not: the next open succeeds with everything.
#[test]
fn power_cut_during_a_manifest_swap_loses_nothing() {
    let mut t = Tally::default();
    let rounds = cuts(60).div_ceil(30) as u64;
    for round in 0..rounds {
        let cfg = compacting(round, SyncMode::None);
        let fs = MemFs::new();
        let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone())).unwrap();
        let mut model = State::new();
        for i in 0..150 + round * 37 {
            let op = gen_op(round + 77, i, NKEYS);
            exec(&db, &op).unwrap();
            apply(&mut model, &op);
        }
        db.sync().unwrap();
        let base = fs.crash(None);
        drop(db);
        // The operations of one clean open of `base`.
        let probe = base.crash(None);
        let before = probe.ops();
        drop(Lsm::open_on(cfg.clone(), Arc::new(probe.clone())).unwrap());
        let open_ops = probe.ops() - before;
        for k in 1..=open_ops.min(30) {
            let fs = base.crash(None);
            fs.fail_after(k, false);
            // The open may fail (its k-th operation did) or succeed; then the power goes.
            let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone()));
            let torn = (k % 2 == 0).then_some(k * 7919 + round);
            let torn = model_for(k / 2 + round, torn);
            let cut = fs.crash_with(torn);
            drop(db);
            let db = Lsm::open_on(cfg.clone(), Arc::new(cut.clone())).unwrap_or_else(|e| {
                panic!("round {round}: cut at operation {k} of the open: reopen failed: {e}")
            });
            let got = contents(&db);
            assert!(
                got == model,
                "round {round}: cut at operation {k} of the open: {}",
                describe_diff(&got, &model)
            );
            db.verify().unwrap();
            t.cuts += 1;
        }
    }
    eprintln!("manifest swaps: {} cuts", t.cuts);
}

/// A power cut during the open that drops a torn tail (or a hole) from the last
/// segment: the open creates a new segment before its manifest edit retires the old
/// one, so a cut in between leaves the torn segment followed by an empty one. Every
/// later open succeeds, with what the first clean open would have found.
#[test]
fn power_cut_during_the_open_after_a_torn_tail_loses_nothing_more() {
    let mut t = Tally::default();
    let rounds = cuts(40).div_ceil(20) as u64;
    for round in 0..rounds {
        let cfg = config(round, SyncMode::None);
        let fs = MemFs::new();
        let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone())).unwrap();
        for i in 0..30 {
            exec(&db, &gen_big_op(round + 5, i, NKEYS)).unwrap();
        }
        db.sync().unwrap();
        for i in 30..60 {
            exec(&db, &gen_big_op(round + 5, i, NKEYS)).unwrap();
        }
        let base = fs.crash_with(model_for(round, Some(round * 31 + 7)));
        drop(db);
        // What a clean open of `base` recovers, and how many operations it takes.
        let probe = base.crash(None);
        let before = probe.ops();
        let db = Lsm::open_on(cfg.clone(), Arc::new(probe.clone())).unwrap();
        let open_ops = probe.ops() - before;
        let want = contents(&db);
        drop(db);
        for k in 1..=open_ops.min(20) {
            let fs = base.crash(None);
            fs.fail_after(k, false);
            let db = Lsm::open_on(cfg.clone(), Arc::new(fs.clone()));
            let cut = fs.crash(None);
            drop(db);
            let db = Lsm::open_on(cfg.clone(), Arc::new(cut)).unwrap_or_else(|e| {
                panic!("round {round}: cut at operation {k} of the open: reopen failed: {e}")
            });
            let got = contents(&db);
            assert!(
                got == want,
                "round {round}: cut at operation {k}: {}",
                describe_diff(&got, &want)
            );
            t.cuts += 1;
        }
    }
    eprintln!("opens after a torn tail: {} cuts", t.cuts);
}
