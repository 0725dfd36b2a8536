//! `lsm bench`: db_bench-style workloads with per-operation latency histograms.
//!
//! Fill workloads (`fillseq`, `fillrandom`) start from an empty database; the others
//! run on whatever the previous workloads left, as in db_bench, so the default order
//! fills first and reads afterwards. Keys are `--num` decimal numbers zero-padded to
//! `--key-size` bytes; `readmissing` asks for numbers past the key space.

use crate::args::BenchArgs;
use crate::commands::Failure;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use lsm::{Config, Lsm};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type KeyValue = lsm::Result<(Vec<u8>, Vec<u8>)>;

/// Every workload, in the default order.
pub const DEFAULT_ORDER: &str = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,readreverse,seekrandom,mixed,deleterandom";

/// Latencies are recorded in nanoseconds, up to a minute, to 3 significant digits.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Progress is reported every this many operations (per thread).
const PROGRESS_STEP: u64 = 1024;

/// What one workload measured.
struct Outcome {
    name: String,
    ops: u64,
    found: Option<u64>,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Outcome {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn mb_per_sec(&self, entry_bytes: usize) -> f64 {
        self.ops_per_sec() * entry_bytes as f64 / 1_048_576.0
    }

    fn micros(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// splitmix64: a small, fast, seedable generator; benchmarks need no more.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The shared state of a run.
struct Bench {
    args: BenchArgs,
    config: Config,
    dir: PathBuf,
    db: Option<Lsm>,
    value: Vec<u8>,
    rng: Rng,
    show_progress: bool,
}

fn histogram() -> Result<Histogram<u64>, Failure> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
        .map_err(|e| Failure::Invalid(format!("latency histogram: {e}")))
}

fn record(h: &mut Histogram<u64>, since: Instant) {
    let ns = (since.elapsed().as_nanos() as u64).clamp(1, MAX_LATENCY_NS);
    // Within the bounds by construction, so this cannot fail.
    let _ = h.record(ns);
}

impl Bench {
    fn key(&self, i: u64) -> Vec<u8> {
        format!("{i:0width$}", width = self.args.key_size).into_bytes()
    }

    fn db(&mut self) -> Result<Lsm, Failure> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        let db = Lsm::open_with_config(self.config.clone())?;
        self.db = Some(db.clone());
        Ok(db)
    }

    /// Closes and deletes the database, for the fill workloads.
    fn fresh_db(&mut self) -> Result<Lsm, Failure> {
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| Failure::Invalid(format!("removing {}: {e}", self.dir.display())))?;
        }
        self.db()
    }

    fn progress(&self, name: &str, len: u64) -> ProgressBar {
        if !self.show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        let style =
            ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
                .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_string());
        bar
    }

    fn run(&mut self, name: &str) -> Result<Outcome, Failure> {
        let num = self.args.num;
        let bar = self.progress(name, num);
        let mut lat = histogram()?;
        let mut found = None;
        let start = Instant::now();
        let ops = match name {
            "fillseq" | "fillrandom" | "overwrite" | "deleterandom" => {
                let db = if name.starts_with("fill") {
                    self.fresh_db()?
                } else {
                    self.db()?
                };
                let start = Instant::now();
                for i in 0..num {
                    let n = if name == "fillseq" {
                        i
                    } else {
                        self.rng.below(num)
                    };
                    let k = self.key(n);
                    let t = Instant::now();
                    if name == "deleterandom" {
                        db.delete(&k)?;
                    } else {
                        db.put(&k, &self.value)?;
                    }
                    record(&mut lat, t);
                    tick(&bar, i);
                }
                return self.finish(name, num, None, start, lat, bar);
            }
            "readrandom" | "readmissing" => {
                let db = self.db()?;
                let mut hits = 0;
                for i in 0..num {
                    let n = self.rng.below(num) + if name == "readmissing" { num } else { 0 };
                    let k = self.key(n);
                    let t = Instant::now();
                    let v = db.get(&k)?;
                    record(&mut lat, t);
                    hits += u64::from(v.is_some());
                    tick(&bar, i);
                }
                found = Some(hits);
                num
            }
            "readseq" | "readreverse" => {
                let db = self.db()?;
                let iter = db.iter();
                let mut iter: Box<dyn Iterator<Item = KeyValue>> = if name == "readreverse" {
                    Box::new(iter.rev())
                } else {
                    Box::new(iter)
                };
                let mut n = 0;
                while n < num {
                    let t = Instant::now();
                    let Some(item) = iter.next() else { break };
                    item?;
                    record(&mut lat, t);
                    tick(&bar, n);
                    n += 1;
                }
                n
            }
            "seekrandom" => {
                let db = self.db()?;
                let mut it = db.raw_iter();
                let mut hits = 0;
                for i in 0..num {
                    let n = self.rng.below(num);
                    let k = self.key(n);
                    let t = Instant::now();
                    it.seek(&k);
                    let hit = it.valid() && it.key() == k.as_slice();
                    record(&mut lat, t);
                    it.status()?;
                    hits += u64::from(hit);
                    tick(&bar, i);
                }
                found = Some(hits);
                num
            }
            "mixed" => {
                let db = self.db()?;
                let (ops, hits, h) = self.mixed(&db, &bar)?;
                lat = h;
                found = Some(hits);
                ops
            }
            other => {
                return Err(Failure::Invalid(format!(
                    "unknown benchmark {other:?} (known: {DEFAULT_ORDER})"
                )))
            }
        };
        self.finish(name, ops, found, start, lat, bar)
    }

    fn finish(
        &self,
        name: &str,
        ops: u64,
        found: Option<u64>,
        start: Instant,
        latency: Histogram<u64>,
        bar: ProgressBar,
    ) -> Result<Outcome, Failure> {
        let elapsed = start.elapsed();
        bar.finish_and_clear();
        Ok(Outcome {
            name: name.to_string(),
            ops,
            found,
            elapsed,
            latency,
        })
    }

    /// `--threads` threads sharing `--num` operations, each a read with probability
    /// `--read-percent` and otherwise a write, on random keys.
    fn mixed(
        &mut self,
        db: &Lsm,
        bar: &ProgressBar,
    ) -> Result<(u64, u64, Histogram<u64>), Failure> {
        let threads = self.args.threads.max(1) as u64;
        let num = self.args.num;
        let deadline = self
            .args
            .duration
            .map(|s| Instant::now() + std::time::Duration::from_secs(s));
        let done = AtomicU64::new(0);
        let total = AtomicU64::new(0);
        let hits = AtomicU64::new(0);
        let seeds: Vec<u64> = (0..threads).map(|_| self.rng.next()).collect();
        let this = &*self;
        let results: Vec<Result<Histogram<u64>, Failure>> = std::thread::scope(|s| {
            let handles: Vec<_> = seeds
                .iter()
                .enumerate()
                .map(|(t, &seed)| {
                    let (done, hits, total) = (&done, &hits, &total);
                    let share = match deadline {
                        Some(_) => u64::MAX,
                        None => num / threads + u64::from((t as u64) < num % threads),
                    };
                    s.spawn(move || -> Result<Histogram<u64>, Failure> {
                        let mut rng = Rng(seed);
                        let mut lat = histogram()?;
                        for i in 0..share {
                            if deadline.is_some_and(|d| i % 256 == 0 && Instant::now() >= d) {
                                break;
                            }
                            total.fetch_add(1, Ordering::Relaxed);
                            let k = this.key(rng.below(num));
                            let read = rng.below(100) < u64::from(this.args.read_percent);
                            let t = Instant::now();
                            if read {
                                if db.get(&k)?.is_some() {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                }
                            } else {
                                db.put(&k, &this.value)?;
                            }
                            record(&mut lat, t);
                            if (i + 1).is_multiple_of(PROGRESS_STEP) {
                                let n = done.fetch_add(PROGRESS_STEP, Ordering::Relaxed);
                                bar.set_position(n + PROGRESS_STEP);
                            }
                        }
                        Ok(lat)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Failure::Invalid("a bench thread panicked".into())))
                })
                .collect()
        });
        let mut all = histogram()?;
        for r in results {
            all.add(r?)
                .map_err(|e| Failure::Invalid(format!("latency histogram: {e}")))?;
        }
        Ok((total.load(Ordering::Relaxed), hits.load(Ordering::Relaxed), all))
    }
}

fn tick(bar: &ProgressBar, i: u64) {
    if (i + 1).is_multiple_of(PROGRESS_STEP) {
        bar.set_position(i + 1);
    }
}

/// Removes the temporary bench directory when the run ends, however it ends.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("lsm-bench-{}-{nanos}", std::process::id()))
}

/// Runs the workloads `args` names with `config` (its directories are replaced by the
/// bench directory) and prints the results to `out`.
pub fn run(args: BenchArgs, mut config: Config, out: &mut dyn Write) -> Result<(), Failure> {
    if args.num == 0 {
        return Err(Failure::Invalid("--num must be at least 1".into()));
    }
    let digits = (args.num.saturating_mul(2)).to_string().len();
    if args.key_size < digits {
        return Err(Failure::Invalid(format!(
            "--key-size {} is too small for --num {}: keys need {digits} digits",
            args.key_size, args.num
        )));
    }
    let known: Vec<&str> = DEFAULT_ORDER.split(',').collect();
    for b in &args.benchmarks {
        if !known.contains(&b.as_str()) {
            return Err(Failure::Invalid(format!(
                "unknown benchmark {b:?} (known: {DEFAULT_ORDER})"
            )));
        }
    }
    let (dir, _cleanup) = match &args.db {
        Some(d) => (d.clone(), TempDir(None)),
        None => {
            let d = temp_dir();
            (d.clone(), TempDir(Some(d)))
        }
    };
    config.directory = lsm::Directories {
        log: config.directory.log.clone(),
        ..lsm::Directories::under(&dir)
    };
    if args.sync {
        config.wal.sync = lsm::SyncMode::Always;
    }
    let mut value = vec![0u8; args.value_size];
    let mut rng = Rng(args.seed);
    for b in value.iter_mut() {
        *b = b' ' + (rng.below(95) as u8);
    }
    let show_progress = !args.json && std::io::stdout().is_terminal();
    let json = args.json;
    let entry_bytes = args.key_size + args.value_size;
    if !json {
        writeln!(
            out,
            "lsm bench: {} ops per workload, {} B keys, {} B values, wal.sync={}, {} threads for mixed ({}% reads), in {}",
            args.num,
            args.key_size,
            args.value_size,
            if args.sync { "always" } else { "as configured" },
            args.threads,
            args.read_percent,
            dir.display()
        )?;
    }
    let names = args.benchmarks.clone();
    let mut bench = Bench {
        args,
        config,
        dir,
        db: None,
        value,
        rng,
        show_progress,
    };
    let mut results = Vec::new();
    for name in &names {
        let r = bench.run(name)?;
        if !json {
            if results.is_empty() {
                print_header(out)?;
            }
            print_row(out, &r, entry_bytes)?;
        }
        results.push(r);
    }
    if let Some(db) = bench.db.take() {
        if !json {
            let s = db.stats();
            let files: Vec<usize> = s.levels.iter().map(|l| l.files).collect();
            writeln!(
                out,
                "tables per level: {files:?}, {} flushes, {} compactions, {} stalls ({} ms), \
                 {} slowdowns, write amplification {:.2}, block cache hit ratio {:.3}, \
                 key cache hit ratio {:.3}",
                s.flushes,
                s.compactions,
                s.stalls,
                s.stall_micros / 1000,
                s.slowdowns,
                s.write_amplification(),
                ratio(s.block_cache_hits, s.block_cache_misses),
                ratio(s.key_cache_hits, s.key_cache_misses),
            )?;
        }
        db.close()?;
    }
    if json {
        writeln!(out, "{}", to_json(&bench.args, &results, entry_bytes))?;
    }
    Ok(())
}

fn print_header(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<13} {:>10} {:>12} {:>9} {:>10} {:>10} {:>10}  found",
        "benchmark", "ops", "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us"
    )
}

fn print_row(out: &mut dyn Write, r: &Outcome, entry_bytes: usize) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<13} {:>10} {:>12.0} {:>9.1} {:>10.2} {:>10.2} {:>10.2}  {}",
        r.name,
        r.ops,
        r.ops_per_sec(),
        r.mb_per_sec(entry_bytes),
        r.micros(0.5),
        r.micros(0.99),
        r.micros(0.999),
        r.found.map(|f| f.to_string()).unwrap_or_default()
    )
}

fn to_json(args: &BenchArgs, results: &[Outcome], entry_bytes: usize) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "ops": r.ops,
                "found": r.found,
                "seconds": r.elapsed.as_secs_f64(),
                "ops_per_sec": r.ops_per_sec(),
                "mb_per_sec": r.mb_per_sec(entry_bytes),
                "latency_us": {
                    "p50": r.micros(0.5),
                    "p99": r.micros(0.99),
                    "p99_9": r.micros(0.999),
                    "max": r.latency.max() as f64 / 1000.0,
                    "mean": r.latency.mean() / 1000.0,
                },
            })
        })
        .collect();
    serde_json::json!({
        "num": args.num,
        "key_size": args.key_size,
        "value_size": args.value_size,
        "threads": args.threads,
        "read_percent": args.read_percent,
        "sync": args.sync,
        "results": rows,
    })
}

/// hits / (hits + misses), 0 when there were no lookups.
fn ratio(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        hits as f64 / (hits + misses) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }
}
