//! The fsync mode (`--fsync`): `--num` puts of random keys by one thread, each made
//! durable before the next (lsm `wal.sync = "always"`, RocksDB `WriteOptions::sync`,
//! fjall `insert` then `Database::persist(PersistMode::SyncData)`), on a fresh
//! database per engine and repetition, interleaved. Reports the median ops/s and each
//! engine against lsm.

use crate::engine::{self, Kind, Res};
use crate::{Args, Rng};
use std::path::Path;
use std::time::Instant;

/// One engine's synced put.
trait SyncedPut {
    fn put_synced(&self, key: &[u8], value: &[u8]) -> Res<()>;
}

struct LsmSynced(lsm::Lsm);

impl SyncedPut for LsmSynced {
    fn put_synced(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "rocksdb")]
struct RocksSynced(rocksdb::DB, rocksdb::WriteOptions);

#[cfg(feature = "rocksdb")]
impl SyncedPut for RocksSynced {
    fn put_synced(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0
            .put_opt(key, value, &self.1)
            .map_err(|e| e.to_string())
    }
}

struct FjallSynced {
    // The keyspace first, so it is dropped before the database.
    ks: fjall::Keyspace,
    db: fjall::Database,
}

impl SyncedPut for FjallSynced {
    fn put_synced(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.ks.insert(key, value).map_err(|e| e.to_string())?;
        self.db
            .persist(fjall::PersistMode::SyncData)
            .map_err(|e| e.to_string())
    }
}

fn open(kind: Kind, dir: &Path) -> Res<Box<dyn SyncedPut>> {
    Ok(match kind {
        Kind::Lsm => {
            let mut c = engine::lsm_config(dir)?;
            c.set("wal.sync", "always").map_err(|e| e.to_string())?;
            Box::new(LsmSynced(
                lsm::Lsm::open_with_config(c).map_err(|e| e.to_string())?,
            ))
        }
        #[cfg(feature = "rocksdb")]
        Kind::RocksDb | Kind::RocksDbBounded => {
            let db = rocksdb::DB::open(&engine::rocks_options(), dir).map_err(|e| e.to_string())?;
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            Box::new(RocksSynced(db, wo))
        }
        #[cfg(not(feature = "rocksdb"))]
        Kind::RocksDb | Kind::RocksDbBounded => return Err("built without `rocksdb`".into()),
        Kind::Fjall => {
            let db = fjall::Database::builder(dir)
                .manual_journal_persist(true)
                .open()
                .map_err(|e| e.to_string())?;
            let ks = db
                .keyspace("bench", fjall::KeyspaceCreateOptions::default)
                .map_err(|e| e.to_string())?;
            Box::new(FjallSynced { ks, db })
        }
    })
}

/// Synced puts per second of one engine on a fresh database.
fn run_one(args: &Args, kind: Kind, rep: usize, value: &[u8]) -> Res<f64> {
    let dir = args.dir.join(format!("fsync-{}-{rep}", kind.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db = open(kind, &dir)?;
    let mut rng = Rng(args.seed.wrapping_add(rep as u64));
    let mut key = vec![0u8; args.key_size];
    let t = Instant::now();
    for _ in 0..args.num {
        crate::key_into(&mut key, rng.below(args.num));
        db.put_synced(&key, value)?;
    }
    let rate = args.num as f64 / t.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rate)
}

/// Runs the synced puts on every engine `--reps` times, interleaved, and prints the
/// medians with each engine's ratio to lsm.
pub fn run(args: &Args) {
    let value = vec![b'v'; args.value_size];
    let mut runs: Vec<(Kind, Vec<f64>)> = args.engines.iter().map(|&k| (k, Vec::new())).collect();
    for rep in 0..args.reps {
        let n = runs.len();
        for i in 0..n {
            // A different engine goes first in each repetition.
            let (kind, rates) = &mut runs[(i + rep) % n];
            let r = run_one(args, *kind, rep, &value).unwrap_or_else(|e| {
                eprintln!("{}: {e}", kind.name());
                std::process::exit(1)
            });
            eprintln!("rep {rep} {:<8} {:>9.0} synced puts/s", kind.name(), r);
            rates.push(r);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let lsm = runs
        .iter()
        .find(|(k, _)| *k == Kind::Lsm)
        .map(|(_, v)| median(v));
    println!(
        "fsynced puts, 1 thread, {} puts of {} B keys and {} B values, median of {}:",
        args.num, args.key_size, args.value_size, args.reps
    );
    for (kind, v) in &runs {
        let m = median(v);
        match lsm {
            Some(l) if *kind != Kind::Lsm => {
                println!(
                    "  {:<8} {m:>9.0}/s   lsm/{} {:.2}x",
                    kind.name(),
                    kind.name(),
                    l / m
                )
            }
            _ => println!("  {:<8} {m:>9.0}/s", kind.name()),
        }
    }
}
