//! Power loss, simulated with `MemFs::crash`: after a cut at any point the database
//! opens, and its content is the state after some prefix of the acknowledged history
//! that contains every synced write (`sync()`, `flush()`, a `sync: true` write, or any
//! write with `wal.sync = "always"`). Each seed runs several generations on the same
//! file system: write, cut, recover, check, write on the recovered database, cut again.

mod common;

use common::{
    apply, assert_gets, contents, describe_diff, exec, find_prefix, gen_op, to_batch, Op, State,
};
use lsm::fs::MemFs;
use lsm::{Config, Lsm, SyncMode, WriteOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const NKEYS: u32 = 200;
const GENERATIONS: usize = 3;

fn config(seed: u64, sync: SyncMode) -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = [16, 40, 120][(seed % 3) as usize];
    c.memtable.max_immutable = 2;
    c.sstable.block_size = 512;
    c.wal.sync = sync;
    c
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
}

/// One seed: `GENERATIONS` cuts on one file system.
fn run_seed(seed: u64, sync: SyncMode, tally: &mut Tally) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc0ffee);
    let cfg = config(seed, sync);
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
        for _ in 0..n_ops {
            let op = gen_op(seed, next_op, NKEYS);
            next_op += 1;
            let sync_write = rng.random_range(0..100) < 3;
            if sync_write {
                db.write_opt(to_batch(&op), WriteOptions { sync: true })
                    .unwrap();
            } else {
                exec(&db, &op).unwrap();
            }
            apply(&mut current, &op);
            pending.push(op);
            let r = rng.random_range(0..100);
            if r < 2 {
                db.sync().unwrap();
            } else if r < 4 {
                db.flush().unwrap();
            }
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
        // The cut happens now, possibly in the middle of a background flush.
        let after = fs.crash(torn);
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
        if sync == SyncMode::Always {
            assert_eq!(
                k,
                pending.len(),
                "wal.sync = always lost acknowledged writes"
            );
        }
        tally.cuts += 1;
        tally.ops += n_ops;
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
    for seed in 0..150 {
        run_seed(seed, SyncMode::None, &mut t);
    }
    eprintln!(
        "{} cuts, {} ops, {} unsynced ops lost, {} cuts with tables",
        t.cuts, t.ops, t.lost, t.with_tables
    );
    assert_eq!(t.cuts, 450);
    assert!(
        t.with_tables > 0,
        "no flush ever happened: the test is too weak"
    );
}

#[test]
fn power_cut_with_wal_sync_always_keeps_every_acknowledged_write() {
    let mut t = Tally::default();
    for seed in 1000..1060 {
        run_seed(seed, SyncMode::Always, &mut t);
    }
    eprintln!(
        "{} cuts, {} ops, {} cuts with tables",
        t.cuts, t.ops, t.with_tables
    );
    assert_eq!(t.cuts, 180);
    assert_eq!(t.lost, 0);
    assert!(
        t.with_tables > 0,
        "no flush ever happened: the test is too weak"
    );
}
