//! Clusters of real `lsm-raft-node` processes: leader loss, a paused follower, a
//! learner that needs a snapshot, a crash loop, and bad input on every endpoint.

mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::*;
use serde_json::{json, Value};

/// Fast timing (heartbeat 100 ms, elections 0.5 to 1 s), a snapshot every
/// `snapshot_logs` entries and `keep_logs` entries kept behind it.
fn fast(snapshot_logs: &'static str, keep_logs: &'static str) -> Vec<&'static str> {
    vec![
        "--heartbeat-ms",
        "100",
        "--election-timeout-min-ms",
        "500",
        "--election-timeout-max-ms",
        "1000",
        "--snapshot-logs",
        snapshot_logs,
        "--keep-logs",
        keep_logs,
    ]
}

/// The timing and snapshot policy of most cluster tests.
fn standard() -> Vec<&'static str> {
    fast("300", "20")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_losing_the_leader_and_a_learner_catches_up_by_snapshot() {
    let _serial = serial().await;
    let (mut c, leader) = Cluster::three(&standard()).await;

    let mut acked = write_concurrently(&c, "a", 8, 125).await;
    assert_eq!(acked.len(), 1000);

    c.kill9(leader);
    let killed_at = Instant::now();
    let rest: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    let new_leader = c.leader(&rest, Duration::from_secs(5)).await;
    let elected_in = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    assert!(
        elected_in < Duration::from_secs(5),
        "a new leader took {elected_in:?}"
    );
    eprintln!("new leader {new_leader} elected {elected_in:?} after the kill");

    check_linearizable(&c, &acked).await;
    acked.extend(write_concurrently(&c, "b", 8, 25).await);

    c.start(leader);
    c.converges(leader, &acked, Duration::from_secs(30)).await;

    // Enough writes to build snapshots and purge the log behind them, then a learner
    // that has nothing: it can only catch up through a snapshot install.
    acked.extend(write_concurrently(&c, "c", 8, 60).await);
    let lead = c.leader(&[1, 2, 3], Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = c.metrics(lead).await.unwrap();
        if m["purged"]["index"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leader never purged its log: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.add(4, &[]);
    let (s, v) = c
        .post(
            lead,
            "/cluster/add-learner",
            json!({ "id": 4, "addr": c.addr(4) }),
        )
        .await;
    assert_eq!(s, 200, "add-learner: {v}");
    c.converges(4, &acked, Duration::from_secs(30)).await;
    let m4 = c.metrics(4).await.unwrap();
    assert!(
        m4["snapshot"]["index"].as_u64().unwrap_or(0) > 0,
        "node 4 did not install a snapshot: {m4}"
    );
    assert!(
        c.log_of(4).contains("installed snapshot"),
        "{}",
        c.log_of(4)
    );

    // Promote the learner: a 4-voter membership, and writes still commit and reach it.
    let (s, v) = c
        .post(
            lead,
            "/cluster/change-membership",
            json!({ "members": [1, 2, 3, 4] }),
        )
        .await;
    assert_eq!(s, 200, "change-membership: {v}");
    let m = c.metrics(lead).await.unwrap();
    assert_eq!(
        m["membership_config"]["membership"]["configs"],
        json!([[1, 2, 3, 4]]),
        "{m}"
    );
    let more = write_concurrently(&c, "d", 4, 10).await;
    c.converges(4, &more, Duration::from_secs(30)).await;

    // A clean stop on SIGTERM.
    for id in 1..=4 {
        assert!(
            c.terminate(id).success(),
            "node {id} exited uncleanly:\n{}",
            c.log_of(id)
        );
    }
    for id in 1..=4 {
        verify_node(&c.dir(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_paused_past_the_election_timeout_loses_nothing() {
    let _serial = serial().await;
    let (c, leader) = Cluster::three(&standard()).await;
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let mut acked = write_concurrently(&c, "before", 4, 50).await;

    c.signal(follower, libc::SIGSTOP);
    // Writes go on (a majority is left) while the follower sleeps through several
    // election timeouts.
    let during = write_concurrently(&c, "during", 4, 50).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.signal(follower, libc::SIGCONT);
    acked.extend(during);
    acked.extend(write_concurrently(&c, "after", 4, 25).await);

    check_linearizable(&c, &acked).await;
    c.converges(follower, &acked, Duration::from_secs(30)).await;
    let l = c.leader(&[1, 2, 3], Duration::from_secs(10)).await;
    assert!((1..=3).contains(&l));
}

/// Kills one node with SIGKILL over and over: while it appends under load, and while
/// it installs a snapshot after being left behind. Every restart must open and verify,
/// and the node must rejoin. `LSM_RAFT_CRASH_CYCLES` sets the count (50 for the long
/// run in README; a few in the test command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_on_one_node() {
    let _serial = serial().await;
    let cycles: usize = std::env::var("LSM_RAFT_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    // Frequent snapshots and no log kept behind them, so a node left behind needs one.
    let (mut c, _) = Cluster::three(&fast("100", "0")).await;
    let victim = 3;
    let mut acked: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let value = vec![b'x'; 2048];
    let mut seq = 0u64;
    let client = c.client();
    for cycle in 0..cycles {
        let during_install = cycle % 2 == 1;
        if during_install {
            // Leave the victim behind far enough that the log it needs is purged, then
            // restart it: it must install a snapshot, and is killed partway.
            c.kill9(victim);
            for _ in 0..250 {
                seq += 1;
                let k = format!("crash-{seq:06}").into_bytes();
                client.put(&k, &value).await.unwrap();
                acked.insert(k, value.clone());
            }
            let begun = c.log_of(victim).matches("installing snapshot").count();
            c.start(victim);
            // Kill it as soon as its log says an install has begun (a few milliseconds
            // in, varied by cycle), or after 10 s if none begins.
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.log_of(victim).matches("installing snapshot").count() == begun
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(cycle as u64 % 5)).await;
        } else {
            // Kill it while it appends: writes run concurrently with the kill.
            let writer = {
                let client = c.client();
                let value = value.clone();
                let start = seq;
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    for i in 1..=150u64 {
                        let k = format!("crash-{:06}", start + i).into_bytes();
                        client.put(&k, &value).await.unwrap();
                        done.push(k);
                    }
                    done
                })
            };
            tokio::time::sleep(Duration::from_millis(100 + 53 * (cycle as u64 % 7) * 10)).await;
            c.kill9(victim);
            for k in writer.await.unwrap() {
                acked.insert(k, value.clone());
            }
            seq += 150;
        }
        c.kill9(victim);
        verify_node(&c.dir(victim));
        c.start(victim);
        // Rejoined: its state machine catches up with the newest acknowledged write.
        let last = format!("crash-{seq:06}").into_bytes();
        let one: BTreeMap<_, _> = [(last, value.clone())].into();
        c.converges(victim, &one, Duration::from_secs(30)).await;
    }
    check_linearizable(&c, &acked).await;
    c.converges(victim, &acked, Duration::from_secs(30)).await;
    let log = c.log_of(victim);
    eprintln!(
        "{} snapshot installs begun and {} completed on the victim over {cycles} cycles",
        log.matches("installing snapshot").count(),
        log.matches("installed snapshot").count()
    );
}

/// A `/raft/snapshot` body with a well-formed header and `archive` after it.
fn snapshot_body(archive: &[u8]) -> Vec<u8> {
    let meta = openraft::SnapshotMeta::<u64, openraft::BasicNode> {
        last_log_id: Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(1, 1),
            5,
        )),
        last_membership: Default::default(),
        snapshot_id: "forged".into(),
    };
    let header =
        serde_json::to_vec(&json!({ "vote": openraft::Vote::new(1, 1), "meta": meta })).unwrap();
    let mut body = (header.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&header);
    body.extend_from_slice(archive);
    body
}

async fn send(c: &Cluster, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let url = format!("http://{}{path}", c.addr(1));
    let mut req = c.http.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.expect("the node answers");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_with_a_message() {
    let _serial = serial().await;
    let mut c = Cluster::new(&standard());
    c.add(1, &[]);
    c.init(1, &[1]).await;
    c.leader(&[1], Duration::from_secs(10)).await;
    let big = format!("{{\"key\":\"k\",\"value\":\"{}\"}}", "x".repeat(2 << 20)).into_bytes();
    let cases: Vec<(&str, &str, Option<Vec<u8>>, u16)> = vec![
        ("POST", "/kv/put", Some(b"{not json".to_vec()), 400),
        (
            "POST",
            "/kv/put",
            Some(br#"{"key": 1, "value": "v"}"#.to_vec()),
            400,
        ),
        ("POST", "/kv/put", Some(br#"{"key": "k"}"#.to_vec()), 400),
        (
            "POST",
            "/kv/put",
            Some(br#"{"key": "k", "value": "v", "extra": 1}"#.to_vec()),
            400,
        ),
        ("POST", "/kv/put", Some(br#"[1, 2]"#.to_vec()), 400),
        ("POST", "/kv/put", Some(Vec::new()), 400),
        ("POST", "/kv/put", Some(big.clone()), 413),
        (
            "POST",
            "/kv/put?enc=hex",
            Some(br#"{"key": "abc", "value": "00"}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/kv/put?enc=hex",
            Some(br#"{"key": "zz", "value": "00"}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/kv/put?enc=rot13",
            Some(br#"{"key": "k", "value": "v"}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/kv/delete",
            Some(br#"{"key": null}"#.to_vec()),
            400,
        ),
        ("GET", "/kv/get", None, 400),
        ("GET", "/kv/get?key=k&stale=maybe", None, 400),
        ("GET", "/kv/get?key=absent", None, 404),
        ("GET", "/kv/get?key=absent&stale=true", None, 404),
        (
            "POST",
            "/cluster/init",
            Some(br#"{"members": {"x": "127.0.0.1:1"}}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/init",
            Some(br#"{"members": {"1": "not an address"}}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/init",
            Some(br#"{"members": {"9": "127.0.0.1:1"}}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/add-learner",
            Some(br#"{"id": "four", "addr": "127.0.0.1:1"}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/add-learner",
            Some(br#"{"id": 4, "addr": "nowhere"}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/change-membership",
            Some(br#"{"members": [1, 77]}"#.to_vec()),
            400,
        ),
        (
            "POST",
            "/cluster/change-membership",
            Some(br#"{"members": "all"}"#.to_vec()),
            400,
        ),
        ("POST", "/cluster/change-membership", Some(big.clone()), 413),
        ("POST", "/raft/append", Some(b"garbage".to_vec()), 400),
        ("POST", "/raft/vote", Some(br#"{"vote": 1}"#.to_vec()), 400),
        (
            "POST",
            "/raft/snapshot",
            Some(b"\x05\x00\x00\x00{bad}".to_vec()),
            400,
        ),
        (
            "POST",
            "/raft/snapshot",
            Some(b"\xff\xff\xff\xff".to_vec()),
            413,
        ),
        ("POST", "/raft/snapshot", Some(b"\x01".to_vec()), 400),
        (
            "POST",
            "/raft/snapshot",
            Some(snapshot_body(b"LSMRSNAP not really an archive")),
            400,
        ),
        ("POST", "/raft/snapshot", Some(snapshot_body(b"")), 400),
        ("GET", "/no/such/endpoint", None, 404),
        ("GET", "/kv/put", None, 405),
    ];
    for (method, path, body, want) in cases {
        let shown = body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned());
        let (status, answer) = send(&c, method, path, body).await;
        assert_eq!(
            status, want,
            "{method} {path} {shown:?} answered {status} {answer}"
        );
        if want != 405 {
            assert!(
                answer["error"].as_str().is_some_and(|m| !m.is_empty()),
                "{method} {path}: no message: {answer}"
            );
        }
    }
    // An init on an initialised cluster is a conflict, not a crash.
    let (s, v) = c
        .post(1, "/cluster/init", json!({ "members": { "1": c.addr(1) } }))
        .await;
    assert_eq!(s, 409, "{v}");
    // Still alive and correct.
    let client = c.client();
    client.put(b"k", b"v").await.unwrap();
    assert_eq!(client.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
    // Binary keys and values round-trip through ?enc=hex, and a value that is not
    // UTF-8 asks for it.
    client.put(&[0, 255, 1], &[0xc3, 0x28]).await.unwrap();
    assert_eq!(
        client.get(&[0, 255, 1]).await.unwrap().as_deref(),
        Some(&[0xc3, 0x28][..])
    );
    let (s, v) = send(&c, "GET", "/kv/get?enc=hex&key=00ff01", None).await;
    assert_eq!((s, v["value"].as_str()), (200, Some("c328")));
    client.put(b"bin", &[0xff]).await.unwrap();
    let (s, v) = send(&c, "GET", "/kv/get?key=bin", None).await;
    assert_eq!(s, 422, "{v}");
    assert!(c.terminate(1).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_of_everyone_and_non_loopback_needs_one() {
    let _serial = serial().await;
    let mut c = Cluster::new(&standard());
    let token_file = c.root.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let tf = token_file.to_str().unwrap().to_string();
    for id in 1..=3 {
        c.add(id, &["--token-file", &tf]);
    }
    // Without the token: 401 on client and peer endpoints alike.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, v) = c
        .post(1, "/cluster/init", json!({ "members": { "1": c.addr(1) } }))
        .await;
    assert_eq!(s, 401, "{v}");
    let url = format!("http://{}/raft/vote", c.addr(2));
    let r = c
        .http
        .post(&url)
        .bearer_auth("wrong")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // With it, the peers (which send it to each other) form a cluster.
    let m: serde_json::Map<String, Value> = (1..=3)
        .map(|id| (id.to_string(), Value::String(c.addr(id))))
        .collect();
    let url = format!("http://{}/cluster/init", c.addr(1));
    let r = c
        .http
        .post(&url)
        .bearer_auth("s3cret-token")
        .json(&json!({ "members": m }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let client = lsm_raft::Client::new(c.addrs()).with_token("s3cret-token");
    client.put(b"k", b"v").await.unwrap();
    assert_eq!(client.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
    let no_token = lsm_raft::Client::new(c.addrs()).with_deadline(Duration::from_secs(2));
    assert!(matches!(
        no_token.get(b"k").await,
        Err(lsm_raft::ClientError::Refused { status: 401, .. })
    ));

    // A node asked to listen beyond loopback without a token refuses to start.
    let out = std::process::Command::new(BIN)
        .args([
            "--id",
            "9",
            "--addr",
            &format!("0.0.0.0:{}", free_port()),
            "--db",
        ])
        .arg(c.root.path().join("n9"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without --token-file"),
        "{out:?}"
    );
}

/// The README's Python example (plain `urllib`, following 421s) works as written
/// against a real cluster: it is sent to a follower, so it must follow the redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_python_example_works() {
    let _serial = serial().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find("## Replication").unwrap()..];
    let start = section.find("```python\n").unwrap() + "```python\n".len();
    let code = &section[start..start + section[start..].find("```").unwrap()];
    let mut c = Cluster::new(&standard());
    for id in 1..=2 {
        c.add(id, &[]);
    }
    c.init(1, &[1, 2]).await;
    let leader = c.leader(&[1, 2], Duration::from_secs(10)).await;
    let follower = if leader == 1 { 2 } else { 1 };
    let code = code.replace("127.0.0.1:21002", &c.addr(follower));
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(&code)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v\n");
    assert_eq!(
        c.client().get(b"k").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// The client's failures name what happened: a node that does not answer, and a
/// cluster where no leader answers within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_say_what_failed() {
    let dead = format!("127.0.0.1:{}", free_port());
    let client = lsm_raft::Client::new([dead.clone()]).with_deadline(Duration::from_millis(500));
    match client.get_stale(&dead, b"k").await {
        Err(lsm_raft::ClientError::Unreachable { addr, .. }) => assert_eq!(addr, dead),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(matches!(
        client.metrics(&dead).await,
        Err(lsm_raft::ClientError::Unreachable { .. })
    ));
    match client.put(b"k", b"v").await {
        Err(lsm_raft::ClientError::Timeout(d, last)) => {
            assert_eq!(d, Duration::from_millis(500));
            assert!(last.contains(&dead), "{last}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
}
