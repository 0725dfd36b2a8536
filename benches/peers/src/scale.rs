//! The scale mode (`--scale`): one large database per engine, the engines one after
//! another, each in a child process of its own (this binary again, with `--child`), so
//! one engine's memory, descriptors and I/O counters never mix with the next one's, and
//! the peak RSS is that engine's alone.
//!
//! Per engine, on a fresh directory `--dir/<engine>` that is deleted afterwards:
//!
//! 1. `fillrandom`: `--num` puts into an empty database, every key of `0..num` exactly
//!    once, in a pseudo-random order (a Feistel permutation of the key space), so the
//!    database then holds `num` live keys (`num * (key + value)` bytes of user data);
//! 2. then, on the same open database, in `--workloads` order (default all four):
//!    `readrandom` (`--reads` gets of random existing keys), `readseq` (a full forward
//!    scan), `overwrite` (`--writes` puts of random keys, with replacement: the number
//!    of live keys stays `num`) and `mixed` (`--threads` threads sharing `--reads`
//!    operations, `--read-percent` gets, the rest puts, random existing keys).
//!
//! After each workload the child waits, untimed, for background flushes and
//! compactions (`engine::settle`, up to `--settle-timeout`). A workload's metrics cover
//! its loop and that wait (see `Window`); ops/s is over the loop alone.

use crate::engine::{self, Engine, Kind, Res};
use crate::metrics::{self, FdSampler, Hist, Io};
use crate::{command, key_into, machine, versions, Args, LoadSampler, Rng, Values};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Every scale workload; `fillrandom` always runs first.
pub const WORKLOADS: &[&str] = &["fillrandom", "readrandom", "readseq", "overwrite", "mixed"];

/// `100000000` -> `100m`, `10000000` -> `10m`, `200000` -> `200k`, else the number.
pub fn size_name(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// A pseudo-random permutation of `0..n` without a table: a 4-round Feistel network
/// on the smallest even number of bits that holds `n`, cycle-walking the values that
/// fall outside (fewer than 4 steps on average).
struct Permutation {
    n: u64,
    half: u32,
    mask: u64,
    keys: [u64; 4],
}

impl Permutation {
    fn new(n: u64, seed: u64) -> Permutation {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half = bits.div_ceil(2).max(1);
        let mut rng = Rng(seed);
        Permutation {
            n,
            half,
            mask: (1 << half) - 1,
            keys: [rng.next(), rng.next(), rng.next(), rng.next()],
        }
    }

    fn round(x: u64, k: u64) -> u64 {
        let mut z = x ^ k;
        z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 29)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 32)
    }

    fn get(&self, i: u64) -> u64 {
        let mut x = i;
        loop {
            let (mut l, mut r) = (x >> self.half, x & self.mask);
            for k in self.keys {
                (l, r) = (r, l ^ (Self::round(r, k) & self.mask));
            }
            x = (l << self.half) | r;
            if x < self.n {
                return x;
            }
        }
    }
}

/// What a workload's loop produced.
struct Loop {
    ops: u64,
    found: Option<u64>,
    seconds: f64,
    /// Bytes of keys and values the workload put (None: it put nothing).
    user_bytes: Option<u64>,
    /// Latency of each put (None: it put nothing).
    puts: Option<Hist>,
}

struct Child<'a> {
    args: &'a Args,
    values: Values,
}

impl Child<'_> {
    fn entry_bytes(&self) -> u64 {
        (self.args.key_size + self.args.value_size) as u64
    }

    /// Puts `n` keys, `key(i)` for the i-th, timing each put alone (two clock reads
    /// around the call, nothing else inside).
    fn puts(&self, db: &dyn Engine, n: u64, mut key: impl FnMut(u64) -> u64) -> Res<Loop> {
        let mut k = vec![0u8; self.args.key_size];
        let mut hist = Hist::new();
        let t = Instant::now();
        for i in 0..n {
            key_into(&mut k, key(i));
            let t0 = Instant::now();
            db.put(&k, self.values.get(i))?;
            hist.record(t0.elapsed().as_nanos() as u64);
        }
        Ok(Loop {
            ops: n,
            found: None,
            seconds: t.elapsed().as_secs_f64(),
            user_bytes: Some(n * self.entry_bytes()),
            puts: Some(hist),
        })
    }

    fn readrandom(&self, db: &dyn Engine, n: u64, seed: u64) -> Res<Loop> {
        let num = self.args.num;
        let mut rng = Rng(seed);
        let mut k = vec![0u8; self.args.key_size];
        let mut hits = 0u64;
        let t = Instant::now();
        for _ in 0..n {
            key_into(&mut k, rng.below(num));
            hits += u64::from(db.get(&k)?.is_some());
        }
        Ok(Loop {
            ops: n,
            found: Some(hits),
            seconds: t.elapsed().as_secs_f64(),
            user_bytes: None,
            puts: None,
        })
    }

    fn mixed(&self, db: &dyn Engine, n: u64, seed: u64) -> Res<Loop> {
        let num = self.args.num;
        let threads = self.args.threads as u64;
        let mut seeds = Rng(seed);
        let seeds: Vec<u64> = (0..threads).map(|_| seeds.next()).collect();
        let merged = Mutex::new((Hist::new(), 0u64, 0u64)); // put latencies, hits, puts
        let t = Instant::now();
        let results: Vec<Res<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = seeds
                .iter()
                .enumerate()
                .map(|(i, &seed)| {
                    let merged = &merged;
                    let share = n / threads + u64::from((i as u64) < n % threads);
                    s.spawn(move || -> Res<()> {
                        let mut rng = Rng(seed);
                        let mut k = vec![0u8; self.args.key_size];
                        let mut hist = Hist::new();
                        let (mut hits, mut puts) = (0, 0);
                        for _ in 0..share {
                            key_into(&mut k, rng.below(num));
                            if rng.below(100) < self.args.read_percent {
                                hits += u64::from(db.get(&k)?.is_some());
                            } else {
                                let t0 = Instant::now();
                                db.put(&k, self.values.get(puts))?;
                                hist.record(t0.elapsed().as_nanos() as u64);
                                puts += 1;
                            }
                        }
                        let mut m = merged.lock().unwrap();
                        m.0.merge(&hist);
                        m.1 += hits;
                        m.2 += puts;
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
        let (hist, hits, puts) = merged.into_inner().unwrap();
        Ok(Loop {
            ops: n,
            found: Some(hits),
            seconds,
            user_bytes: Some(puts * self.entry_bytes()),
            puts: Some(hist),
        })
    }

    fn workload(&self, db: &dyn Engine, name: &str) -> Res<Loop> {
        let a = self.args;
        let seed = |w: u64| a.seed.wrapping_add(w * 1_000_003);
        match name {
            "fillrandom" => {
                let p = Permutation::new(a.num, seed(1));
                self.puts(db, a.num, |i| p.get(i))
            }
            "overwrite" => {
                let mut rng = Rng(seed(2));
                self.puts(db, a.writes.unwrap_or(a.num), |_| rng.below(a.num))
            }
            "readrandom" => self.readrandom(db, a.reads.unwrap_or(a.num), seed(3)),
            "readseq" => {
                let t = Instant::now();
                let n = db.scan_all()?;
                Ok(Loop {
                    ops: n,
                    found: Some(n),
                    seconds: t.elapsed().as_secs_f64(),
                    user_bytes: None,
                    puts: None,
                })
            }
            "mixed" => self.mixed(db, a.reads.unwrap_or(a.num), seed(6)),
            _ => Err(format!("unknown scale workload {name}")),
        }
    }

    /// Runs every workload on one engine; the child's results as JSON.
    fn run(&self, kind: Kind, fds: &FdSampler) -> Res<Value> {
        let a = self.args;
        let dir = a.dir.join(kind.name());
        let _ = std::fs::remove_dir_all(&dir);
        let baseline_rss = metrics::status_bytes("VmRSS");
        let t = Instant::now();
        let db = kind.open(&dir)?;
        let open_seconds = t.elapsed().as_secs_f64();
        // Peak since the process started: the open.
        let mut peak_rss = metrics::status_bytes("VmHWM");
        let mut peak_fds = fds.take_max();
        let live = a.num * self.entry_bytes();
        let mut runs = Vec::new();
        let order = std::iter::once("fillrandom").chain(a.workloads.iter().map(|s| s.as_str()));
        for name in order {
            // One window per workload: its loop, then the untimed wait for background work.
            let rss_reset = metrics::reset_peak_rss();
            fds.take_max();
            let io0 = Io::now();
            let window = Instant::now();
            let l = self.workload(&*db, name)?;
            let (settle_seconds, settled) = engine::settle(&*db, a.settle_timeout)?;
            let window_seconds = window.elapsed().as_secs_f64();
            let io = Io::now().since(io0);
            let max_rss = metrics::status_bytes("VmHWM");
            let max_fds = fds.take_max();
            let (disk, apparent) = metrics::dir_bytes(&dir);
            peak_rss = peak_rss.max(max_rss);
            peak_fds = peak_fds.max(max_fds);
            let ratio = |x: u64, y: Option<u64>| y.filter(|&y| y > 0).map(|y| x as f64 / y as f64);
            let r = json!({
                "engine": kind.name(),
                "workload": name,
                "ops": l.ops,
                "found": l.found,
                "seconds": l.seconds,
                "ops_per_sec": l.ops as f64 / l.seconds,
                "user_bytes_written": l.user_bytes,
                "io": {
                    "write_bytes": io.write_bytes, "cancelled_write_bytes": io.cancelled_write_bytes,
                    "read_bytes": io.read_bytes, "wchar": io.wchar, "rchar": io.rchar,
                },
                "write_amp": ratio(io.write_bytes, l.user_bytes),
                "write_amp_net": ratio(io.write_bytes.saturating_sub(io.cancelled_write_bytes), l.user_bytes),
                "write_amp_syscall": ratio(io.wchar, l.user_bytes),
                "disk_bytes": disk,
                "disk_apparent_bytes": apparent,
                "live_bytes": live,
                "space_amp": disk as f64 / live as f64,
                "space_amp_apparent": apparent as f64 / live as f64,
                "max_rss_bytes": max_rss,
                "rss_peak_reset": rss_reset,
                "max_open_fds": max_fds,
                "put_latency": l.puts.as_ref().map(Hist::to_json),
                "settle_seconds": settle_seconds,
                "settled": settled,
                "window_seconds": window_seconds,
            });
            let f = |v: &Value, d: usize| {
                v.as_f64()
                    .map(|x| format!("{x:.d$}"))
                    .unwrap_or("n/a".into())
            };
            let lat = |q: &str| {
                r["put_latency"][q]
                    .as_u64()
                    .map(|ns| format!("{:.1}", ns as f64 / 1e3))
                    .unwrap_or("-".into())
            };
            eprintln!(
                "  {:<8} {:<11} {:>10.0} ops/s ({:.1} s{}), settle {:.1} s{}, wamp {}, samp {}, rss {} MiB, fds {}, put p99/p99.9/max {}/{}/{} us",
                kind.name(),
                name,
                l.ops as f64 / l.seconds,
                l.seconds,
                l.found.map(|f| format!(", found {f}")).unwrap_or_default(),
                settle_seconds,
                if settled { "" } else { " (TIMED OUT)" },
                f(&r["write_amp"], 2),
                f(&r["space_amp"], 2),
                max_rss >> 20,
                max_fds,
                lat("p99_ns"),
                lat("p999_ns"),
                lat("max_ns"),
            );
            runs.push(r);
        }
        let stats = db.stats_json();
        let t = Instant::now();
        db.close()?;
        let close_seconds = t.elapsed().as_secs_f64();
        peak_rss = peak_rss.max(metrics::status_bytes("VmHWM"));
        peak_fds = peak_fds.max(fds.take_max());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(json!({
            "engine": kind.name(),
            "runs": runs,
            "max_rss_bytes": peak_rss,
            "baseline_rss_bytes": baseline_rss,
            "max_open_fds": peak_fds,
            "open_seconds": open_seconds,
            "close_seconds": close_seconds,
            "engine_stats": stats,
        }))
    }
}

/// The child: runs one engine, writes its results to `out`.
pub fn child(args: &Args, kind: Kind, out: &Path) {
    let fds = FdSampler::start();
    let c = Child {
        args,
        values: Values::new(args),
    };
    let t = Instant::now();
    match c.run(kind, &fds) {
        Ok(mut v) => {
            v["wall_seconds"] = json!(t.elapsed().as_secs_f64());
            if let Err(e) = std::fs::write(out, v.to_string()) {
                eprintln!("writing {}: {e}", out.display());
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{} failed: {e}", kind.name());
            std::process::exit(1);
        }
    }
}

fn lat_us(r: &Value, q: &str) -> Option<f64> {
    r["put_latency"][q].as_u64().map(|ns| ns as f64 / 1e3)
}

/// The goals at scale, from the lsm engine's point of view.
fn goals(engines: &[Value]) -> Vec<Value> {
    let by = |e: &str| {
        engines
            .iter()
            .find(|x| x["engine"] == e && x["error"].is_null())
    };
    let run = |e: &str, w: &str| {
        by(e).and_then(|x| {
            x["runs"]
                .as_array()?
                .iter()
                .find(|r| r["workload"] == w)
                .cloned()
        })
    };
    let ops = |e: &str, w: &str| run(e, w).and_then(|r| r["ops_per_sec"].as_f64());
    let mut out = Vec::new();
    for (w, goal) in [("fillrandom", 1.3), ("readrandom", 1.5)] {
        for peer in ["rocksdb", "fjall"] {
            let ratio = ops("lsm", w).zip(ops(peer, w)).map(|(l, p)| l / p);
            out.push(json!({
                "goal": format!("{w}: lsm >= {goal}x {peer}"),
                "value": ratio.map(|r| format!("{r:.2}x")).unwrap_or("not measured".into()),
                "met": ratio.map(|r| r >= goal),
            }));
        }
    }
    if let Some(l) = by("lsm") {
        let rss = l["max_rss_bytes"].as_u64().unwrap_or(0);
        let budget = l["memory_budget_bytes"].as_u64().unwrap_or(0);
        out.push(json!({
            "goal": "lsm max RSS <= memtables + caches + 10%",
            "value": format!(
                "{:.0} MiB peak vs {:.0} MiB budget x 1.1 = {:.0} MiB ({:.2}x the budget)",
                rss as f64 / 1048576.0,
                budget as f64 / 1048576.0,
                budget as f64 * 1.1 / 1048576.0,
                rss as f64 / budget.max(1) as f64
            ),
            "met": rss as f64 <= budget as f64 * 1.1,
        }));
        let stall = l["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["workload"].as_str()?.to_string(), lat_us(r, "max_ns")?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        out.push(json!({
            "goal": "lsm: no write stall longer than 1 s (the longest single put)",
            "value": stall.as_ref().map(|(w, us)| format!("{:.1} ms (in {w})", us / 1e3)).unwrap_or("no puts".into()),
            "met": stall.map(|(_, us)| us <= 1e6),
        }));
    }
    out
}

/// The parent: runs each engine's child in turn, then writes the results.
pub fn run(args: &Args) {
    let loads = LoadSampler::start();
    let exe = std::env::current_exe().unwrap_or_else(|e| {
        eprintln!("current_exe: {e}");
        std::process::exit(1)
    });
    let names: Vec<&str> = args.engines.iter().map(|k| k.name()).collect();
    eprintln!(
        "lsm-peers --scale: {} keys ({} B + {} B, {:.2} GB of user data), readrandom/mixed {} ops, overwrite {} puts, workloads fillrandom,{}, engines {:?} one after another, in {}",
        args.num,
        args.key_size,
        args.value_size,
        (args.num * (args.key_size + args.value_size) as u64) as f64 / 1e9,
        args.reads.unwrap_or(args.num),
        args.writes.unwrap_or(args.num),
        args.workloads.join(","),
        names,
        args.dir.display()
    );
    let started = Instant::now();
    let _ = std::fs::create_dir_all(&args.dir);
    let mut engines = Vec::new();
    let mut failed = false;
    let passthrough: Vec<String> = std::env::args().skip(1).collect();
    for &kind in &args.engines {
        let out = args.dir.join(format!("{}-results.json", kind.name()));
        let _ = std::fs::remove_file(&out);
        eprintln!("{}:", kind.name());
        let t = Instant::now();
        let status = std::process::Command::new(&exe)
            .args(&passthrough)
            .args([
                "--engines",
                kind.name(),
                "--child",
                kind.name(),
                "--child-out",
            ])
            .arg(&out)
            .status();
        let parsed = std::fs::read_to_string(&out)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_dir_all(args.dir.join(kind.name()));
        let (budget, how) = kind.memory_budget(args.key_size, args.value_size);
        let mut v = match (status, parsed) {
            (Ok(s), Some(v)) if s.success() => v,
            (s, _) => {
                failed = true;
                let why = match s {
                    Ok(s) => format!("child exited with {s}"),
                    Err(e) => format!("could not start the child: {e}"),
                };
                eprintln!("  {} failed: {why}", kind.name());
                json!({ "engine": kind.name(), "error": why, "runs": [] })
            }
        };
        v["memory_budget_bytes"] = json!(budget);
        v["memory_budget"] = json!(how);
        v["child_wall_seconds"] = json!(t.elapsed().as_secs_f64());
        engines.push(v);
    }
    let _ = std::fs::remove_dir(&args.dir); // only if empty: never someone else's files
    let load = loads.finish();

    // lsm's ops/s over each peer's, per workload.
    let mut ratios = serde_json::Map::new();
    let ops = |e: &str, w: &str| {
        engines.iter().find(|x| x["engine"] == e)?["runs"]
            .as_array()?
            .iter()
            .find(|r| r["workload"] == w)?["ops_per_sec"]
            .as_f64()
    };
    let order: Vec<&str> = std::iter::once("fillrandom")
        .chain(args.workloads.iter().map(|s| s.as_str()))
        .collect();
    for w in &order {
        let mut r = serde_json::Map::new();
        for peer in ["rocksdb", "fjall"] {
            if let (Some(l), Some(p)) = (ops("lsm", w), ops(peer, w)) {
                r.insert(format!("lsm/{peer}"), json!(l / p));
            }
        }
        ratios.insert(w.to_string(), Value::Object(r));
    }
    let goals = goals(&engines);
    let options: serde_json::Map<String, Value> = args
        .engines
        .iter()
        .map(|k| (k.name().to_string(), json!(k.options())))
        .collect();
    let result = json!({
        "mode": "scale",
        "settings": {
            "num": args.num, "reads": args.reads.unwrap_or(args.num),
            "writes": args.writes.unwrap_or(args.num), "reps": 1,
            "key_size": args.key_size, "value_size": args.value_size,
            "threads": args.threads, "read_percent": args.read_percent, "seed": args.seed,
            "engines": names, "workloads": order,
            "settle_timeout_seconds": args.settle_timeout.as_secs(),
            "args": passthrough.join(" "),
        },
        "machine": machine(),
        "load_average_1m": load,
        "date": command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "wall_seconds": started.elapsed().as_secs_f64(),
        "versions": versions(),
        "options": options,
        "workloads": order,
        "ratios": ratios,
        "goals": goals,
        "engines": engines,
    });

    println!(
        "\n{:<11} {:<8} {:>11} {:>8} {:>7} {:>7} {:>8} {:>5} {:>9} {:>9} {:>10}",
        "workload",
        "engine",
        "ops/s",
        "lsm/x",
        "w-amp",
        "s-amp",
        "RSS MiB",
        "fds",
        "p99 us",
        "p99.9 us",
        "max put ms"
    );
    for w in &order {
        for e in &result["engines"].as_array().cloned().unwrap_or_default() {
            let Some(r) = e["runs"]
                .as_array()
                .and_then(|rs| rs.iter().find(|r| r["workload"] == *w))
            else {
                continue;
            };
            let name = e["engine"].as_str().unwrap_or("?");
            let f = |v: &Value, d: usize| {
                v.as_f64()
                    .map(|x| format!("{x:.d$}"))
                    .unwrap_or("n/a".into())
            };
            let ratio = result["ratios"][*w][format!("lsm/{name}")]
                .as_f64()
                .map(|x| format!("{x:.2}x"));
            let l = |q| {
                lat_us(r, q)
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or("-".into())
            };
            println!(
                "{:<11} {:<8} {:>11.0} {:>8} {:>7} {:>7} {:>8} {:>5} {:>9} {:>9} {:>10}",
                w,
                name,
                r["ops_per_sec"].as_f64().unwrap_or(0.0),
                ratio.unwrap_or("-".into()),
                f(&r["write_amp"], 2),
                f(&r["space_amp"], 2),
                r["max_rss_bytes"].as_u64().unwrap_or(0) >> 20,
                r["max_open_fds"],
                l("p99_ns"),
                l("p999_ns"),
                lat_us(r, "max_ns")
                    .map(|x| format!("{:.2}", x / 1e3))
                    .unwrap_or("-".into()),
            );
        }
    }
    println!("\ngoals:");
    for g in result["goals"].as_array().into_iter().flatten() {
        let met = match g["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        println!(
            "  {:<62} {:<13} {}",
            g["goal"].as_str().unwrap_or(""),
            met,
            g["value"].as_str().unwrap_or("")
        );
    }
    crate::write_results(args, &result);
    if failed {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 10, 1000, 4097, 65_536, 100_003] {
            let p = Permutation::new(n, 7);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let x = p.get(i) as usize;
                assert!(!seen[x], "n {n}: {x} twice");
                seen[x] = true;
            }
        }
        // Not the identity, nor close to it.
        let p = Permutation::new(1_000_000, 7);
        let fixed = (0..1000).filter(|&i| p.get(i) == i).count();
        assert!(fixed < 5);
    }

    #[test]
    fn names() {
        assert_eq!(size_name(100_000_000), "100m");
        assert_eq!(size_name(10_000_000), "10m");
        assert_eq!(size_name(200_000), "200k");
        assert_eq!(size_name(1234), "1234");
    }
}
