//! Replication for lsm: an lsm database as the storage of [openraft], and a replicated
//! key-value server built on it (`lsm-raft-node`).
//!
//! openraft runs the consensus; this crate only stores. [`store::open`] opens a node's
//! directory and gives openraft its two halves:
//! - [`LogStore`], the log: entries, vote, committed id (keyspaces `raft_log` and
//!   `raft_meta`). An append is reported flushed only after a synced write.
//! - [`StateMachine`], the key-value map with its last applied id and membership
//!   (keyspaces `sm` and `sm_meta` of a database of its own), applied one batch at a
//!   time. Snapshots are checkpoints of that database, packed into one file.
//!
//! ```
//! use lsm_raft::{store, KvReader};
//! use openraft::storage::RaftStateMachine;
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (_log, mut sm) = store::open(dir.path(), Default::default())?;
//! let (applied, _membership) = sm.applied_state().await?;
//! assert_eq!(applied, None); // a new node has applied nothing
//! let reader: KvReader = sm.reader();
//! assert_eq!(reader.get(b"k")?, None);
//! # Ok(()) }
//! ```
//!
//! [openraft]: https://docs.rs/openraft/0.9

pub mod client;
pub mod hex;
pub mod log_store;
pub mod network;
pub mod node;
pub mod proposer;
pub mod server;
pub mod snapshot;
pub mod state_machine;
pub mod store;
pub mod types;

pub use client::{Client, ClientError};
pub use log_store::LogStore;
pub use snapshot::SnapshotFile;
pub use state_machine::{KvReader, StateMachine};
pub use store::{StoreError, StoreOptions};
pub use types::{Node, NodeId, Request, Response, TypeConfig};

/// The openraft instance of a node.
pub type Raft = openraft::Raft<TypeConfig>;
