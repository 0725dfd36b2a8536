//! Real `lsm-raft-node` processes on 127.0.0.1, started, killed, paused and restarted
//! by the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lsm_raft::Client;
use serde_json::{json, Value};

/// Clusters share two cores: one at a time, so elections are not starved.
/// (An async mutex: each test has its own runtime, and the guard lives across awaits.)
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

pub const BIN: &str = env!("CARGO_BIN_EXE_lsm-raft-node");

/// A free port on loopback (the listener is dropped, so another bind may race it,
/// which the tests would see as a node that fails to start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct NodeSpec {
    pub addr: String,
    pub dir: PathBuf,
    pub extra: Vec<String>,
}

pub struct Cluster {
    pub root: tempfile::TempDir,
    pub nodes: BTreeMap<u64, NodeSpec>,
    pub procs: BTreeMap<u64, Child>,
    pub http: reqwest::Client,
    /// Flags every node gets.
    pub flags: Vec<String>,
}

impl Cluster {
    pub fn new(flags: &[&str]) -> Cluster {
        Cluster {
            root: tempfile::tempdir().unwrap(),
            nodes: BTreeMap::new(),
            procs: BTreeMap::new(),
            // No pooled connections: a node may close one after refusing a body it did
            // not read (413), and a reused one would then fail the next request.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Nodes 1, 2 and 3 started with `flags`, initialised, and their leader.
    pub async fn three(flags: &[&str]) -> (Cluster, u64) {
        let mut c = Cluster::new(flags);
        for id in 1..=3 {
            c.add(id, &[]);
        }
        c.init(1, &[1, 2, 3]).await;
        let leader = c.leader(&[1, 2, 3], Duration::from_secs(10)).await;
        (c, leader)
    }

    pub fn addr(&self, id: u64) -> String {
        self.nodes[&id].addr.clone()
    }

    pub fn dir(&self, id: u64) -> PathBuf {
        self.nodes[&id].dir.clone()
    }

    pub fn addrs(&self) -> Vec<String> {
        self.nodes.values().map(|n| n.addr.clone()).collect()
    }

    pub fn client(&self) -> Client {
        Client::new(self.addrs()).with_deadline(Duration::from_secs(30))
    }

    /// Defines node `id` (a new port and directory) and starts it.
    pub fn add(&mut self, id: u64, extra: &[&str]) {
        let spec = NodeSpec {
            addr: format!("127.0.0.1:{}", free_port()),
            dir: self.root.path().join(format!("n{id}")),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        self.nodes.insert(id, spec);
        self.start(id);
    }

    pub fn start(&mut self, id: u64) {
        let spec = &self.nodes[&id];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join(format!("n{id}.log")))
            .unwrap();
        let child = Command::new(BIN)
            .args(["--id", &id.to_string(), "--addr", &spec.addr, "--db"])
            .arg(&spec.dir)
            .args(&self.flags)
            .args(&spec.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start lsm-raft-node");
        self.procs.insert(id, child);
    }

    pub fn signal(&self, id: u64, sig: i32) {
        let pid = self.procs[&id].id() as i32;
        // SAFETY: kill(2) on a child we started and have not reaped.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
    }

    pub fn kill9(&mut self, id: u64) {
        if let Some(mut c) = self.procs.remove(&id) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the exit status of the clean shutdown.
    pub fn terminate(&mut self, id: u64) -> std::process::ExitStatus {
        self.signal(id, libc::SIGTERM);
        let mut c = self.procs.remove(&id).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_of(&self, id: u64) -> String {
        std::fs::read_to_string(self.root.path().join(format!("n{id}.log"))).unwrap_or_default()
    }

    pub async fn post(&self, id: u64, path: &str, body: Value) -> (u16, Value) {
        let url = format!("http://{}{path}", self.addr(id));
        match self.http.post(url).json(&body).send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({ "error": e.to_string() })),
        }
    }

    pub async fn metrics(&self, id: u64) -> Option<Value> {
        let url = format!("http://{}/cluster/metrics", self.addr(id));
        let r = self
            .http
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Waits for `init` to succeed on node `via` (its peers may still be starting).
    pub async fn init(&self, via: u64, members: &[u64]) {
        let m: serde_json::Map<String, Value> = members
            .iter()
            .map(|id| (id.to_string(), Value::String(self.addr(*id))))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (s, v) = self
                .post(via, "/cluster/init", json!({ "members": m }))
                .await;
            if s == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "init failed: {s} {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leader that every node in `among` agrees on, waiting up to `within`.
    pub async fn leader(&self, among: &[u64], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let mut seen = Vec::new();
            for id in among {
                if let Some(m) = self.metrics(*id).await {
                    seen.push((
                        m["current_leader"].as_u64(),
                        m["state"].as_str().map(str::to_string),
                    ));
                }
            }
            if seen.len() == among.len() {
                if let Some(Some(l)) = seen.first().map(|s| s.0) {
                    if seen.iter().all(|s| s.0 == Some(l)) && among.contains(&l) {
                        let lm = self.metrics(l).await.unwrap_or(Value::Null);
                        if lm["state"] == "Leader" {
                            return l;
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {among:?} within {within:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id`'s local (stale) reads give `want` for every key.
    pub async fn converges(&self, id: u64, want: &BTreeMap<Vec<u8>, Vec<u8>>, within: Duration) {
        let client = self.client();
        let addr = self.addr(id);
        let deadline = Instant::now() + within;
        'outer: loop {
            for (k, v) in want {
                let got = client.get_stale(&addr, k).await.ok().flatten();
                if got.as_ref() != Some(v) {
                    assert!(
                        Instant::now() < deadline,
                        "node {id} did not converge within {within:?}: key {} is {:?}\n{}",
                        String::from_utf8_lossy(k),
                        got.map(|g| String::from_utf8_lossy(&g).into_owned()),
                        self.log_of(id)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
            }
            return;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `writers` concurrent clients write `per_writer` keys each; the acknowledged ones.
pub async fn write_concurrently(
    cluster: &Cluster,
    tag: &str,
    writers: usize,
    per_writer: usize,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = cluster.client();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..per_writer {
                let k = format!("{tag}-{w}-{i:05}").into_bytes();
                let v = format!("value-{tag}-{w}-{i}").into_bytes();
                client
                    .put(&k, &v)
                    .await
                    .unwrap_or_else(|e| panic!("put {}: {e}", String::from_utf8_lossy(&k)));
                acked.push((k, v));
            }
            acked
        }));
    }
    let mut all = BTreeMap::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Every acknowledged write, read back linearizably through the leader.
pub async fn check_linearizable(cluster: &Cluster, want: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let client = cluster.client();
    for (k, v) in want {
        let got = client.get(k).await.unwrap();
        assert_eq!(
            got.as_ref(),
            Some(v),
            "acknowledged key {} lost",
            String::from_utf8_lossy(k)
        );
    }
}

/// Opens each lsm database of a stopped node that its next start will use (the log,
/// and the state machine generation `raft_meta` names; an install cut short leaves a
/// partial next generation, which the start removes) and checks every checksum, as
/// `lsm verify` does.
pub fn verify_node(dir: &Path) {
    let check = |db: &Path| -> lsm::Lsm {
        let lsm = lsm::Lsm::open(db).unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
        let report = lsm
            .verify()
            .unwrap_or_else(|e| panic!("verify {}: {e}", db.display()));
        assert!(!report.files.is_empty(), "{} has no files", db.display());
        lsm
    };
    let raft = check(&dir.join("raft"));
    let generation = raft
        .keyspace("raft_meta")
        .unwrap()
        .get(b"sm_generation")
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
        .unwrap_or_else(|| "0".into());
    raft.close().unwrap();
    check(&dir.join("sm").join(generation)).close().unwrap();
}
