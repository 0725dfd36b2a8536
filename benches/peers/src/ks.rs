//! The keyspace mode (`--ks`): lsm's keyspaces against RocksDB's column families and
//! fjall's keyspaces, with the options of the other modes (64 MiB memtables, 64 MiB
//! cache, 10 bloom bits, 4 KiB blocks, no compression, WAL without fsync).
//!
//! - `ks_batch`: one thread writes `--num` random keys in batches of 100 that span 4
//!   keyspaces (25 keys in each), atomically; batches/s.
//! - `ks_put_1` and `ks_put_100`: one thread puts `--num` random keys one at a time
//!   into 1 keyspace, then (on a fresh database) round robin into 100 keyspaces with a
//!   shared write budget of 256 MiB (lsm `memtable.total_bytes`, RocksDB
//!   `db_write_buffer_size`, fjall `max_write_buffer_size`); puts/s. Their ratio is
//!   the put overhead of keyspaces.
//! - The peak resident set of the `ks_put_100` run (`VmHWM`, reset before it): only
//!   meaningful with one engine per process (`--engines lsm`, then the others), since
//!   an allocator keeps what an earlier engine freed.
//!
//! Engines run one after another on fresh directories under `--dir`, `--reps` times,
//! interleaved; the median is reported.

use crate::engine::{self, Kind, Res};
use crate::{metrics, Args, Rng};
use std::path::Path;
use std::time::Instant;

/// The shared write budget of the 100-keyspace run.
const BUDGET: u64 = 256 << 20;

/// One engine with `n` keyspaces.
trait KsDb {
    /// Writes `ops` (keyspace index, key, value) atomically.
    fn batch(&self, ops: &[(usize, Vec<u8>, Vec<u8>)]) -> Res<()>;
    fn put(&self, ks: usize, key: &[u8], value: &[u8]) -> Res<()>;
    fn get(&self, ks: usize, key: &[u8]) -> Res<Option<Vec<u8>>>;
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct LsmKs {
    spaces: Vec<lsm::Keyspace>,
    db: lsm::Lsm,
}

impl KsDb for LsmKs {
    fn batch(&self, ops: &[(usize, Vec<u8>, Vec<u8>)]) -> Res<()> {
        let mut b = lsm::WriteBatch::new();
        for (ks, k, v) in ops {
            b.put_in(&self.spaces[*ks], k, v);
        }
        self.db.write(b).map_err(err)
    }
    fn put(&self, ks: usize, key: &[u8], value: &[u8]) -> Res<()> {
        self.spaces[ks].put(key, value).map_err(err)
    }
    fn get(&self, ks: usize, key: &[u8]) -> Res<Option<Vec<u8>>> {
        self.spaces[ks].get(key).map_err(err)
    }
}

#[cfg(feature = "rocksdb")]
struct RocksKs {
    db: rocksdb::DBWithThreadMode<rocksdb::MultiThreaded>,
    names: Vec<String>,
}

#[cfg(feature = "rocksdb")]
impl KsDb for RocksKs {
    fn batch(&self, ops: &[(usize, Vec<u8>, Vec<u8>)]) -> Res<()> {
        let mut b = rocksdb::WriteBatch::default();
        let cfs: Vec<_> = self
            .names
            .iter()
            .map(|n| self.db.cf_handle(n).expect("created"))
            .collect();
        for (ks, k, v) in ops {
            b.put_cf(&cfs[*ks], k, v);
        }
        self.db.write(b).map_err(err)
    }
    fn put(&self, ks: usize, key: &[u8], value: &[u8]) -> Res<()> {
        let cf = self.db.cf_handle(&self.names[ks]).expect("created");
        self.db.put_cf(&cf, key, value).map_err(err)
    }
    fn get(&self, ks: usize, key: &[u8]) -> Res<Option<Vec<u8>>> {
        let cf = self.db.cf_handle(&self.names[ks]).expect("created");
        self.db.get_cf(&cf, key).map_err(err)
    }
}

struct FjallKs {
    // The keyspaces first, so they are dropped before the database.
    spaces: Vec<fjall::Keyspace>,
    db: fjall::Database,
}

impl KsDb for FjallKs {
    fn batch(&self, ops: &[(usize, Vec<u8>, Vec<u8>)]) -> Res<()> {
        let mut b = self.db.batch();
        for (ks, k, v) in ops {
            b.insert(&self.spaces[*ks], k.as_slice(), v.as_slice());
        }
        b.commit().map_err(err)
    }
    fn put(&self, ks: usize, key: &[u8], value: &[u8]) -> Res<()> {
        self.spaces[ks].insert(key, value).map_err(err)
    }
    fn get(&self, ks: usize, key: &[u8]) -> Res<Option<Vec<u8>>> {
        Ok(self.spaces[ks].get(key).map_err(err)?.map(|v| v.to_vec()))
    }
}

fn open(kind: Kind, dir: &Path, n: usize, budget: Option<u64>) -> Res<Box<dyn KsDb>> {
    let names: Vec<String> = (0..n).map(|i| format!("ks{i}")).collect();
    Ok(match kind {
        Kind::Lsm => {
            let mut c = engine::lsm_config(dir)?;
            c.memtable.total_bytes = budget.unwrap_or(0) as usize;
            let db = lsm::Lsm::open_with_config(c).map_err(err)?;
            let spaces = names
                .iter()
                .map(|n| db.keyspace(n).map_err(err))
                .collect::<Res<Vec<_>>>()?;
            Box::new(LsmKs { spaces, db })
        }
        #[cfg(feature = "rocksdb")]
        Kind::RocksDb | Kind::RocksDbBounded => {
            let mut o = engine::rocks_options();
            if let Some(b) = budget {
                o.set_db_write_buffer_size(b as usize);
            }
            let db =
                rocksdb::DBWithThreadMode::<rocksdb::MultiThreaded>::open(&o, dir).map_err(err)?;
            for name in &names {
                db.create_cf(name, &o).map_err(err)?;
            }
            Box::new(RocksKs { db, names })
        }
        #[cfg(not(feature = "rocksdb"))]
        Kind::RocksDb | Kind::RocksDbBounded => return Err("built without `rocksdb`".into()),
        Kind::Fjall => {
            use fjall::config::{
                BlockSizePolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
            };
            use fjall::CompressionType;
            let db = fjall::Database::builder(dir)
                .cache_size(engine::CACHE_BYTES as u64)
                .journal_compression(CompressionType::None)
                .manual_journal_persist(false)
                .max_write_buffer_size(budget)
                .open()
                .map_err(err)?;
            let spaces = names
                .iter()
                .map(|n| {
                    db.keyspace(n, || {
                        fjall::KeyspaceCreateOptions::default()
                            .max_memtable_size(engine::MEMTABLE_BYTES as u64)
                            .data_block_compression_policy(CompressionPolicy::all(
                                CompressionType::None,
                            ))
                            .index_block_compression_policy(CompressionPolicy::all(
                                CompressionType::None,
                            ))
                            .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                                fjall::config::BloomConstructionPolicy::BitsPerKey(
                                    engine::BLOOM_BITS as f32,
                                ),
                            )))
                            .data_block_size_policy(BlockSizePolicy::all(engine::BLOCK_SIZE as u32))
                    })
                    .map_err(err)
                })
                .collect::<Res<Vec<_>>>()?;
            Box::new(FjallKs { spaces, db })
        }
    })
}

fn key(n: u64, size: usize) -> Vec<u8> {
    let mut k = format!("{n:016}").into_bytes();
    k.resize(size.max(16), b'k');
    k
}

fn value(n: u64, size: usize) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.resize(size.max(8), b'v');
    v
}

struct One {
    batch: f64,
    put_1: f64,
    put_100: f64,
    rss_100: u64,
}

fn run_one(args: &Args, kind: Kind, dir: &Path) -> Res<One> {
    let space = args.num * 4;
    // Batches of 100 over 4 keyspaces.
    let _ = std::fs::remove_dir_all(dir);
    let db = open(kind, dir, 4, None)?;
    let mut rng = Rng(args.seed);
    let batches = (args.num / 100).max(1);
    let t = Instant::now();
    let mut last = (0, Vec::new(), Vec::new());
    for _ in 0..batches {
        let ops: Vec<(usize, Vec<u8>, Vec<u8>)> = (0..100)
            .map(|i| {
                let n = rng.below(space);
                (i % 4, key(n, args.key_size), value(n, args.value_size))
            })
            .collect();
        db.batch(&ops)?;
        last = ops[99].clone();
    }
    let batch = batches as f64 / t.elapsed().as_secs_f64();
    if db.get(last.0, &last.1)?.as_deref() != Some(&last.2[..]) {
        return Err(format!("{}: the last batch is not there", kind.name()));
    }
    drop(db);

    let mut puts = [0.0; 2];
    let mut rss_100 = 0;
    for (slot, n) in [(0, 1usize), (1, 100)] {
        let _ = std::fs::remove_dir_all(dir);
        metrics::reset_peak_rss();
        let db = open(kind, dir, n, (n > 1).then_some(BUDGET))?;
        let mut rng = Rng(args.seed ^ n as u64);
        let t = Instant::now();
        for i in 0..args.num {
            let k = rng.below(space);
            db.put(
                i as usize % n,
                &key(k, args.key_size),
                &value(k, args.value_size),
            )?;
        }
        puts[slot] = args.num as f64 / t.elapsed().as_secs_f64();
        if n > 1 {
            rss_100 = metrics::status_bytes("VmHWM");
        }
        drop(db);
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(One {
        batch,
        put_1: puts[0],
        put_100: puts[1],
        rss_100,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs every engine `--reps` times, interleaved, and prints the medians.
pub fn run(args: &Args) {
    let mut results: Vec<(Kind, Vec<One>)> =
        args.engines.iter().map(|&k| (k, Vec::new())).collect();
    for rep in 0..args.reps {
        for (kind, runs) in results.iter_mut() {
            let dir = args.dir.join(format!("ks-{}", kind.name()));
            match run_one(args, *kind, &dir) {
                Ok(r) => {
                    eprintln!(
                        "rep {rep} {:<8} ks_batch {:>8.0} batches/s  ks_put_1 {:>9.0}/s  ks_put_100 {:>9.0}/s  peak RSS {} MiB",
                        kind.name(),
                        r.batch,
                        r.put_1,
                        r.put_100,
                        r.rss_100 >> 20
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
        "| engine | ks_batch (100 keys over 4 keyspaces) batches/s | ks_put_1 puts/s | ks_put_100 puts/s | 100 vs 1 | peak RSS, 100 keyspaces |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (kind, runs) in &results {
        let p1 = median(runs.iter().map(|r| r.put_1).collect());
        let p100 = median(runs.iter().map(|r| r.put_100).collect());
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2}x | {} MiB |",
            kind.name(),
            median(runs.iter().map(|r| r.batch).collect()),
            p1,
            p100,
            p100 / p1,
            runs.iter().map(|r| r.rss_100).max().unwrap_or(0) >> 20
        );
    }
}
