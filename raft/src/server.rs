//! The HTTP API of a node (SPEC section 10): the cluster and key-value endpoints for
//! clients, and the Raft RPCs for peers, on one port.
//!
//! Every failure is an answer with a JSON body `{"error": "..."}`: 400 for a body or
//! query that does not parse, 401 for a missing or wrong token, 404 for a missing key,
//! 413 for a body over the limit, 421 (with the leader's id and address) from a node
//! that is not the leader, 503 while no quorum answers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, Request as HttpRequest, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use openraft::error::{ClientWriteError, ForwardToLeader, RaftError};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::Snapshot;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::network::SnapshotHeader;
use crate::snapshot::SnapshotFile;
use crate::types::{Node, NodeId, Request, TypeConfig};
use crate::{hex, KvReader, Raft};

/// The largest snapshot header (vote and metadata) a peer may send.
const MAX_SNAPSHOT_HEADER: usize = 16 << 20;

/// What the handlers share.
pub struct AppState {
    /// This node's id.
    pub id: NodeId,
    /// The running openraft instance.
    pub raft: Raft,
    /// Reads of the local state machine.
    pub kv: KvReader,
    /// Where received snapshots are written.
    pub snapshots: PathBuf,
    /// The bearer token every request must carry, when set.
    pub token: Option<String>,
}

/// The router of a node: client API, peer RPCs, token check and body limits.
/// `max_body` bounds the client endpoints' bodies; peers' append-entries bodies may be
/// 64 times larger, and a snapshot body is streamed to disk unbounded.
pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    let client = Router::new()
        .route("/cluster/init", post(init))
        .route("/cluster/add-learner", post(add_learner))
        .route("/cluster/change-membership", post(change_membership))
        .route("/cluster/metrics", get(metrics))
        .route("/kv/put", post(put))
        .route("/kv/delete", post(delete))
        .route("/kv/get", get(read))
        .layer(DefaultBodyLimit::max(max_body));
    let peers = Router::new()
        .route("/raft/append", post(raft_append))
        .route("/raft/vote", post(raft_vote))
        .layer(DefaultBodyLimit::max(max_body.saturating_mul(64)));
    let snapshot = Router::new()
        .route("/raft/snapshot", post(raft_snapshot))
        .layer(DefaultBodyLimit::disable());
    client
        .merge(peers)
        .merge(snapshot)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": msg.to_string() }))).into_response()
}

fn ok(body: serde_json::Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Compares without an early exit, so the time taken says nothing of where a guess
/// first differs (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn auth(State(state): State<Arc<AppState>>, req: HttpRequest, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or(b"");
        if !constant_time_eq(given, token.as_bytes()) {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    next.run(req).await
}

/// Parses a JSON body, answering 413 past the limit and 400 with serde's message
/// (which names the field and position) otherwise.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Response> {
    let bytes = body.map_err(|r| error(r.status(), r.body_text()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// The 421 a follower answers with: who the leader is, as far as this node knows.
fn not_leader(f: &ForwardToLeader<NodeId, Node>) -> Response {
    let body = json!({
        "error": "this node is not the leader",
        "leader_id": f.leader_id,
        "leader_addr": f.leader_node.as_ref().map(|n| n.addr.clone()),
    });
    (StatusCode::MISDIRECTED_REQUEST, axum::Json(body)).into_response()
}

/// Maps an openraft API error: forward-to-leader is a 421, a node shutting down a
/// 503, anything else (a change openraft refuses) a 400 with openraft's message.
fn raft_error<E>(e: RaftError<NodeId, E>) -> Response
where
    E: std::error::Error + openraft::TryAsRef<ForwardToLeader<NodeId, Node>>,
{
    if let Some(f) = e.forward_to_leader() {
        return not_leader(f);
    }
    match e {
        RaftError::Fatal(f) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped: {f}"),
        ),
        RaftError::APIError(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitBody {
    #[serde(default)]
    members: BTreeMap<NodeId, String>,
}

async fn init(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body: InitBody = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some((id, addr)) = body
        .members
        .iter()
        .find(|(_, a)| a.parse::<std::net::SocketAddr>().is_err())
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("member {id}: addr {addr:?} is not host:port"),
        );
    }
    let members: BTreeMap<NodeId, Node> = body
        .members
        .into_iter()
        .map(|(id, addr)| (id, Node::new(addr)))
        .collect();
    if !members.contains_key(&s.id) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("members must include this node ({})", s.id),
        );
    }
    match s.raft.initialize(members).await {
        Ok(()) => ok(json!({ "ok": true })),
        Err(RaftError::APIError(e)) => error(StatusCode::CONFLICT, e),
        Err(RaftError::Fatal(f)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped: {f}"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddLearnerBody {
    id: NodeId,
    addr: String,
}

async fn add_learner(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body: AddLearnerBody = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.addr.parse::<std::net::SocketAddr>().is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("addr {:?} is not host:port", body.addr),
        );
    }
    match s
        .raft
        .add_learner(body.id, Node::new(body.addr), true)
        .await
    {
        Ok(r) => ok(json!({ "ok": true, "log_index": r.log_id.index })),
        Err(e) => raft_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeMembershipBody {
    members: BTreeSet<NodeId>,
}

async fn change_membership(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body: ChangeMembershipBody = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.raft.change_membership(body.members, false).await {
        Ok(r) => ok(json!({ "ok": true, "log_index": r.log_id.index })),
        Err(e) => raft_error(e),
    }
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let m = s.raft.metrics().borrow().clone();
    match serde_json::to_value(&m) {
        Ok(v) => ok(v),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EncQuery {
    enc: Option<String>,
}

/// How keys and values are spelt in JSON: UTF-8 text, or hex with `?enc=hex`.
#[derive(Clone, Copy)]
enum Enc {
    Text,
    Hex,
}

impl Enc {
    fn from_query(enc: Option<&str>) -> Result<Enc, Response> {
        match enc {
            None | Some("utf8") | Some("utf-8") => Ok(Enc::Text),
            Some("hex") => Ok(Enc::Hex),
            Some(other) => Err(error(
                StatusCode::BAD_REQUEST,
                format!("enc={other:?}: use hex or utf8"),
            )),
        }
    }

    fn decode(self, what: &str, s: String, limit: usize) -> Result<Vec<u8>, Response> {
        let bytes = match self {
            Enc::Text => s.into_bytes(),
            Enc::Hex => hex::decode(&s)
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("{what}: {e}")))?,
        };
        if bytes.len() > limit {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{what} of {} bytes is over the limit of {limit}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    fn encode(self, bytes: Vec<u8>) -> Result<String, Response> {
        match self {
            Enc::Hex => Ok(hex::encode(&bytes)),
            Enc::Text => String::from_utf8(bytes).map_err(|_| {
                error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "the value is not UTF-8 text: ask with ?enc=hex",
                )
            }),
        }
    }
}

fn query<T: Default>(q: Result<Query<T>, QueryRejection>) -> Result<T, Response> {
    q.map(|Query(q)| q)
        .map_err(|r| error(StatusCode::BAD_REQUEST, r.body_text()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    key: String,
}

async fn write(s: &AppState, req: Request) -> Response {
    match s.raft.client_write(req).await {
        Ok(r) => ok(json!({ "ok": true, "log_index": r.log_id.index })),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => not_leader(&f),
        Err(e) => raft_error(e),
    }
}

async fn put(
    State(s): State<Arc<AppState>>,
    q: Result<Query<EncQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let enc = Enc::from_query(query(q)?.enc.as_deref())?;
        let b: PutBody = parse(body)?;
        let key = enc.decode("key", b.key, lsm::MAX_KEY_LEN)?;
        let value = enc.decode("value", b.value, lsm::MAX_VALUE_LEN)?;
        Ok::<_, Response>(Request::Put { key, value })
    }
    .await;
    match result {
        Ok(req) => write(&s, req).await,
        Err(r) => r,
    }
}

async fn delete(
    State(s): State<Arc<AppState>>,
    q: Result<Query<EncQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let enc = Enc::from_query(query(q)?.enc.as_deref())?;
        let b: DeleteBody = parse(body)?;
        Ok::<_, Response>(Request::Delete {
            key: enc.decode("key", b.key, lsm::MAX_KEY_LEN)?,
        })
    }
    .await;
    match result {
        Ok(req) => write(&s, req).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GetQuery {
    key: Option<String>,
    #[serde(default)]
    stale: bool,
    enc: Option<String>,
}

async fn read(
    State(s): State<Arc<AppState>>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let q = query(q)?;
        let enc = Enc::from_query(q.enc.as_deref())?;
        let key = q
            .key
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "missing query parameter key"))?;
        let key = enc.decode("key", key, lsm::MAX_KEY_LEN)?;
        if !q.stale {
            // Read index: the leadership is confirmed by a quorum and the state machine
            // has applied up to the commit index seen then, so the read below sees every
            // write acknowledged before this request.
            s.raft.ensure_linearizable().await.map_err(raft_error)?;
        }
        let value =
            s.kv.get(&key)
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        let Some(value) = value else {
            return Err(error(StatusCode::NOT_FOUND, "key not found"));
        };
        let key = enc.encode(key)?;
        let value = enc.encode(value)?;
        Ok(ok(json!({ "key": key, "value": value })))
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn raft_append(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: AppendEntriesRequest<TypeConfig> = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let res = s.raft.append_entries(req).await;
    ok(serde_json::to_value(&res).unwrap_or_else(|e| json!({ "Err": e.to_string() })))
}

async fn raft_vote(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: VoteRequest<NodeId> = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let res = s.raft.vote(req).await;
    ok(serde_json::to_value(&res).unwrap_or_else(|e| json!({ "Err": e.to_string() })))
}

/// Receives a snapshot: the header, then the archive streamed into a file beside the
/// state machine; openraft then installs it (which checks every checksum).
async fn raft_snapshot(State(s): State<Arc<AppState>>, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    let mut header: Option<SnapshotHeader> = None;
    let mut out: Option<(SnapshotFile, tokio::fs::File)> = None;
    // A body cut short, or a snapshot openraft refuses, leaves no file behind; an
    // installed one has been renamed away by then.
    let mut _cleanup: Option<RemoveOnDrop> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("reading the snapshot body: {e}"),
                )
            }
        };
        let rest: &[u8] = if header.is_none() {
            head.extend_from_slice(&chunk);
            if head.len() < 4 {
                continue;
            }
            let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
            if len > MAX_SNAPSHOT_HEADER {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("snapshot header of {len} bytes"),
                );
            }
            if head.len() < 4 + len {
                continue;
            }
            match serde_json::from_slice::<SnapshotHeader>(&head[4..4 + len]) {
                Ok(h) => header = Some(h),
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("snapshot header: {e}")),
            }
            let file = match SnapshotFile::create_in(&s.snapshots) {
                Ok(f) => f,
                Err(e) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("snapshot file: {e}"),
                    )
                }
            };
            let writer = match file.file.try_clone() {
                Ok(w) => tokio::fs::File::from_std(w),
                Err(e) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("snapshot file: {e}"),
                    )
                }
            };
            _cleanup = Some(RemoveOnDrop(file.path.clone()));
            out = Some((file, writer));
            &head[4 + len..]
        } else {
            &chunk
        };
        if let Some((_, w)) = out.as_mut() {
            if let Err(e) = w.write_all(rest).await {
                return error(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!("writing the snapshot: {e}"),
                );
            }
        }
        if header.is_some() && !head.is_empty() {
            head.clear();
        }
    }
    let (Some(header), Some((file, mut w))) = (header, out) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the snapshot body ended inside its header",
        );
    };
    if let Err(e) = w.flush().await {
        return error(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("writing the snapshot: {e}"),
        );
    }
    drop(w);
    let snapshot = Snapshot {
        meta: header.meta,
        snapshot: Box::new(file),
    };
    let res = s.raft.install_full_snapshot(header.vote, snapshot).await;
    ok(serde_json::to_value(&res).unwrap_or_else(|e| json!({ "Err": e.to_string() })))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
