//! `lsm bench`: the workloads of `lsm::workload` with per-operation latency histograms,
//! a progress bar on a terminal, and the results as a table or as JSON.
//!
//! Fill workloads (`fillseq`, `fillrandom`) start from an empty database: the bench
//! closes and deletes it first. The others run on whatever the previous workloads left,
//! as in db_bench, so the default order fills first and reads afterwards. Keys are
//! `--num` decimal numbers zero-padded to `--key-size` bytes; `readmissing` asks for
//! numbers past the key space.

use crate::args::BenchArgs;
use crate::failure::Failure;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use lsm::workload::{Op, Options, Probe, Runner, Workload};
use lsm::{Config, Lsm};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// The probe of one workload (one per thread in `mixed`): records each operation's
/// latency and moves the progress bar.
struct Meter {
    latency: Histogram<u64>,
    bar: ProgressBar,
    /// Operations reported to the bar, by every thread of the workload.
    shown: Arc<AtomicU64>,
    /// Operations of this meter's thread.
    ops: u64,
}

impl Meter {
    fn new(bar: ProgressBar) -> Result<Self, Failure> {
        let latency = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .map_err(|e| Failure::Invalid(format!("latency histogram: {e}")))?;
        Ok(Meter {
            latency,
            bar,
            shown: Arc::default(),
            ops: 0,
        })
    }
}

impl Probe for Meter {
    fn op(&mut self, _: Op, started: Instant) {
        let ns = (started.elapsed().as_nanos() as u64).clamp(1, MAX_LATENCY_NS);
        // Within the bounds by construction, so this cannot fail.
        let _ = self.latency.record(ns);
        self.ops += 1;
        if self.ops.is_multiple_of(PROGRESS_STEP) {
            let n = self.shown.fetch_add(PROGRESS_STEP, Ordering::Relaxed);
            self.bar.set_position(n + PROGRESS_STEP);
        }
    }

    fn fork(&self) -> Self {
        let mut latency = self.latency.clone();
        latency.reset();
        Meter {
            latency,
            bar: self.bar.clone(),
            shown: Arc::clone(&self.shown),
            ops: 0,
        }
    }

    fn join(&mut self, forked: Self) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(forked.latency);
    }
}

/// The shared state of a run.
struct Bench {
    args: BenchArgs,
    config: Config,
    dir: PathBuf,
    db: Option<Lsm>,
    runner: Runner,
    show_progress: bool,
}

impl Bench {
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

    fn run(&mut self, workload: Workload) -> Result<Outcome, Failure> {
        let mut meter = Meter::new(self.progress(workload.name(), self.args.num))?;
        let opening = Instant::now();
        let db = if workload.starts_empty() {
            self.fresh_db()?
        } else {
            self.db()?
        };
        // The time of a workload that reads includes opening the database when no
        // workload before it did; a write-only workload's does not.
        let start = if workload.only_writes() {
            Instant::now()
        } else {
            opening
        };
        let counts = self.runner.run(workload, &db, &mut meter)?;
        let elapsed = start.elapsed();
        meter.bar.finish_and_clear();
        Ok(Outcome {
            name: workload.name().to_string(),
            ops: counts.ops,
            found: counts.found,
            elapsed,
            latency: meter.latency,
        })
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
    let options = Options {
        num: args.num,
        key_size: args.key_size,
        value_size: args.value_size,
        seed: args.seed,
        threads: args.threads,
        read_percent: args.read_percent,
        duration: args.duration.map(Duration::from_secs),
    };
    let digits = options.min_key_size();
    if args.key_size < digits {
        return Err(Failure::Invalid(format!(
            "--key-size {} is too small for --num {}: keys need {digits} digits",
            args.key_size, args.num
        )));
    }
    let workloads = args
        .benchmarks
        .iter()
        .map(|b| b.parse::<Workload>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Invalid(e.to_string()))?;
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
    let mut bench = Bench {
        args,
        config,
        dir,
        db: None,
        runner: Runner::new(options),
        show_progress,
    };
    let mut results = Vec::new();
    for workload in workloads {
        let r = bench.run(workload)?;
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
