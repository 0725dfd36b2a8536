//! The transaction mode (`--tx`): optimistic transactions side by side, lsm's
//! `Lsm::transaction` against RocksDB's `OptimisticTransactionDB` and fjall's
//! `OptimisticTxDatabase`, with the options of the other modes.
//!
//! - `tx_rmw`: one thread, `--num` transactions, each reading one random key of
//!   `--num / 10` preloaded ones (tracked for conflicts: RocksDB `get_for_update`) and
//!   writing it back incremented.
//! - `tx_counter`: `--threads` threads incrementing one key, `--num / 10` committed
//!   increments in all, each retried until it commits; ops/s counts commits, and the
//!   conflict rate is conflicts / attempts. The final value is checked.
//!
//! Engines run one after another on fresh directories under `--dir`, `--reps` times,
//! interleaved; the median is reported.

use crate::engine::{self, Kind, Res};
use crate::{Args, Rng};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One engine's optimistic transactions.
trait TxDb: Sync {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()>;
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>>;
    /// Reads `key` (0 when missing) and writes it back plus one, in one transaction;
    /// false on a conflict (nothing written).
    fn increment(&self, key: &[u8]) -> Res<bool>;
}

fn parse(v: Option<&[u8]>) -> u64 {
    v.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

struct LsmTx(lsm::Lsm);

impl TxDb for LsmTx {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn increment(&self, key: &[u8]) -> Res<bool> {
        let mut tx = self.0.transaction();
        let n = parse(tx.get(key).map_err(|e| e.to_string())?.as_deref());
        tx.put(key, (n + 1).to_string().as_bytes());
        match tx.commit() {
            Ok(()) => Ok(true),
            Err(lsm::LsmError::Conflict) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(feature = "rocksdb")]
struct RocksTx(rocksdb::OptimisticTransactionDB<rocksdb::MultiThreaded>);

#[cfg(feature = "rocksdb")]
impl TxDb for RocksTx {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn increment(&self, key: &[u8]) -> Res<bool> {
        let tx = self.0.transaction();
        let n = parse(
            tx.get_for_update(key, true)
                .map_err(|e| e.to_string())?
                .as_deref(),
        );
        tx.put(key, (n + 1).to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        match tx.commit() {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    rocksdb::ErrorKind::Busy | rocksdb::ErrorKind::TryAgain
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

struct FjallTx {
    ks: fjall::OptimisticTxKeyspace,
    db: fjall::OptimisticTxDatabase,
}

impl TxDb for FjallTx {
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.ks.insert(key, value).map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        Ok(self
            .ks
            .get(key)
            .map_err(|e| e.to_string())?
            .map(|v| v.to_vec()))
    }
    fn increment(&self, key: &[u8]) -> Res<bool> {
        use fjall::Readable;
        let mut tx = self.db.write_tx().map_err(|e| e.to_string())?;
        let n = parse(tx.get(&self.ks, key).map_err(|e| e.to_string())?.as_deref());
        tx.insert(&self.ks, key, (n + 1).to_string().as_bytes());
        match tx.commit().map_err(|e| e.to_string())? {
            Ok(()) => Ok(true),
            Err(_conflict) => Ok(false),
        }
    }
}

fn open(kind: Kind, dir: &Path) -> Res<Box<dyn TxDb>> {
    Ok(match kind {
        Kind::Lsm => Box::new(LsmTx(
            lsm::Lsm::open_with_config(engine::lsm_config(dir)?).map_err(|e| e.to_string())?,
        )),
        #[cfg(feature = "rocksdb")]
        Kind::RocksDb | Kind::RocksDbBounded => {
            let o = engine::rocks_options();
            Box::new(RocksTx(
                rocksdb::OptimisticTransactionDB::open(&o, dir).map_err(|e| e.to_string())?,
            ))
        }
        #[cfg(not(feature = "rocksdb"))]
        Kind::RocksDb | Kind::RocksDbBounded => return Err("built without `rocksdb`".into()),
        Kind::Fjall => {
            let db = fjall::OptimisticTxDatabase::builder(dir)
                .cache_size(engine::CACHE_BYTES as u64)
                .manual_journal_persist(false)
                .open()
                .map_err(|e| e.to_string())?;
            let ks = db
                .keyspace("bench", || {
                    fjall::KeyspaceCreateOptions::default()
                        .max_memtable_size(engine::MEMTABLE_BYTES as u64)
                })
                .map_err(|e| e.to_string())?;
            Box::new(FjallTx { ks, db })
        }
    })
}

fn key(n: u64) -> Vec<u8> {
    format!("{n:016}").into_bytes()
}

/// (tx_rmw ops/s, tx_counter commits/s, tx_counter conflict rate)
fn run_one(args: &Args, kind: Kind, dir: &Path) -> Res<(f64, f64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    let db = open(kind, dir)?;
    let keys = (args.num / 10).max(1);
    for k in 0..keys {
        db.put(&key(k), b"0")?;
    }
    let mut rng = Rng(args.seed);
    let t = Instant::now();
    for _ in 0..args.num {
        if !db.increment(&key(rng.below(keys)))? {
            return Err("a conflict with a single thread".into());
        }
    }
    let rmw = args.num as f64 / t.elapsed().as_secs_f64();

    let threads = args.threads.max(1) as u64;
    let per = (keys / threads).max(1);
    let conflicts = AtomicU64::new(0);
    let counter = b"counter".to_vec();
    let t = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Res<()> {
                    for _ in 0..per {
                        while !db.increment(&counter)? {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| "thread panicked".to_string())??;
        }
        Ok(())
    })?;
    let secs = t.elapsed().as_secs_f64();
    let commits = per * threads;
    let got = parse(db.get(&counter)?.as_deref());
    if got != commits {
        return Err(format!("{}: counter is {got}, want {commits}", kind.name()));
    }
    let c = conflicts.load(Ordering::Relaxed) as f64;
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    Ok((rmw, commits as f64 / secs, c / (c + commits as f64)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs every engine `--reps` times, interleaved, and prints the medians.
pub fn run(args: &Args) {
    let mut results: Vec<(Kind, Vec<(f64, f64, f64)>)> =
        args.engines.iter().map(|&k| (k, Vec::new())).collect();
    for rep in 0..args.reps {
        for (kind, runs) in results.iter_mut() {
            let dir = args.dir.join(format!("tx-{}", kind.name()));
            match run_one(args, *kind, &dir) {
                Ok(r) => {
                    eprintln!(
                        "rep {rep} {:<8} tx_rmw {:>9.0}/s  tx_counter {:>9.0}/s ({:.1}% conflicts)",
                        kind.name(),
                        r.0,
                        r.1,
                        r.2 * 100.0
                    );
                    runs.push(r);
                }
                Err(e) => {
                    eprintln!("{}: {e}", kind.name());
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "| engine | tx_rmw (1 thread) tx/s | tx_counter ({} threads) commits/s | conflict rate |",
        args.threads
    );
    println!("|---|---:|---:|---:|");
    for (kind, runs) in &results {
        println!(
            "| {} | {:.0} | {:.0} | {:.1}% |",
            kind.name(),
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
            100.0 * median(runs.iter().map(|r| r.2).collect())
        );
    }
}
