//! `lsm-peers`: the same db_bench-style workloads on lsm, RocksDB and fjall, side by
//! side in one run. Kept out of the main build (its own workspace under benches/).
//!
//! For each repetition, each engine (the order rotates every repetition, so the noise
//! of a shared machine hits every engine alike) runs, on a fresh directory:
//!
//! 1. `fillseq`: `--num` puts in key order into an empty database, then flush, close;
//! 2. `fillrandom` into a second empty database, then `overwrite` on it (both random
//!    keys from the same splitmix64 stream as `lsm bench`), then close and delete it;
//! 3. the fillseq database is reopened (every key exists), background work is waited
//!    for (untimed), then `readrandom`, `readmissing`, `readseq`, `readreverse`,
//!    `seekrandom`, `mixed` (`--threads` threads, `--read-percent` reads) and
//!    `deleterandom` run on it.
//!
//! `--scale` runs the large-database comparison instead (see `scale.rs`): one
//! repetition, each engine in a child process of its own, `fillrandom`, `readrandom`,
//! `readseq`, `overwrite` and `mixed` on one database, with write and space
//! amplification, peak RSS, open descriptors and put latencies per workload.
//!
//! Keys are decimal numbers zero-padded to `--key-size` bytes, values `--value-size`
//! printable bytes, as in `lsm bench`. The results (every run, the medians, ratios,
//! machine, versions, options) go to `--out` (JSON), then `report.py` draws the chart
//! and writes docs/BENCHMARKS.md.

mod engine;
mod fsync;
mod ks;
mod merge;
mod metrics;
mod scale;
mod tx;

use engine::{Engine, Kind, Res};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKLOADS: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "fillbatch100",
    "fillbatch1000",
    "readrandom",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "mixed",
    "deleterandom",
];

struct Args {
    num: u64,
    reps: usize,
    key_size: usize,
    value_size: usize,
    threads: usize,
    read_percent: u64,
    seek_nexts: usize,
    seed: u64,
    engines: Vec<Kind>,
    dir: PathBuf,
    out: PathBuf,
    report: bool,
    /// For profiling: run only these workloads (fillseq always runs: the reads need it).
    only: Option<Vec<String>>,
    /// The scale mode (`scale.rs`).
    scale: bool,
    /// Scale mode: operations of `readrandom` and of `mixed` (default `--num`).
    reads: Option<u64>,
    /// Scale mode: puts of `overwrite` (default `--num`).
    writes: Option<u64>,
    /// Scale mode: the workloads after `fillrandom` (which always runs first).
    workloads: Vec<String>,
    /// Scale mode: the longest untimed wait for background work after a workload.
    settle_timeout: Duration,
    /// Whether `--out` was given.
    out_given: bool,
    /// Internal: this process is the scale mode's child for one engine, writing its
    /// results to the file.
    child: Option<(Kind, PathBuf)>,
    /// `--tx`: the transaction mode (see `tx.rs`).
    tx: bool,
    /// `--ks`: the keyspace mode (see `ks.rs`).
    ks: bool,
    /// The merge, TTL and change feed mode (`merge.rs`).
    merge: bool,
    /// `--fsync`: synced single-thread puts (`fsync.rs`).
    fsync: bool,
    /// Scale mode, `--values compressible`: every put a different value, half of it
    /// random and half a repeat of that half (compresses to about half, as db_bench's
    /// default `compression_ratio = 0.5`), instead of one value for every put.
    compressible: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: lsm-peers [--num N] [--reps R] [--key-size B] [--value-size B] [--threads T] \
         [--read-percent P] [--seek-nexts N] [--seed S] [--engines lsm,rocksdb,fjall] \
         [--dir DIR] [--out FILE.json] [--no-report] [--only W1,W2 (profiling)]\n\
         scale mode: lsm-peers --scale [--num N] [--reads N] [--writes N] \
         [--workloads readrandom,readseq,overwrite,mixed] [--settle-timeout SECS] \
         [--values same|compressible] [...]\n\
         interleaved and scale modes: [--defaults (each engine at its default compression)]\n\
         any mode: [--lsm-set key=value (repeatable, lsm options set last)]\n\
         transactions: lsm-peers --tx [--num N] [--reps R] [--threads T] [...]\n\
         keyspaces: lsm-peers --ks [--num N] [--reps R] [...]\n\
         merge, TTL and feed: lsm-peers --merge [--num N] [--reps R] [--threads T] [...]\n\
         fsynced puts: lsm-peers --fsync [--num N] [--reps R] [...]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        num: 1_000_000,
        reps: 3,
        key_size: 16,
        value_size: 100,
        threads: 4,
        read_percent: 90,
        seek_nexts: 0,
        seed: 301,
        engines: vec![Kind::Lsm, Kind::RocksDb, Kind::Fjall],
        dir: std::env::temp_dir().join(format!("lsm-peers-{}", std::process::id())),
        out: manifest.join("../../docs/benchmarks/results.json"),
        report: true,
        only: None,
        scale: false,
        reads: None,
        writes: None,
        workloads: scale::WORKLOADS[1..]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        settle_timeout: Duration::from_secs(3600),
        out_given: false,
        child: None,
        tx: false,
        ks: false,
        merge: false,
        fsync: false,
        compressible: false,
    };
    let mut child = (None, None);
    let mut lsm_set = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-report" {
            a.report = false;
            continue;
        }
        if flag == "--scale" {
            a.scale = true;
            continue;
        }
        if flag == "--defaults" {
            engine::DEFAULT_COMPRESSION.store(true, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        if flag == "--tx" {
            a.tx = true;
            continue;
        }
        if flag == "--ks" {
            a.ks = true;
            continue;
        }
        if flag == "--merge" {
            a.merge = true;
            continue;
        }
        if flag == "--fsync" {
            a.fsync = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            usage();
        }
        let Some(v) = it.next() else { usage() };
        let num = |v: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .unwrap_or_else(|_| usage())
        };
        match flag.as_str() {
            "--num" => a.num = num(&v),
            "--reps" => a.reps = num(&v) as usize,
            "--key-size" => a.key_size = num(&v) as usize,
            "--value-size" => a.value_size = num(&v) as usize,
            "--threads" => a.threads = num(&v).max(1) as usize,
            "--read-percent" => a.read_percent = num(&v).min(100),
            "--seek-nexts" => a.seek_nexts = num(&v) as usize,
            "--seed" => a.seed = num(&v),
            "--engines" => {
                a.engines = v
                    .split(',')
                    .map(|s| Kind::parse(s).unwrap_or_else(|| usage()))
                    .collect()
            }
            "--dir" => a.dir = PathBuf::from(v),
            "--out" => {
                a.out = PathBuf::from(v);
                a.out_given = true;
            }
            "--reads" => a.reads = Some(num(&v)),
            "--writes" => a.writes = Some(num(&v)),
            "--settle-timeout" => a.settle_timeout = Duration::from_secs(num(&v)),
            "--workloads" => {
                a.workloads = v
                    .split(',')
                    .filter(|w| *w != "fillrandom")
                    .map(|w| {
                        if !scale::WORKLOADS.contains(&w) {
                            eprintln!("--workloads: one of {:?}", scale::WORKLOADS);
                            usage()
                        }
                        w.to_string()
                    })
                    .collect()
            }
            "--child" => child.0 = Some(Kind::parse(&v).unwrap_or_else(|| usage())),
            "--child-out" => child.1 = Some(PathBuf::from(v)),
            "--only" => a.only = Some(v.split(',').map(String::from).collect()),
            "--lsm-set" => match v.split_once('=') {
                Some((k, val)) => lsm_set.push((k.to_string(), val.to_string())),
                None => usage(),
            },
            "--values" => match v.as_str() {
                "compressible" => a.compressible = true,
                "same" => a.compressible = false,
                _ => usage(),
            },
            _ => usage(),
        }
    }
    let _ = engine::LSM_SET.set(lsm_set);
    if let (Some(k), Some(f)) = child {
        a.child = Some((k, f));
    }
    if a.scale && !a.out_given {
        a.out = manifest.join(format!(
            "../../docs/benchmarks/results_{}.json",
            scale::size_name(a.num)
        ));
    }
    let digits = (a.num * 2).to_string().len();
    if a.key_size < digits || a.num == 0 || a.reps == 0 {
        eprintln!("--key-size must hold {digits} digits; --num and --reps at least 1");
        std::process::exit(2);
    }
    a
}

/// splitmix64, as in `lsm bench`.
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
        self.next() % n
    }
}

/// `i` as decimal, zero-padded to the buffer's length (the `lsm bench` key format,
/// without an allocation per key).
fn key_into(buf: &mut [u8], mut i: u64) {
    for b in buf.iter_mut().rev() {
        *b = b'0' + (i % 10) as u8;
        i /= 10;
    }
}

struct Run {
    workload: &'static str,
    ops: u64,
    found: Option<u64>,
    seconds: f64,
}

struct Ctx<'a> {
    args: &'a Args,
    value: Vec<u8>,
}

impl Ctx<'_> {
    fn writes(&self, db: &dyn Engine, name: &'static str, seed: u64) -> Res<Run> {
        let num = self.args.num;
        let mut rng = Rng(seed);
        let mut k = vec![0u8; self.args.key_size];
        let t = Instant::now();
        for i in 0..num {
            let n = if name == "fillseq" { i } else { rng.below(num) };
            key_into(&mut k, n);
            if name == "deleterandom" {
                db.delete(&k)?;
            } else {
                db.put(&k, &self.value)?;
            }
        }
        Ok(Run {
            workload: name,
            ops: num,
            found: None,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// `--num` puts of random keys into an empty database, `size` to an atomic batch.
    fn batches(&self, db: &dyn Engine, name: &'static str, size: u64, seed: u64) -> Res<Run> {
        let num = self.args.num;
        let mut rng = Rng(seed);
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(size as usize);
        let t = Instant::now();
        let mut done = 0;
        while done < num {
            let n = size.min(num - done);
            keys.resize_with(n as usize, || vec![0u8; self.args.key_size]);
            for k in keys.iter_mut() {
                key_into(k, rng.below(num));
            }
            db.put_batch(&keys, &self.value)?;
            done += n;
        }
        Ok(Run {
            workload: name,
            ops: num,
            found: None,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    fn reads(&self, db: &dyn Engine, name: &'static str, seed: u64) -> Res<Run> {
        let num = self.args.num;
        let mut rng = Rng(seed);
        let mut k = vec![0u8; self.args.key_size];
        let offset = if name == "readmissing" { num } else { 0 };
        let mut hits = 0u64;
        let t = Instant::now();
        for _ in 0..num {
            key_into(&mut k, rng.below(num) + offset);
            hits += u64::from(db.get(&k)?.is_some());
        }
        Ok(Run {
            workload: name,
            ops: num,
            found: Some(hits),
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    fn seeks(&self, db: &dyn Engine, seed: u64) -> Res<Run> {
        let num = self.args.num;
        let mut rng = Rng(seed);
        let mut k = vec![0u8; self.args.key_size];
        let mut hits = 0u64;
        let mut bytes = 0usize;
        let t = Instant::now();
        let mut cursor = db.cursor();
        for _ in 0..num {
            key_into(&mut k, rng.below(num));
            let (hit, b) = cursor.seek_scan(&k, self.args.seek_nexts)?;
            hits += u64::from(hit);
            bytes += b;
        }
        drop(cursor);
        std::hint::black_box(bytes);
        Ok(Run {
            workload: "seekrandom",
            ops: num,
            found: Some(hits),
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    fn scan(&self, db: &dyn Engine, name: &'static str) -> Res<Run> {
        let t = Instant::now();
        let n = if name == "readseq" {
            db.scan_all()?
        } else {
            db.reverse_all()?
        };
        Ok(Run {
            workload: name,
            ops: n,
            found: Some(n),
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    fn mixed(&self, db: &dyn Engine, seed: u64) -> Res<Run> {
        let num = self.args.num;
        let threads = self.args.threads as u64;
        let hits = AtomicU64::new(0);
        let mut seeds = Rng(seed);
        let seeds: Vec<u64> = (0..threads).map(|_| seeds.next()).collect();
        let t = Instant::now();
        let results: Vec<Res<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = seeds
                .iter()
                .enumerate()
                .map(|(i, &seed)| {
                    let hits = &hits;
                    let share = num / threads + u64::from((i as u64) < num % threads);
                    s.spawn(move || -> Res<()> {
                        let mut rng = Rng(seed);
                        let mut k = vec![0u8; self.args.key_size];
                        let mut h = 0;
                        for _ in 0..share {
                            key_into(&mut k, rng.below(num));
                            if rng.below(100) < self.args.read_percent {
                                h += u64::from(db.get(&k)?.is_some());
                            } else {
                                db.put(&k, &self.value)?;
                            }
                        }
                        hits.fetch_add(h, Ordering::Relaxed);
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a mixed thread panicked".into()))
                })
                .collect()
        });
        let seconds = t.elapsed().as_secs_f64();
        for r in results {
            r?;
        }
        Ok(Run {
            workload: "mixed",
            ops: num,
            found: Some(hits.load(Ordering::Relaxed)),
            seconds,
        })
    }

    /// Every workload on one engine, in fresh directories under `dir`.
    fn all(&self, kind: Kind, dir: &Path, rep: usize) -> Res<Vec<Run>> {
        let _ = std::fs::remove_dir_all(dir);
        let seq_dir = dir.join("seq");
        let rand_dir = dir.join("rand");
        let seed = |w: usize| self.args.seed.wrapping_add(w as u64 * 1_000_003);
        let mut runs = Vec::new();
        let log = |r: Run, runs: &mut Vec<Run>| {
            eprintln!(
                "  rep {rep} {:<8} {:<13} {:>12.0} ops/s  ({:.2} s{})",
                kind.name(),
                r.workload,
                r.ops as f64 / r.seconds,
                r.seconds,
                r.found.map(|f| format!(", found {f}")).unwrap_or_default()
            );
            runs.push(r);
        };

        let db = kind.open(&seq_dir)?;
        log(self.writes(&*db, "fillseq", seed(0))?, &mut runs);
        db.flush()?;
        db.close()?;

        let on = |w: &str| {
            self.args
                .only
                .as_ref()
                .is_none_or(|o| o.iter().any(|x| x == w))
        };
        if on("fillrandom") || on("overwrite") {
            let db = kind.open(&rand_dir)?;
            log(self.writes(&*db, "fillrandom", seed(1))?, &mut runs);
            if on("overwrite") {
                log(self.writes(&*db, "overwrite", seed(2))?, &mut runs);
            }
            db.close()?;
            let _ = std::fs::remove_dir_all(&rand_dir);
        }
        for (name, size) in [("fillbatch100", 100), ("fillbatch1000", 1000)] {
            if on(name) {
                let db = kind.open(&rand_dir)?;
                log(self.batches(&*db, name, size, seed(8))?, &mut runs);
                db.close()?;
                let _ = std::fs::remove_dir_all(&rand_dir);
            }
        }

        let db = kind.open(&seq_dir)?;
        engine::settle(&*db, Duration::from_secs(120))?;
        if on("readrandom") {
            log(self.reads(&*db, "readrandom", seed(3))?, &mut runs);
        }
        if on("readmissing") {
            log(self.reads(&*db, "readmissing", seed(4))?, &mut runs);
        }
        if on("readseq") {
            log(self.scan(&*db, "readseq")?, &mut runs);
        }
        if on("readreverse") {
            log(self.scan(&*db, "readreverse")?, &mut runs);
        }
        if on("seekrandom") {
            log(self.seeks(&*db, seed(5))?, &mut runs);
        }
        if on("mixed") {
            log(self.mixed(&*db, seed(6))?, &mut runs);
        }
        if on("deleterandom") {
            log(self.writes(&*db, "deleterandom", seed(7))?, &mut runs);
        }
        db.close()?;
        let _ = std::fs::remove_dir_all(dir);
        Ok(runs)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn load1() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn machine() -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": (mem_kib as f64 / 1_048_576.0 * 10.0).round() / 10.0,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource").trim(),
        "os": read("/etc/os-release").lines().find(|l| l.starts_with("PRETTY_NAME"))
            .map(|l| l.trim_start_matches("PRETTY_NAME=").trim_matches('"').to_string())
            .unwrap_or_default(),
    })
}

/// Versions from the lock file and the tools.
fn versions() -> Value {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let lock = read(&format!("{manifest}/Cargo.lock"));
    let mut pkgs = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            pkgs.insert(n, v.trim_matches('"').to_string());
        }
    }
    let get = |n: &str| pkgs.get(n).cloned().unwrap_or_default();
    let sys = get("librocksdb-sys");
    let commit = command("git", &["-C", manifest, "rev-parse", "--short=12", "HEAD"]);
    let dirty = !command(
        "git",
        &[
            "-C",
            manifest,
            "status",
            "--porcelain",
            "--",
            "../../src",
            "../../Cargo.toml",
        ],
    )
    .is_empty();
    // With ROCKSDB_LIB_DIR set at build time, librocksdb-sys links that library instead
    // of building its bundled RocksDB: report the library's own version then. Which one
    // is linked is read from this process's mappings (a shared librocksdb is mapped at
    // exec; the bundled one is linked statically), the build-time variable only names
    // the directory.
    let mapped = read("/proc/self/maps")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("librocksdb.so"))
        .map(PathBuf::from);
    let (rocksdb, rocksdb_source) = match (cfg!(feature = "rocksdb"), mapped) {
        (false, _) => (
            String::new(),
            "not built (--no-default-features)".to_string(),
        ),
        (true, Some(so)) => {
            let so = std::fs::canonicalize(&so).unwrap_or(so);
            let file = so
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let v = file.trim_start_matches("librocksdb.so.").to_string();
            let dir = option_env!("ROCKSDB_LIB_DIR").unwrap_or("?");
            (
                v,
                format!(
                    "system library {} (dynamically linked; built with the system-rocksdb feature, ROCKSDB_LIB_DIR={dir})",
                    so.display()
                ),
            )
        }
        (true, None) => (
            sys.split('+').nth(1).unwrap_or("").to_string(),
            format!("bundled with librocksdb-sys {sys}, built from source and linked statically"),
        ),
    };
    json!({
        "lsm": get("lsm"),
        "rocksdb_source": rocksdb_source,
        "lsm_commit": format!("{commit}{}", if dirty { " (with uncommitted changes)" } else { "" }),
        "rocksdb_crate": get("rocksdb"),
        "librocksdb_sys": sys,
        "rocksdb": rocksdb,
        "fjall": get("fjall"),
        "lsm_tree": get("lsm-tree"),
        "rustc": command("rustc", &["--version"]),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

/// The 1-minute load average, sampled every 5 s on a thread of its own.
struct LoadSampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<f64>>>,
    thread: std::thread::JoinHandle<()>,
}

impl LoadSampler {
    fn start() -> LoadSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(vec![load1()]));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() >= Duration::from_secs(5) {
                        samples.lock().unwrap().push(load1());
                        last = Instant::now();
                    }
                }
            })
        };
        LoadSampler {
            stop,
            samples,
            thread,
        }
    }

    /// Stops sampling; start, end, mean, min, max and every sample.
    fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let mut loads = self.samples.lock().unwrap().clone();
        loads.push(load1());
        let mean = loads.iter().sum::<f64>() / loads.len() as f64;
        let max = loads.iter().cloned().fold(f64::MIN, f64::max);
        let min = loads.iter().cloned().fold(f64::MAX, f64::min);
        json!({ "start": loads[0], "end": loads[loads.len() - 1],
                "mean": mean, "min": min, "max": max, "samples": loads })
    }
}

/// The value every put writes: `--value-size` printable bytes from the seed.
fn value_bytes(args: &Args) -> Vec<u8> {
    let mut value = vec![0u8; args.value_size];
    let mut rng = Rng(args.seed);
    for b in value.iter_mut() {
        *b = b' ' + rng.below(95) as u8;
    }
    value
}

/// The values the scale mode's puts write: the one of [`value_bytes`] for every put, or
/// (`--values compressible`) the pieces of a 1 MiB buffer in turn, each half random
/// printable bytes and half a repeat of them.
pub(crate) struct Values {
    buf: Vec<u8>,
    size: usize,
    pieces: u64,
}

impl Values {
    pub(crate) fn new(args: &Args) -> Values {
        let size = args.value_size;
        if !args.compressible || size == 0 {
            return Values {
                buf: value_bytes(args),
                size,
                pieces: 1,
            };
        }
        let pieces = ((1 << 20) / size).max(1);
        let mut rng = Rng(args.seed ^ 0x5eed);
        let mut buf = Vec::with_capacity(pieces * size);
        for _ in 0..pieces {
            let half: Vec<u8> = (0..size.div_ceil(2))
                .map(|_| b' ' + rng.below(95) as u8)
                .collect();
            buf.extend(half.iter().chain(half.iter()).take(size));
        }
        Values {
            buf,
            size,
            pieces: pieces as u64,
        }
    }

    /// The value of the `i`-th put.
    pub(crate) fn get(&self, i: u64) -> &[u8] {
        let at = (i % self.pieces) as usize * self.size;
        &self.buf[at..at + self.size]
    }
}

fn main() {
    let args = parse_args();
    if let Some((kind, out)) = &args.child {
        scale::child(&args, *kind, out);
        return;
    }
    if args.scale {
        scale::run(&args);
        return;
    }
    if args.ks {
        ks::run(&args);
        return;
    }
    if args.tx {
        tx::run(&args);
        return;
    }
    if args.fsync {
        fsync::run(&args);
        return;
    }
    if args.merge {
        merge::run(&args);
        return;
    }
    let ctx = Ctx {
        args: &args,
        value: value_bytes(&args),
    };

    let loads = LoadSampler::start();

    eprintln!(
        "lsm-peers: {} ops per workload, {} B keys, {} B values, {} reps, engines {:?}, in {}",
        args.num,
        args.key_size,
        args.value_size,
        args.reps,
        args.engines.iter().map(|k| k.name()).collect::<Vec<_>>(),
        args.dir.display()
    );
    let started = Instant::now();
    let mut all: Vec<Value> = Vec::new();
    // (engine, workload) -> ops/s of every repetition
    let mut by: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for rep in 0..args.reps {
        let n = args.engines.len();
        let order: Vec<Kind> = (0..n).map(|i| args.engines[(i + rep) % n]).collect();
        for kind in order {
            let dir = args.dir.join(format!("{}-{rep}", kind.name()));
            let runs = match ctx.all(kind, &dir, rep + 1) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{} failed in rep {}: {e}", kind.name(), rep + 1);
                    std::process::exit(1);
                }
            };
            for r in runs {
                let ops_s = r.ops as f64 / r.seconds;
                by.entry((kind.name(), r.workload)).or_default().push(ops_s);
                all.push(json!({
                    "rep": rep + 1, "engine": kind.name(), "workload": r.workload,
                    "ops": r.ops, "found": r.found, "seconds": r.seconds, "ops_per_sec": ops_s,
                }));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    let load = loads.finish();

    let mut medians = serde_json::Map::new();
    for w in WORKLOADS {
        let mut m = serde_json::Map::new();
        for k in &args.engines {
            if let Some(v) = by.get_mut(&(k.name(), *w)) {
                m.insert(k.name().into(), json!(median(v)));
            }
        }
        medians.insert(w.to_string(), Value::Object(m));
    }
    let mut ratios = serde_json::Map::new();
    for w in WORKLOADS {
        let m = &medians[*w];
        let l = m.get("lsm").and_then(Value::as_f64);
        let mut r = serde_json::Map::new();
        for peer in ["rocksdb", "fjall"] {
            if let (Some(l), Some(p)) = (l, m.get(peer).and_then(Value::as_f64)) {
                r.insert(format!("lsm/{peer}"), json!(l / p));
            }
        }
        ratios.insert(w.to_string(), Value::Object(r));
    }
    let options: serde_json::Map<String, Value> = args
        .engines
        .iter()
        .map(|k| (k.name().to_string(), json!(k.options())))
        .collect();
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    let result = json!({
        "settings": {
            "num": args.num, "reps": args.reps, "key_size": args.key_size,
            "value_size": args.value_size, "threads": args.threads,
            "read_percent": args.read_percent, "seek_nexts": args.seek_nexts, "seed": args.seed,
            "engines": args.engines.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "args": cmdline.join(" "),
        },
        "machine": machine(),
        "load_average_1m": load,
        "date": command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "wall_seconds": started.elapsed().as_secs_f64(),
        "versions": versions(),
        "options": options,
        "workloads": WORKLOADS,
        "medians_ops_per_sec": medians,
        "ratios": ratios,
        "runs": all,
    });

    println!(
        "\n{:<13} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "workload", "lsm", "rocksdb", "fjall", "lsm/rdb", "lsm/fjall"
    );
    for w in WORKLOADS {
        let m = &result["medians_ops_per_sec"][*w];
        let r = &result["ratios"][*w];
        let f = |v: &Value| v.as_f64().map(|x| format!("{x:.0}")).unwrap_or("-".into());
        let g = |v: &Value| v.as_f64().map(|x| format!("{x:.2}x")).unwrap_or("-".into());
        println!(
            "{:<13} {:>12} {:>12} {:>12} {:>10} {:>10}",
            w,
            f(&m["lsm"]),
            f(&m["rocksdb"]),
            f(&m["fjall"]),
            g(&r["lsm/rocksdb"]),
            g(&r["lsm/fjall"])
        );
    }
    println!(
        "load average (1 min) during the run: mean {:.2}, min {:.2}, max {:.2}",
        load["mean"].as_f64().unwrap_or(f64::NAN),
        load["min"].as_f64().unwrap_or(f64::NAN),
        load["max"].as_f64().unwrap_or(f64::NAN)
    );
    write_results(&args, &result);
}

/// Writes the results file, then (unless `--no-report`) runs `report.py` on it.
fn write_results(args: &Args, result: &Value) {
    if let Some(parent) = args.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let text = serde_json::to_string_pretty(result).expect("json");
    if let Err(e) = std::fs::write(&args.out, text + "\n") {
        eprintln!("writing {}: {e}", args.out.display());
        std::process::exit(1);
    }
    eprintln!("wrote {}", args.out.display());
    if args.report {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("report.py");
        let ok = std::process::Command::new("python3")
            .arg(&script)
            .arg(&args.out)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!(
                "python3 {} failed: run it by hand (needs matplotlib)",
                script.display()
            );
        }
    }
}
