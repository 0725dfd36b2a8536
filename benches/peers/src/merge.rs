//! The merge mode (`--merge`): counters, TTL and the change feed.
//!
//! - `merge_counter` (1 and `--threads` threads): `--num` increments in all of random
//!   keys among `--num / 10`, as merges: lsm's `u64_add` against RocksDB's associative
//!   merge operator (the same 8-byte little-endian add).
//! - `getput_counter` (1 and `--threads` threads): the same increments as a read of
//!   the key and a write of the sum, the loop a merge operator replaces (threads
//!   take disjoint keys, so no increment is lost).
//!   Every counter's final sum is checked.
//! - lsm only: `put` against `put_with_ttl` (`--num` puts of random keys with
//!   `--value-size` values, interleaved, best of the repetitions' medians), the time
//!   from a put's return to its delivery to a `subscribe` subscriber while one
//!   thread runs a fillrandom (p50 and p99), and how fast `changes_since(1)` reads a
//!   fillrandom's history back.
//!
//! Engines run one after another on fresh directories under `--dir`, `--reps` times,
//! interleaved; the median is reported.

use crate::engine::{self, Kind, Res};
use crate::{Args, Rng};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One engine's counters.
trait Counters: Sync {
    fn merge_add(&self, key: &[u8], n: u64) -> Res<()>;
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>>;
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()>;
}

fn as_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|v| v.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

struct LsmCounters(lsm::Lsm);

impl Counters for LsmCounters {
    fn merge_add(&self, key: &[u8], n: u64) -> Res<()> {
        self.0
            .merge(key, &n.to_le_bytes())
            .map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "rocksdb")]
struct RocksCounters(rocksdb::DB);

#[cfg(feature = "rocksdb")]
impl Counters for RocksCounters {
    fn merge_add(&self, key: &[u8], n: u64) -> Res<()> {
        self.0
            .merge(key, n.to_le_bytes())
            .map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Res<()> {
        self.0.put(key, value).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "rocksdb")]
fn rocks_add(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let mut sum = as_u64(existing);
    for o in operands.iter() {
        sum = sum.wrapping_add(as_u64(Some(o)));
    }
    Some(sum.to_le_bytes().to_vec())
}

fn open(kind: Kind, dir: &Path) -> Res<Box<dyn Counters>> {
    Ok(match kind {
        Kind::Lsm => {
            let mut c = engine::lsm_config(dir)?;
            c.set("merge.operator", "u64_add")
                .map_err(|e| e.to_string())?;
            Box::new(LsmCounters(
                lsm::Lsm::open_with_config(c).map_err(|e| e.to_string())?,
            ))
        }
        #[cfg(feature = "rocksdb")]
        Kind::RocksDb | Kind::RocksDbBounded => {
            let mut o = engine::rocks_options();
            o.set_merge_operator_associative("u64_add", rocks_add);
            Box::new(RocksCounters(
                rocksdb::DB::open(&o, dir).map_err(|e| e.to_string())?,
            ))
        }
        #[cfg(not(feature = "rocksdb"))]
        Kind::RocksDb | Kind::RocksDbBounded => return Err("built without `rocksdb`".into()),
        Kind::Fjall => return Err("fjall has no merge operator".into()),
    })
}

fn key(n: u64) -> Vec<u8> {
    format!("{n:016}").into_bytes()
}

/// Increments per second of `threads` threads doing `total` increments in all of
/// keys below `keys`, by merge or by get+put; checks the sum.
fn counter(
    db: &dyn Counters,
    total: u64,
    keys: u64,
    threads: u64,
    by_merge: bool,
    seed: u64,
) -> Res<f64> {
    let per = total / threads;
    let t = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let hs: Vec<_> = (0..threads)
            .map(|th| {
                s.spawn(move || -> Res<()> {
                    let mut rng = Rng(seed ^ th);
                    for _ in 0..per {
                        // Thread `th` owns the keys congruent to it: a get+put
                        // loses no increment to another thread.
                        let n = rng.below(keys / threads) * threads + th;
                        let k = key(n);
                        if by_merge {
                            db.merge_add(&k, 1)?;
                        } else {
                            let v = as_u64(db.get(&k)?.as_deref());
                            db.put(&k, &(v + 1).to_le_bytes())?;
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
    let sum: u64 = (0..keys)
        .map(|n| db.get(&key(n)).map(|v| as_u64(v.as_deref())))
        .sum::<Res<u64>>()?;
    if sum != per * threads {
        return Err(format!("the counters sum to {sum}, want {}", per * threads));
    }
    Ok((per * threads) as f64 / secs)
}

/// (merge 1t, merge Nt, get+put 1t, get+put Nt) increments/s.
fn run_counters(args: &Args, kind: Kind) -> Res<[f64; 4]> {
    let keys = (args.num / 10).max(args.threads as u64);
    let threads = args.threads.max(1) as u64;
    let mut out = [0.0; 4];
    // For profiling one of them: LSM_PEERS_COUNTER=0..3 runs only that one.
    let only: Option<usize> = std::env::var("LSM_PEERS_COUNTER")
        .ok()
        .and_then(|v| v.parse().ok());
    for (i, (by_merge, th)) in [(true, 1), (true, threads), (false, 1), (false, threads)]
        .into_iter()
        .enumerate()
    {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let dir = args.dir.join(format!("merge-{}", kind.name()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = open(kind, &dir)?;
        out[i] = counter(&*db, args.num, keys, th, by_merge, args.seed)?;
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

fn lsm_db(dir: &Path, retention: bool) -> Res<lsm::Lsm> {
    let _ = std::fs::remove_dir_all(dir);
    let mut c = engine::lsm_config(dir)?;
    if retention {
        c.set("wal.retention", "64GiB").map_err(|e| e.to_string())?;
    }
    lsm::Lsm::open_with_config(c).map_err(|e| e.to_string())
}

/// Puts per second of a fillrandom, with or without a TTL on every put.
fn fill(args: &Args, ttl: bool) -> Res<f64> {
    let dir = args.dir.join("merge-ttl");
    let db = lsm_db(&dir, false)?;
    let value = vec![b'v'; args.value_size];
    let mut rng = Rng(args.seed);
    let t = Instant::now();
    for _ in 0..args.num {
        let k = key(rng.below(args.num));
        if ttl {
            db.put_with_ttl(&k, &value, Duration::from_secs(86_400))
        } else {
            db.put(&k, &value)
        }
        .map_err(|e| e.to_string())?;
    }
    let r = args.num as f64 / t.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(r)
}

/// (p50, p99) microseconds from a put's return to its delivery to a subscriber,
/// during a fillrandom of `--num` puts; and changes_since(1) batches/s afterwards.
fn feed(args: &Args) -> Res<(f64, f64, f64)> {
    let dir = args.dir.join("merge-feed");
    let db = lsm_db(&dir, true)?;
    let mut sub = db.subscribe(b"").map_err(|e| e.to_string())?;
    let origin = Instant::now();
    let done = AtomicBool::new(false);
    let mut lat: Vec<u64> = Vec::with_capacity(args.num as usize);
    std::thread::scope(|s| -> Res<()> {
        let writer = s.spawn(|| -> Res<()> {
            let mut rng = Rng(args.seed);
            let mut value = vec![b'v'; args.value_size.max(8)];
            for _ in 0..args.num {
                // The value carries the time the put returned, written just before
                // it (the put takes microseconds; the delivery is what is measured).
                let at = origin.elapsed().as_nanos() as u64;
                value[..8].copy_from_slice(&at.to_le_bytes());
                db.put(&key(rng.below(args.num)), &value)
                    .map_err(|e| e.to_string())?;
            }
            done.store(true, Ordering::Release);
            Ok(())
        });
        let mut got = 0u64;
        while got < args.num {
            match sub.next_timeout(Duration::from_secs(10)) {
                Ok(Some(batch)) => {
                    let now = origin.elapsed().as_nanos() as u64;
                    for op in batch.ops() {
                        let at = as_u64(op.value().and_then(|v| v.get(..8)));
                        lat.push(now.saturating_sub(at));
                        got += 1;
                    }
                }
                Ok(None) => return Err("the subscriber waited 10 s for a change".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
        writer.join().map_err(|_| "writer panicked".to_string())??;
        Ok(())
    })?;
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let (p50, p99) = (q(0.50), q(0.99));
    db.flush().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut batches = 0u64;
    for b in db.changes_since(1).map_err(|e| e.to_string())? {
        b.map_err(|e| e.to_string())?;
        batches += 1;
    }
    let rate = batches as f64 / t.elapsed().as_secs_f64();
    if batches != args.num {
        return Err(format!(
            "changes_since(1) gave {batches} batches, want {}",
            args.num
        ));
    }
    drop(sub);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((p50, p99, rate))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn or_exit<T>(what: &str, r: Res<T>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("{what}: {e}");
        std::process::exit(1)
    })
}

/// Runs the counters on lsm and RocksDB, then lsm's TTL and feed measurements, each
/// `--reps` times, interleaved, and prints the medians.
pub fn run(args: &Args) {
    let kinds: Vec<Kind> = args
        .engines
        .iter()
        .copied()
        .filter(|k| *k != Kind::Fjall)
        .collect();
    let mut counters: Vec<(Kind, Vec<[f64; 4]>)> = kinds.iter().map(|&k| (k, Vec::new())).collect();
    let (mut plain, mut ttl, mut feeds) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..args.reps {
        for (kind, runs) in counters.iter_mut() {
            let r = or_exit(kind.name(), run_counters(args, *kind));
            eprintln!(
                "rep {rep} {:<8} merge {:>9.0}/s ({}t {:>9.0}/s)  get+put {:>9.0}/s ({}t {:>9.0}/s)",
                kind.name(),
                r[0],
                args.threads,
                r[1],
                r[2],
                args.threads,
                r[3]
            );
            runs.push(r);
        }
        // Alternate which goes first, so a drift of the machine hits both alike.
        let (a, b) = if rep % 2 == 0 {
            (false, true)
        } else {
            (true, false)
        };
        for with_ttl in [a, b] {
            let r = or_exit("fill", fill(args, with_ttl));
            if with_ttl {
                ttl.push(r)
            } else {
                plain.push(r)
            }
        }
        let f = or_exit("feed", feed(args));
        eprintln!(
            "rep {rep} put {:.0}/s, put_with_ttl {:.0}/s; feed p50 {:.1} us p99 {:.1} us, changes_since {:.0} batches/s",
            plain[rep], ttl[rep], f.0, f.1, f.2
        );
        feeds.push(f);
    }
    let t = args.threads;
    println!("| engine | merge counter 1t /s | merge counter {t}t /s | get+put 1t /s | get+put {t}t /s |");
    println!("|---|---:|---:|---:|---:|");
    for (kind, runs) in &counters {
        let m = |i: usize| median(runs.iter().map(|r| r[i]).collect());
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            kind.name(),
            m(0),
            m(1),
            m(2),
            m(3)
        );
    }
    let (p, tt) = (median(plain), median(ttl));
    println!(
        "\nlsm put {p:.0}/s, put_with_ttl {tt:.0}/s: TTL costs {:.1}%",
        (p / tt - 1.0) * 100.0
    );
    println!(
        "lsm feed delivery under fillrandom: p50 {:.1} us, p99 {:.1} us; changes_since reads {:.0} batches/s",
        median(feeds.iter().map(|f| f.0).collect()),
        median(feeds.iter().map(|f| f.1).collect()),
        median(feeds.iter().map(|f| f.2).collect())
    );
}
