//! A running node: its store, its openraft instance and its HTTP server, from start to
//! a clean stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::SnapshotPolicy;

use crate::log_store::PurgeGate;
use crate::network::HttpNetwork;
use crate::proposer::Proposer;
use crate::server::{router, AppState};
use crate::store::{self, StoreOptions};
use crate::{NodeId, Raft, StateMachine, TypeConfig};
use openraft::storage::RaftLogStorage;

/// What a node is started with (the `lsm-raft-node` flags).
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The node's id, unique in the cluster and stable across restarts.
    pub id: NodeId,
    /// The address it listens on, for clients and peers alike.
    pub addr: SocketAddr,
    /// The node's directory.
    pub db: PathBuf,
    /// The bearer token required of every request and sent to peers.
    pub token: Option<String>,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Election timeout, drawn between the two.
    pub election_timeout: (Duration, Duration),
    /// A snapshot is built after this many applied entries since the last one.
    pub snapshot_logs: u64,
    /// How many entries to keep in the log behind the last snapshot (for followers
    /// that lag a little, so they need entries rather than a snapshot).
    pub keep_logs: u64,
    /// The largest body of a client request.
    pub max_body: usize,
    /// Settings for the node's lsm databases.
    pub store: StoreOptions,
}

impl NodeOptions {
    /// The defaults, for node `id` at `addr` in `db`.
    pub fn new(id: NodeId, addr: SocketAddr, db: impl Into<PathBuf>) -> NodeOptions {
        NodeOptions {
            id,
            addr,
            db: db.into(),
            token: None,
            heartbeat: Duration::from_millis(250),
            election_timeout: (Duration::from_millis(1000), Duration::from_millis(2000)),
            snapshot_logs: 20_000,
            keep_logs: 1_000,
            max_body: 1 << 20,
            store: StoreOptions::default(),
        }
    }

    fn raft_config(&self) -> Result<openraft::Config, Box<dyn std::error::Error + Send + Sync>> {
        let ms = |d: Duration| d.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "lsm-raft".into(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_logs),
            max_in_snapshot_log_to_keep: self.keep_logs,
            install_snapshot_timeout: 60_000,
            ..Default::default()
        };
        Ok(config.validate()?)
    }
}

/// Runs a node until `shutdown` resolves, then stops it cleanly: the server stops
/// taking requests, openraft stops, both databases close.
pub async fn run(
    options: NodeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    check_listen(&options)?;
    let db = options.db.clone();
    let (log_store, sm) = tokio::task::spawn_blocking({
        let store_opts = options.store.clone();
        move || store::open(&db, store_opts)
    })
    .await??;
    let log_db = log_store.db().clone();
    let purge_gate = log_store.purge_gate();
    serve(options, log_store, Some(purge_gate), sm, shutdown).await?;
    log_db.close()?;
    Ok(())
}

fn check_listen(options: &NodeOptions) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if options.token.is_none() && !options.addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {} without --token-file: only a loopback address may go without a token",
            options.addr
        )
        .into());
    }
    Ok(())
}

/// Serves a node over any openraft log store, with this crate's state machine, until
/// `shutdown` resolves; closes the state machine, not the log store. [`run`] is this
/// with the lsm [`LogStore`](crate::LogStore); another log store (a benchmark's) has
/// no purge gate to hold around snapshot installs.
pub async fn serve<LS: RaftLogStorage<TypeConfig>>(
    options: NodeOptions,
    log_store: LS,
    purge_gate: Option<Arc<PurgeGate>>,
    sm: StateMachine,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    check_listen(&options)?;
    let config = Arc::new(options.raft_config()?);
    let kv = sm.reader();
    let network = HttpNetwork::new(options.token.clone());
    let raft = Raft::new(options.id, config, network, log_store, sm).await?;
    let state = Arc::new(AppState {
        id: options.id,
        raft: raft.clone(),
        kv: kv.clone(),
        snapshots: options.db.join("snapshots"),
        token: options.token.clone(),
        proposer: Proposer::start(raft.clone()),
        purge_gate,
    });
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    tracing::info!(id = options.id, addr = %options.addr, "listening");
    axum::serve(listener, router(state, options.max_body))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("shutting down");
    raft.shutdown()
        .await
        .map_err(|e| format!("stopping raft: {e}"))?;
    kv.close()?;
    Ok(())
}
