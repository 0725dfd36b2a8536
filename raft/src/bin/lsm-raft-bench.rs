//! `lsm-raft-bench`: replicated writes on a 3-node loopback cluster of real processes,
//! and snapshot build and install times.
//!
//! ```text
//! cargo build --release -p lsm-raft
//! target/release/lsm-raft-bench --clients 1,8,64 --seconds 10 --reps 3
//! target/release/lsm-raft-bench --snapshot-keys 1000000
//! # against openraft's raft-kv-rocksdb example, built separately (README, Replication):
//! target/release/lsm-raft-bench --rocksdb-example /path/to/raft-key-value-rocks
//! ```
//!
//! Each repetition starts fresh clusters, one engine after the other (interleaved
//! across repetitions), and runs every client count against the leader. A client
//! sends one put at a time and waits for its answer (sent after the write is
//! committed on a majority, with log appends fsynced on every node).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use lsm_raft::{store, Request};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "lsm-raft-bench",
    about = "Replicated-write and snapshot benchmarks of lsm-raft"
)]
struct Args {
    /// Concurrent client counts to run, comma-separated.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Seconds per client count.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Value size in bytes (keys are 16 bytes).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Repetitions (medians are reported).
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Also run openraft's raft-kv-rocksdb example binary (raft-key-value-rocks).
    #[arg(long)]
    rocksdb_example: Option<PathBuf>,
    /// Also run another build of a node that takes lsm-raft-node's flags and API (for
    /// instance one serving over a different log store), reported as `other`.
    #[arg(long)]
    other_node: Option<PathBuf>,
    /// Instead of the cluster runs: time building and installing a snapshot of this
    /// many keys.
    #[arg(long)]
    snapshot_keys: Option<u64>,
    /// Instead of the cluster runs: the storage alone. This many entries are appended
    /// (each append awaited, as openraft 0.9 issues them, so each is one fsync) and
    /// applied, in appends of each `--batch` size.
    #[arg(long)]
    appends: Option<u64>,
    /// Entries per append for `--appends`, comma-separated.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    batch: Vec<u64>,
    /// Where the clusters' directories go (a temporary directory by default).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Lsm,
    RocksExample,
    Other,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Lsm => "lsm-raft",
            Engine::RocksExample => "raft-kv-rocksdb",
            Engine::Other => "other",
        }
    }
}

struct Cluster {
    procs: Vec<Child>,
    /// Where writes go (the leader's client address).
    write_url: String,
    engine: Engine,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.with_file_name("lsm-raft-node")
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<(u16, Value), String> {
    let r = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let s = r.status().as_u16();
    Ok((s, r.json().await.unwrap_or(Value::Null)))
}

async fn retry_post(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match post(http, url, body).await {
            Ok((200, v)) => return v,
            other => {
                assert!(Instant::now() < deadline, "POST {url} {body}: {other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn wait_leader(http: &reqwest::Client, metrics_url: &str, id: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(metrics_url).send().await {
            let v: Value = r.json().await.unwrap_or(Value::Null);
            // lsm-raft answers the metrics; the example wraps them in Ok.
            let m = if v.get("Ok").is_some() { &v["Ok"] } else { &v };
            if m["current_leader"].as_u64() == Some(id) && m["state"] == "Leader" {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no leader at {metrics_url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(
    engine: Engine,
    dir: &Path,
    rocks_bin: Option<&Path>,
    other_bin: Option<&Path>,
) -> Cluster {
    let http = reqwest::Client::new();
    std::fs::create_dir_all(dir).unwrap();
    let mut procs = Vec::new();
    match engine {
        Engine::Lsm | Engine::Other => {
            let bin = match engine {
                Engine::Other => other_bin.expect("--other-node").to_path_buf(),
                _ => node_binary(),
            };
            let addrs: Vec<String> = (0..3)
                .map(|_| format!("127.0.0.1:{}", free_port()))
                .collect();
            for (i, addr) in addrs.iter().enumerate() {
                let log = std::fs::File::create(dir.join(format!("n{}.log", i + 1))).unwrap();
                procs.push(
                    Command::new(&bin)
                        .args(["--id", &(i + 1).to_string(), "--addr", addr, "--db"])
                        .arg(dir.join(format!("n{}", i + 1)))
                        .stdout(Stdio::null())
                        .stderr(log)
                        .spawn()
                        .expect(
                            "start lsm-raft-node (build it: cargo build --release -p lsm-raft)",
                        ),
                );
            }
            let members: serde_json::Map<String, Value> = addrs
                .iter()
                .enumerate()
                .map(|(i, a)| ((i + 1).to_string(), Value::String(a.clone())))
                .collect();
            retry_post(
                &http,
                &format!("http://{}/cluster/init", addrs[0]),
                &json!({ "members": members }),
            )
            .await;
            wait_leader(&http, &format!("http://{}/cluster/metrics", addrs[0]), 1).await;
            Cluster {
                procs,
                write_url: format!("http://{}/kv/put", addrs[0]),
                engine,
            }
        }
        Engine::RocksExample => {
            let bin = rocks_bin.expect("--rocksdb-example");
            let nodes: Vec<(String, String)> = (0..3)
                .map(|_| {
                    (
                        format!("127.0.0.1:{}", free_port()),
                        format!("127.0.0.1:{}", free_port()),
                    )
                })
                .collect();
            for (i, (api, rpc)) in nodes.iter().enumerate() {
                let log = std::fs::File::create(dir.join(format!("n{}.log", i + 1))).unwrap();
                procs.push(
                    Command::new(bin)
                        .args([
                            "--id",
                            &(i + 1).to_string(),
                            "--http-addr",
                            api,
                            "--rpc-addr",
                            rpc,
                        ])
                        .current_dir(dir)
                        .stdout(Stdio::null())
                        .stderr(log)
                        .spawn()
                        .expect("start raft-key-value-rocks"),
                );
            }
            let api1 = &nodes[0].0;
            retry_post(&http, &format!("http://{api1}/cluster/init"), &json!({})).await;
            wait_leader(&http, &format!("http://{api1}/cluster/metrics"), 1).await;
            for (i, (api, rpc)) in nodes.iter().enumerate().skip(1) {
                retry_post(
                    &http,
                    &format!("http://{api1}/cluster/add-learner"),
                    &json!([i + 1, api, rpc]),
                )
                .await;
            }
            retry_post(
                &http,
                &format!("http://{api1}/cluster/change-membership"),
                &json!([1, 2, 3]),
            )
            .await;
            Cluster {
                procs,
                write_url: format!("http://{api1}/api/write"),
                engine,
            }
        }
    }
}

struct RunResult {
    ops_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
}

async fn run_clients(
    cluster: &Cluster,
    clients: usize,
    seconds: u64,
    value_size: usize,
) -> RunResult {
    let value = "v".repeat(value_size);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = cluster.write_url.clone();
        let value = value.clone();
        let engine = cluster.engine;
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .unwrap();
            let mut lat = Vec::new();
            let mut x = (c as u64 + 1).wrapping_mul(0x9e3779b97f4a7c15);
            while Instant::now() < deadline {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("{x:016x}");
                let body = match engine {
                    Engine::Lsm | Engine::Other => json!({ "key": key, "value": value }),
                    Engine::RocksExample => json!({ "Set": { "key": key, "value": value } }),
                };
                let t = Instant::now();
                let r = http.post(&url).json(&body).send().await.expect("put");
                assert!(r.status().is_success(), "put answered {}", r.status());
                let _ = r.bytes().await;
                lat.push(t.elapsed().as_micros() as u64);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    RunResult {
        ops_per_sec: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn clusters(args: &Args, root: &Path) {
    let mut engines = vec![Engine::Lsm];
    if args.rocksdb_example.is_some() {
        engines.push(Engine::RocksExample);
    }
    if args.other_node.is_some() {
        engines.push(Engine::Other);
    }
    // results[engine][clients] = runs
    let mut results: Vec<Vec<Vec<RunResult>>> = engines
        .iter()
        .map(|_| args.clients.iter().map(|_| Vec::new()).collect())
        .collect();
    for rep in 0..args.reps {
        for (ei, &engine) in engines.iter().enumerate() {
            let dir = root.join(format!("{}-{rep}", engine.name()));
            let cluster = start(
                engine,
                &dir,
                args.rocksdb_example.as_deref(),
                args.other_node.as_deref(),
            )
            .await;
            for (ci, &clients) in args.clients.iter().enumerate() {
                let r = run_clients(&cluster, clients, args.seconds, args.value_size).await;
                println!(
                    "rep {rep} {:<16} clients {clients:>3}: {:>9.0} writes/s  p50 {:>6} us  p99 {:>6} us",
                    engine.name(),
                    r.ops_per_sec,
                    r.p50_us,
                    r.p99_us
                );
                results[ei][ci].push(r);
            }
            drop(cluster);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    println!(
        "\nmedians of {} repetition(s), {} s per run, {} B values:",
        args.reps, args.seconds, args.value_size
    );
    println!("| clients | engine | writes/s | p50 (ms) | p99 (ms) |");
    println!("|---:|---|---:|---:|---:|");
    for (ci, &clients) in args.clients.iter().enumerate() {
        for (ei, engine) in engines.iter().enumerate() {
            let runs = &results[ei][ci];
            let ops = median(runs.iter().map(|r| r.ops_per_sec).collect());
            let p50 = median(runs.iter().map(|r| r.p50_us as f64).collect());
            let p99 = median(runs.iter().map(|r| r.p99_us as f64).collect());
            println!(
                "| {clients} | {} | {ops:.0} | {:.2} | {:.2} |",
                engine.name(),
                p50 / 1000.0,
                p99 / 1000.0
            );
        }
        let lsm = median(results[0][ci].iter().map(|r| r.ops_per_sec).collect());
        for (ei, engine) in engines.iter().enumerate().skip(1) {
            let other = median(results[ei][ci].iter().map(|r| r.ops_per_sec).collect());
            println!(
                "| {clients} | lsm-raft / {} | {:.2}x | | |",
                engine.name(),
                lsm / other
            );
        }
    }
}

async fn snapshot_times(keys: u64, root: &Path, value_size: usize) {
    let (_la, mut a) = store::open(root.join("a"), Default::default()).unwrap();
    let value = vec![b'v'; value_size];
    let t = Instant::now();
    let mut index = 0u64;
    while index < keys {
        let n = (keys - index).min(10_000);
        let entries: Vec<Entry<lsm_raft::TypeConfig>> = (0..n)
            .map(|i| {
                let k = index + i;
                Entry {
                    log_id: LogId::new(CommittedLeaderId::new(1, 1), k + 1),
                    payload: EntryPayload::Normal(Request::Put {
                        key: format!("{:016x}", k.wrapping_mul(0x9e3779b97f4a7c15)).into_bytes(),
                        value: value.clone(),
                    }),
                }
            })
            .collect();
        a.apply(entries).await.unwrap();
        index += n;
    }
    println!("applied {keys} keys in {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let snap = a
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let build = t.elapsed();
    let bytes = snap.snapshot.len().unwrap();
    let (_lb, mut b) = store::open(root.join("b"), Default::default()).unwrap();
    let t = Instant::now();
    let mut recv = b.begin_receiving_snapshot().await.unwrap();
    std::io::copy(&mut snap.snapshot.reopen().unwrap().file, &mut recv.file).unwrap();
    let copy = t.elapsed();
    let t = Instant::now();
    b.install_snapshot(&snap.meta, recv).await.unwrap();
    let install = t.elapsed();
    let probe = format!("{:016x}", (keys / 2).wrapping_mul(0x9e3779b97f4a7c15));
    assert_eq!(
        b.reader().get(probe.as_bytes()).unwrap().as_deref(),
        Some(&value[..])
    );
    println!(
        "snapshot of {keys} keys: build {:.3} s, archive {:.1} MiB, copy {:.3} s, install {:.3} s",
        build.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64,
        copy.as_secs_f64(),
        install.as_secs_f64()
    );
}

async fn append_times(total: u64, batches: &[u64], root: &Path, value_size: usize) {
    use openraft::storage::RaftLogStorageExt;
    let value = vec![b'v'; value_size];
    for &batch in batches {
        let dir = tempfile::tempdir_in(root).unwrap();
        let (mut log, mut sm) = store::open(dir.path(), Default::default()).unwrap();
        // A tenth of the entries one at a time: each is an fsync.
        let n = if batch == 1 { total / 10 } else { total };
        let t = Instant::now();
        let mut i = 1;
        while i <= n {
            let entries: Vec<Entry<lsm_raft::TypeConfig>> = (i..i + batch)
                .map(|k| Entry {
                    log_id: LogId::new(CommittedLeaderId::new(1, 1), k),
                    payload: EntryPayload::Normal(Request::Put {
                        key: format!("{k:016}").into_bytes(),
                        value: value.clone(),
                    }),
                })
                .collect();
            log.blocking_append(entries.clone()).await.unwrap();
            sm.apply(entries).await.unwrap();
            i += batch;
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        println!("batch {batch:>3}: lsm-raft {rate:>9.0} entries/s (append fsynced, then apply)");
    }
}

fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if let Some(keys) = args.snapshot_keys {
            snapshot_times(keys, tmp.path(), args.value_size).await
        } else if let Some(n) = args.appends {
            append_times(n, &args.batch, tmp.path(), args.value_size).await
        } else {
            clusters(&args, tmp.path()).await
        }
    });
}
