//! A client of a cluster of `lsm-raft-node`s that finds the leader by itself: it
//! follows 421 answers to the leader they name, and moves to another node when one
//! does not answer.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::hex;

/// What a [`Client`] call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node answered with a result before the deadline; the last cause is kept.
    #[error("no leader answered within {0:?}: {1}")]
    Timeout(Duration, String),
    /// A node refused the request (a 4xx other than 421); the body's message is kept.
    #[error("{status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The node's `error` message.
        message: String,
    },
    /// The one node a call is addressed to (`get_stale`, `metrics`) did not answer.
    #[error("{addr} did not answer: {message}")]
    Unreachable {
        /// The node's address.
        addr: String,
        /// The transport's error.
        message: String,
    },
}

/// A client of the replicated key-value API (SPEC section 10).
///
/// Writes are retried on another node after a connection error, so a write whose
/// answer was lost can be applied twice; `put` and `delete` are idempotent, so the
/// result is the same.
pub struct Client {
    http: reqwest::Client,
    nodes: Vec<String>,
    /// The node believed to lead, an index into `nodes` or an address a 421 named.
    leader: parking_lot::Mutex<String>,
    token: Option<String>,
    deadline: Duration,
}

impl Client {
    /// A client of the cluster whose nodes listen at `nodes` (`"127.0.0.1:21001"`).
    pub fn new<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Client {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        assert!(
            !nodes.is_empty(),
            "a client needs at least one node address"
        );
        Client {
            http: reqwest::Client::builder()
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a reqwest client without TLS always builds"),
            leader: parking_lot::Mutex::new(nodes[0].clone()),
            nodes,
            token: None,
            deadline: Duration::from_secs(20),
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// How long a call keeps looking for a leader before [`ClientError::Timeout`]
    /// (20 s by default).
    pub fn with_deadline(mut self, deadline: Duration) -> Client {
        self.deadline = deadline;
        self
    }

    /// Sets `key` to `value`; returns once the write is committed on a majority.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        let body = json!({ "key": hex::encode(key), "value": hex::encode(value) });
        self.to_leader(reqwest::Method::POST, "/kv/put?enc=hex", Some(body))
            .await
            .map(|_| ())
    }

    /// Removes `key`; returns once committed on a majority.
    pub async fn delete(&self, key: &[u8]) -> Result<(), ClientError> {
        let body = json!({ "key": hex::encode(key) });
        self.to_leader(reqwest::Method::POST, "/kv/delete?enc=hex", Some(body))
            .await
            .map(|_| ())
    }

    /// A linearizable read of `key` through the leader.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let path = format!("/kv/get?enc=hex&key={}", hex::encode(key));
        match self.to_leader(reqwest::Method::GET, &path, None).await {
            Ok(v) => Ok(Some(value_of(&v)?)),
            Err(ClientError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A local read of `key` on the node at `addr`, which may lag the leader.
    pub async fn get_stale(&self, addr: &str, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let path = format!("/kv/get?enc=hex&stale=true&key={}", hex::encode(key));
        match self.get_from(addr, &path).await? {
            (StatusCode::OK, body) => Ok(Some(value_of(&body)?)),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (s, body) => Err(refused(s, &body)),
        }
    }

    /// openraft's metrics of the node at `addr`, as JSON.
    pub async fn metrics(&self, addr: &str) -> Result<Value, ClientError> {
        match self.get_from(addr, "/cluster/metrics").await? {
            (StatusCode::OK, body) => Ok(body),
            (s, body) => Err(refused(s, &body)),
        }
    }

    /// A GET to the one node at `addr`, with no redirect and no retry.
    async fn get_from(&self, addr: &str, path: &str) -> Result<(StatusCode, Value), ClientError> {
        let url = format!("http://{addr}{path}");
        self.send(reqwest::Method::GET, &url, None)
            .await
            .map_err(|e| ClientError::Unreachable {
                addr: addr.to_string(),
                message: e.to_string(),
            })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut req = self.http.request(method, url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Sends to the believed leader, following 421s and moving on from nodes that do
    /// not answer, until a result or the deadline.
    async fn to_leader(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let start = Instant::now();
        let mut next = 0usize;
        let mut last = String::from("no attempt");
        loop {
            if start.elapsed() > self.deadline {
                return Err(ClientError::Timeout(self.deadline, last));
            }
            let addr = self.leader.lock().clone();
            let url = format!("http://{addr}{path}");
            match self.send(method.clone(), &url, body.as_ref()).await {
                Ok((StatusCode::OK, v)) => return Ok(v),
                Ok((StatusCode::MISDIRECTED_REQUEST, v)) => {
                    last = format!("{addr} is not the leader");
                    match v.get("leader_addr").and_then(Value::as_str) {
                        Some(leader) if leader != addr => *self.leader.lock() = leader.to_string(),
                        // No leader known yet (an election is running): wait, then ask
                        // another node.
                        _ => {
                            self.rotate(&mut next, &addr, Duration::from_millis(100))
                                .await
                        }
                    }
                }
                Ok((StatusCode::SERVICE_UNAVAILABLE, v)) => {
                    last = format!("{addr}: {}", message(&v));
                    self.rotate(&mut next, &addr, Duration::from_millis(100))
                        .await;
                }
                Ok((s, v)) => return Err(refused(s, &v)),
                Err(e) => {
                    last = format!("{addr}: {e}");
                    self.rotate(&mut next, &addr, Duration::from_millis(50))
                        .await;
                }
            }
        }
    }

    async fn rotate(&self, next: &mut usize, failed: &str, pause: Duration) {
        tokio::time::sleep(pause).await;
        let mut leader = self.leader.lock();
        if *leader == failed {
            *next = (*next + 1) % self.nodes.len();
            *leader = self.nodes[*next].clone();
        }
    }
}

fn message(v: &Value) -> String {
    v.get("error")
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .to_string()
}

fn refused(status: StatusCode, v: &Value) -> ClientError {
    ClientError::Refused {
        status: status.as_u16(),
        message: message(v),
    }
}

fn value_of(v: &Value) -> Result<Vec<u8>, ClientError> {
    let s = v.get("value").and_then(Value::as_str).unwrap_or_default();
    hex::decode(s).map_err(|e| ClientError::Refused {
        status: 200,
        message: format!("bad value in answer: {e}"),
    })
}
