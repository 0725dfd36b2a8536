//! Writes and reads a million keys and prints throughput: the db_bench workloads
//! fillseq, fillrandom, readrandom (after a reopen) and readseq, single-threaded with
//! `wal.sync = "none"`, then 8 threads writing with `wal.sync = "always"` to show group
//! commit (fsyncs per write).
//!
//! `cargo run --release --example bench [-- --num N --dir PATH]`

use lsm::{Config, Lsm};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const KEY_SIZE: usize = 16;
const VALUE_SIZE: usize = 100;

fn key(i: u64) -> [u8; KEY_SIZE] {
    let mut k = [b'0'; KEY_SIZE];
    let s = format!("{i:016}");
    k.copy_from_slice(s.as_bytes());
    k
}

fn report(name: &str, ops: u64, start: Instant, extra: &str) {
    let secs = start.elapsed().as_secs_f64();
    let mbs = ops as f64 * (KEY_SIZE + VALUE_SIZE) as f64 / secs / 1e6;
    println!(
        "{name:<12} {:>10.0} ops/s {:>8.1} MB/s {:>9.3} s  {extra}",
        ops as f64 / secs,
        mbs,
        secs
    );
}

fn fresh(dir: &Path, name: &str, sync: &str) -> (Config, Lsm) {
    let root = dir.join(name);
    let _ = std::fs::remove_dir_all(&root);
    let mut cfg = Config::with_root(&root);
    cfg.set("wal.sync", sync).expect("valid option");
    let db = Lsm::open_with_config(cfg.clone()).expect("open");
    (cfg, db)
}

fn main() -> lsm::Result<()> {
    let mut num: u64 = 1_000_000;
    let mut dir = std::env::temp_dir().join("lsm-bench");
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--num" => num = args.next().and_then(|v| v.parse().ok()).expect("--num N"),
            "--dir" => dir = PathBuf::from(args.next().expect("--dir PATH")),
            "--only" => only = Some(args.next().expect("--only fillseq|fillrandom")),
            other => panic!("unknown argument {other}; use --num N --dir PATH --only NAME"),
        }
    }
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let value = vec![b'v'; VALUE_SIZE];
    println!(
        "lsm bench: {num} keys, {KEY_SIZE} B keys, {VALUE_SIZE} B values, in {}",
        dir.display()
    );

    if let Some(name) = only {
        // One write workload alone, for profiling.
        let (_, db) = fresh(&dir, &name, "none");
        let mut rng = StdRng::seed_from_u64(42);
        let t = Instant::now();
        for i in 0..num {
            let k = if name == "fillseq" {
                i
            } else {
                rng.random_range(0..num)
            };
            db.put(&key(k), &value)?;
        }
        report(&name, num, t, "");
        return db.close();
    }

    let (_, db) = fresh(&dir, "fillseq", "none");
    let t = Instant::now();
    for i in 0..num {
        db.put(&key(i), &value)?;
    }
    report("fillseq", num, t, "");
    db.close()?;

    let (cfg, db) = fresh(&dir, "fillrandom", "none");
    let mut rng = StdRng::seed_from_u64(42);
    let t = Instant::now();
    for _ in 0..num {
        db.put(&key(rng.random_range(0..num)), &value)?;
    }
    report("fillrandom", num, t, "");
    db.close()?;

    // Make every key exist for the reads, then read after a reopen.
    let db = Lsm::open_with_config(cfg.clone())?;
    for i in 0..num {
        db.put(&key(i), &value)?;
    }
    db.close()?;
    let db = Lsm::open_with_config(cfg)?;
    let t = Instant::now();
    let mut found = 0u64;
    for _ in 0..num {
        if db.get(&key(rng.random_range(0..num)))?.is_some() {
            found += 1;
        }
    }
    report("readrandom", num, t, &format!("({found} found)"));
    let t = Instant::now();
    let mut n = 0u64;
    for item in db.iter() {
        item?;
        n += 1;
    }
    report("readseq", n, t, "");
    let levels = db.stats().levels;
    println!(
        "             tables per level: {:?}",
        levels.iter().map(|l| l.files).collect::<Vec<_>>()
    );
    db.close()?;

    let (_, db) = fresh(&dir, "fillsync", "always");
    let threads = 8u64;
    let per = (num / 100).max(100);
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let db = db.clone();
            let value = Arc::new(value.clone());
            std::thread::spawn(move || -> lsm::Result<()> {
                for i in 0..per {
                    db.put(&key(th * per + i), &value)?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread")?;
    }
    let s = db.stats();
    report(
        "fillsync8",
        threads * per,
        t,
        &format!(
            "(8 threads, wal.sync=always: {} fsyncs for {} writes = {:.3} fsyncs/write)",
            s.wal_syncs,
            s.writes,
            s.wal_syncs as f64 / s.writes as f64
        ),
    );
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
