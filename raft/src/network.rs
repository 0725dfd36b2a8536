//! Raft RPCs between nodes, over HTTP on the same port as the client API: JSON for
//! append-entries and vote, and a snapshot streamed whole as one request body (a
//! length-prefixed JSON header with the vote and metadata, then the archive).

use std::future::Future;
use std::io::{Seek, SeekFrom};

use futures_util::StreamExt;
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{Snapshot, SnapshotMeta, Vote};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::types::{Node, NodeId, TypeConfig};

/// The header that precedes a snapshot archive in `POST /raft/snapshot`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotHeader {
    pub vote: Vote<NodeId>,
    pub meta: SnapshotMeta<NodeId, Node>,
}

/// Makes the HTTP clients openraft replicates through.
#[derive(Clone)]
pub struct HttpNetwork {
    http: reqwest::Client,
    token: Option<String>,
}

impl HttpNetwork {
    /// A network that sends `Authorization: Bearer <token>` when `token` is set.
    pub fn new(token: Option<String>) -> HttpNetwork {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a reqwest client without TLS always builds");
        HttpNetwork { http, token }
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerClient {
        PeerClient {
            http: self.http.clone(),
            token: self.token.clone(),
            target,
            base: format!("http://{}", node.addr),
        }
    }
}

/// The RPC client of one peer.
pub struct PeerClient {
    http: reqwest::Client,
    token: Option<String>,
    target: NodeId,
    base: String,
}

/// How a request failed before the peer could answer it.
fn transport(e: reqwest::Error) -> RPCError<NodeId, Node, RaftError<NodeId>> {
    if e.is_connect() {
        RPCError::Unreachable(Unreachable::new(&e))
    } else {
        RPCError::Network(NetworkError::new(&e))
    }
}

fn bad_status(status: reqwest::StatusCode, body: &str) -> NetworkError {
    NetworkError::new(&std::io::Error::other(format!(
        "peer answered {status}: {body}"
    )))
}

impl PeerClient {
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.post(format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let resp = self
            .post(path)
            .timeout(option.hard_ttl())
            .json(req)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(RPCError::Network(bad_status(
                status,
                &String::from_utf8_lossy(&body),
            )));
        }
        let answer: Result<Resp, RaftError<NodeId>> =
            serde_json::from_slice(&body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let header = serde_json::to_vec(&SnapshotHeader {
            vote,
            meta: snapshot.meta.clone(),
        })
        .map_err(stream_err)?;
        let mut file = snapshot.snapshot.file.try_clone().map_err(stream_err)?;
        file.seek(SeekFrom::Start(0)).map_err(stream_err)?;
        let mut prefix = (header.len() as u32).to_le_bytes().to_vec();
        prefix.extend_from_slice(&header);
        let archive =
            tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 1 << 20);
        let body =
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes_of(prefix)) })
                .chain(archive);
        let send = self
            .post("/raft/snapshot")
            .body(reqwest::Body::wrap_stream(body))
            .send();
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            resp = send => resp,
        };
        let resp = resp.map_err(|e| {
            if e.is_connect() {
                StreamingError::Unreachable(Unreachable::new(&e))
            } else {
                stream_err(e)
            }
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(stream_err)?;
        if !status.is_success() {
            return Err(StreamingError::Network(bad_status(
                status,
                &String::from_utf8_lossy(&body),
            )));
        }
        let answer: Result<SnapshotResponse<NodeId>, Fatal<NodeId>> =
            serde_json::from_slice(&body).map_err(stream_err)?;
        answer.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// A failure while sending a snapshot, before the peer answered.
fn stream_err(e: impl std::error::Error + 'static) -> StreamingError<TypeConfig, Fatal<NodeId>> {
    StreamingError::Network(NetworkError::new(&e))
}

fn bytes_of(v: Vec<u8>) -> axum::body::Bytes {
    axum::body::Bytes::from(v)
}
