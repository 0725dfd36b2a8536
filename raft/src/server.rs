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
use openraft::error::{ForwardToLeader, RaftError};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::Snapshot;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::log_store::PurgeGate;
use crate::network::SnapshotHeader;
use crate::proposer::Proposer;
use crate::snapshot::{self, SnapshotFile};
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
    /// Where client writes are queued to be proposed together.
    pub proposer: Proposer,
    /// Held open around a received snapshot's install (see [`PurgeGate`]).
    pub purge_gate: Option<Arc<PurgeGate>>,
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

/// A refusal: a status and a JSON body that has at least `"error"`.
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

type Answer = Result<Response, ApiError>;

fn error(status: StatusCode, msg: impl std::fmt::Display) -> ApiError {
    ApiError {
        status,
        body: json!({ "error": msg.to_string() }),
    }
}

fn ok(body: Value) -> Answer {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
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
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                .into_response();
        }
    }
    next.run(req).await
}

/// Parses a JSON body, answering 413 past the limit and 400 with serde's message
/// (which names the field and position) otherwise.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| error(r.status(), r.body_text()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// The 421 a follower answers with: who the leader is, as far as this node knows.
fn not_leader(f: &ForwardToLeader<NodeId, Node>) -> ApiError {
    ApiError {
        status: StatusCode::MISDIRECTED_REQUEST,
        body: json!({
            "error": "this node is not the leader",
            "leader_id": f.leader_id,
            "leader_addr": f.leader_node.as_ref().map(|n| n.addr.clone()),
        }),
    }
}

/// Maps an openraft API error: forward-to-leader is a 421, a node shutting down a
/// 503, anything else (a change openraft refuses) a 400 with openraft's message.
fn raft_error<E>(e: RaftError<NodeId, E>) -> ApiError
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

fn check_addr(addr: &str) -> Result<(), ApiError> {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("addr {addr:?} is not host:port"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitBody {
    #[serde(default)]
    members: BTreeMap<NodeId, String>,
}

async fn init(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Answer {
    let body: InitBody = parse(body)?;
    for addr in body.members.values() {
        check_addr(addr)?;
    }
    if !body.members.contains_key(&s.id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("members must include this node ({})", s.id),
        ));
    }
    let members: BTreeMap<NodeId, Node> = body
        .members
        .into_iter()
        .map(|(id, addr)| (id, Node::new(addr)))
        .collect();
    match s.raft.initialize(members).await {
        Ok(()) => ok(json!({ "ok": true })),
        Err(RaftError::APIError(e)) => Err(error(StatusCode::CONFLICT, e)),
        Err(RaftError::Fatal(f)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped: {f}"),
        )),
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
) -> Answer {
    let body: AddLearnerBody = parse(body)?;
    check_addr(&body.addr)?;
    let r = s
        .raft
        .add_learner(body.id, Node::new(body.addr), true)
        .await
        .map_err(raft_error)?;
    ok(json!({ "ok": true, "log_index": r.log_id.index }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeMembershipBody {
    members: BTreeSet<NodeId>,
}

async fn change_membership(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: ChangeMembershipBody = parse(body)?;
    let r = s
        .raft
        .change_membership(body.members, false)
        .await
        .map_err(raft_error)?;
    ok(json!({ "ok": true, "log_index": r.log_id.index }))
}

async fn metrics(State(s): State<Arc<AppState>>) -> Answer {
    let m = s.raft.metrics().borrow().clone();
    ok(serde_json::to_value(&m).map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?)
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
    fn from_query(enc: Option<&str>) -> Result<Enc, ApiError> {
        match enc {
            None | Some("utf8") | Some("utf-8") => Ok(Enc::Text),
            Some("hex") => Ok(Enc::Hex),
            Some(other) => Err(error(
                StatusCode::BAD_REQUEST,
                format!("enc={other:?}: use hex or utf8"),
            )),
        }
    }

    fn decode(self, what: &str, s: String, limit: usize) -> Result<Vec<u8>, ApiError> {
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

    fn encode(self, bytes: Vec<u8>) -> Result<String, ApiError> {
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

fn query<T: Default>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
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

async fn write(s: &AppState, req: Request) -> Answer {
    match s.proposer.write(req).await {
        Ok(index) => ok(json!({ "ok": true, "log_index": index })),
        Err(e) => Err(raft_error(e)),
    }
}

async fn put(
    State(s): State<Arc<AppState>>,
    q: Result<Query<EncQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let enc = Enc::from_query(query(q)?.enc.as_deref())?;
    let b: PutBody = parse(body)?;
    let key = enc.decode("key", b.key, lsm::MAX_KEY_LEN)?;
    let value = enc.decode("value", b.value, lsm::MAX_VALUE_LEN)?;
    write(&s, Request::Put { key, value }).await
}

async fn delete(
    State(s): State<Arc<AppState>>,
    q: Result<Query<EncQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let enc = Enc::from_query(query(q)?.enc.as_deref())?;
    let b: DeleteBody = parse(body)?;
    write(
        &s,
        Request::Delete {
            key: enc.decode("key", b.key, lsm::MAX_KEY_LEN)?,
        },
    )
    .await
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
) -> Answer {
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
            .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e))?;
    let value = value.ok_or_else(|| error(StatusCode::NOT_FOUND, "key not found"))?;
    ok(json!({ "key": enc.encode(key)?, "value": enc.encode(value)? }))
}

fn rpc_answer<T: serde::Serialize>(res: T) -> Answer {
    ok(serde_json::to_value(&res).map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?)
}

async fn raft_append(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let req: AppendEntriesRequest<TypeConfig> = parse(body)?;
    rpc_answer(s.raft.append_entries(req).await)
}

async fn raft_vote(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Answer {
    let req: VoteRequest<NodeId> = parse(body)?;
    rpc_answer(s.raft.vote(req).await)
}

/// Receives a snapshot: the header, then the archive streamed into a file beside the
/// state machine; openraft then installs it (which checks every checksum).
async fn raft_snapshot(State(s): State<Arc<AppState>>, body: Body) -> Answer {
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    let mut header: Option<SnapshotHeader> = None;
    let mut out: Option<(SnapshotFile, tokio::fs::File)> = None;
    // A body cut short, or a snapshot openraft refuses, leaves no file behind; an
    // installed one has been renamed away by then.
    let mut _cleanup: Option<RemoveOnDrop> = None;
    let storage = |e: std::io::Error| {
        error(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("writing the snapshot: {e}"),
        )
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("reading the snapshot body: {e}"),
            )
        })?;
        let rest: &[u8] = if header.is_none() {
            head.extend_from_slice(&chunk);
            if head.len() < 4 {
                continue;
            }
            let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
            if len > MAX_SNAPSHOT_HEADER {
                return Err(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("snapshot header of {len} bytes"),
                ));
            }
            if head.len() < 4 + len {
                continue;
            }
            header =
                Some(serde_json::from_slice(&head[4..4 + len]).map_err(|e| {
                    error(StatusCode::BAD_REQUEST, format!("snapshot header: {e}"))
                })?);
            let file = SnapshotFile::create_in(&s.snapshots).map_err(storage)?;
            let writer = tokio::fs::File::from_std(file.file.try_clone().map_err(storage)?);
            _cleanup = Some(RemoveOnDrop(file.path.clone()));
            out = Some((file, writer));
            &head[4 + len..]
        } else {
            &chunk
        };
        if let Some((_, w)) = out.as_mut() {
            w.write_all(rest).await.map_err(storage)?;
        }
        if header.is_some() && !head.is_empty() {
            head.clear();
        }
    }
    let (Some(header), Some((file, mut w))) = (header, out) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the snapshot body ended inside its header",
        ));
    };
    w.flush().await.map_err(storage)?;
    drop(w);
    // openraft treats a failed install as a storage failure and stops the node, so a
    // corrupt or mismatched transfer is refused here, before it gets that far.
    let checked = {
        let (f, p) = (file.file.try_clone().map_err(storage)?, file.path.clone());
        tokio::task::spawn_blocking(move || snapshot::check(&f, &p))
            .await
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?
    };
    let archived = checked.map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    if archived != header.meta {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the snapshot archive's metadata differs from its header's",
        ));
    }
    let snapshot = Snapshot {
        meta: header.meta,
        snapshot: Box::new(file),
    };
    // openraft answers once the state machine has installed the snapshot; a purge of
    // the log it covers waits until then.
    let _installing = s.purge_gate.as_ref().map(|g| g.begin_install());
    rpc_answer(s.raft.install_full_snapshot(header.vote, snapshot).await)
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
