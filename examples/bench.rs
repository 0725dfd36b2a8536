//! Writes and reads a million keys and prints throughput: the db_bench workloads
//! fillseq, fillrandom, readrandom (after a reopen) and readseq, single-threaded with
//! `wal.sync = "none"`, then 8 threads writing with `wal.sync = "always"` to show group
//! commit (fsyncs per write). The workloads, keys (16 B) and values (100 B) are those of
//! `lsm bench`, from `lsm::workload`.
//!
//! `cargo run --release --example bench [-- --num N --dir PATH --only WORKLOAD]`

use lsm::workload::{Options, Runner, Workload};
use lsm::{Config, Lsm};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn report(name: &str, ops: u64, bytes_per_op: usize, start: Instant, extra: &str) {
    let secs = start.elapsed().as_secs_f64();
    let mbs = ops as f64 * bytes_per_op as f64 / secs / 1e6;
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

/// Runs `workload` on `db` and prints its throughput.
fn timed(runner: &mut Runner, workload: Workload, db: &Lsm) -> lsm::Result<()> {
    let t = Instant::now();
    let counts = runner.run(workload, db, &mut ())?;
    let extra = counts
        .found
        .map(|f| format!("({f} found)"))
        .unwrap_or_default();
    let o = runner.options();
    report(
        workload.name(),
        counts.ops,
        o.key_size + o.value_size,
        t,
        &extra,
    );
    Ok(())
}

fn main() -> lsm::Result<()> {
    let mut options = Options {
        seed: 42,
        ..Options::default()
    };
    let mut dir = std::env::temp_dir().join("lsm-bench");
    let mut only: Option<Workload> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--num" => options.num = args.next().and_then(|v| v.parse().ok()).expect("--num N"),
            "--dir" => dir = PathBuf::from(args.next().expect("--dir PATH")),
            "--only" => {
                let name = args.next().expect("--only fillseq|fillrandom|...");
                only = Some(name.parse().unwrap_or_else(|e| panic!("--only: {e}")));
            }
            other => panic!("unknown argument {other}; use --num N --dir PATH --only NAME"),
        }
    }
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let num = options.num;
    println!(
        "lsm bench: {num} keys, {} B keys, {} B values, in {}",
        options.key_size,
        options.value_size,
        dir.display()
    );
    let mut runner = Runner::new(options.clone());

    if let Some(workload) = only {
        // One workload alone on a fresh database, for profiling.
        let (_, db) = fresh(&dir, workload.name(), "none");
        timed(&mut runner, workload, &db)?;
        return db.close();
    }

    let (_, db) = fresh(&dir, "fillseq", "none");
    timed(&mut runner, Workload::FillSeq, &db)?;
    db.close()?;

    let (cfg, db) = fresh(&dir, "fillrandom", "none");
    timed(&mut runner, Workload::FillRandom, &db)?;
    db.close()?;

    // Make every key exist for the reads (untimed), then read after a reopen.
    let db = Lsm::open_with_config(cfg.clone())?;
    runner.run(Workload::FillSeq, &db, &mut ())?;
    db.close()?;
    let db = Lsm::open_with_config(cfg)?;
    timed(&mut runner, Workload::ReadRandom, &db)?;
    timed(&mut runner, Workload::ReadSeq, &db)?;
    let levels = db.stats().levels;
    println!(
        "             tables per level: {:?}",
        levels.iter().map(|l| l.files).collect::<Vec<_>>()
    );
    db.close()?;

    // Group commit: `mixed` with no reads is 8 threads putting random keys.
    let (_, db) = fresh(&dir, "fillsync", "always");
    let threads = 8;
    let mut sync_runner = Runner::new(Options {
        num: (num / 100).max(100) * threads as u64,
        threads,
        read_percent: 0,
        ..options
    });
    let t = Instant::now();
    let counts = sync_runner.run(Workload::Mixed, &db, &mut ())?;
    let s = db.stats();
    report(
        "fillsync8",
        counts.ops,
        runner.options().key_size + runner.options().value_size,
        t,
        &format!(
            "({threads} threads, wal.sync=always: {} fsyncs for {} writes = {:.3} fsyncs/write)",
            s.wal_syncs,
            s.writes,
            s.wal_syncs as f64 / s.writes as f64
        ),
    );
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
