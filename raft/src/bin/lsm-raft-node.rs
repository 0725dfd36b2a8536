//! `lsm-raft-node`: one node of a replicated key-value store (SPEC section 10).
//!
//! ```text
//! lsm-raft-node --id 1 --addr 127.0.0.1:21001 --db ./n1
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lsm_raft::node::{run, NodeOptions};

#[derive(Parser, Debug)]
#[command(
    name = "lsm-raft-node",
    version,
    about = "A node of a replicated lsm key-value store (openraft over HTTP)"
)]
struct Args {
    /// This node's id: unique in the cluster, the same across restarts.
    #[arg(long)]
    id: u64,
    /// Address to listen on for clients and peers (host:port).
    #[arg(long)]
    addr: SocketAddr,
    /// The node's directory (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// A file holding the bearer token required of every request and sent to peers.
    /// Without it the node listens on loopback addresses only.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 250)]
    heartbeat_ms: u64,
    /// Lower bound of the election timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    election_timeout_min_ms: u64,
    /// Upper bound of the election timeout in milliseconds.
    #[arg(long, default_value_t = 2000)]
    election_timeout_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    #[arg(long, default_value_t = 20_000)]
    snapshot_logs: u64,
    /// Entries kept in the log behind the last snapshot.
    #[arg(long, default_value_t = 1_000)]
    keep_logs: u64,
    /// The largest client request body in bytes (413 past it).
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// An lsm setting for the node's databases, KEY=VALUE (repeatable), e.g.
    /// --set memtable.max_bytes=16MiB.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LSM_RAFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lsm_raft=info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match start(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsm-raft-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut options = NodeOptions::new(args.id, args.addr, args.db);
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(format!("--token-file {} is empty", path.display()).into());
        }
        options.token = Some(token);
    }
    options.heartbeat = Duration::from_millis(args.heartbeat_ms);
    options.election_timeout = (
        Duration::from_millis(args.election_timeout_min_ms),
        Duration::from_millis(args.election_timeout_max_ms),
    );
    options.snapshot_logs = args.snapshot_logs;
    options.keep_logs = args.keep_logs;
    options.max_body = args.max_body;
    for s in &args.settings {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s:?}: expected KEY=VALUE"))?;
        options
            .store
            .settings
            .push((k.trim().to_string(), v.trim().to_string()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        run(options, shutdown).await
    })
}
