//! The type configuration openraft is instantiated with, and the commands the
//! replicated key-value map understands.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hex;

/// A node's id in the cluster.
pub type NodeId = u64;

/// A node's address as openraft carries it in the membership (`"127.0.0.1:21001"`).
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// openraft's types for an lsm-backed key-value map: entries carry a [`Request`],
    /// applying one yields a [`Response`], and a snapshot is a file on disk
    /// ([`SnapshotFile`](crate::SnapshotFile)).
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = crate::snapshot::SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

/// One write to the replicated map, as it is stored in a log entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Sets `key` to `value`.
    Put {
        /// The key, hex in the log entry's JSON.
        #[serde(with = "hex::serde_bytes")]
        key: Vec<u8>,
        /// The value, hex in the log entry's JSON.
        #[serde(with = "hex::serde_bytes")]
        value: Vec<u8>,
    },
    /// Removes `key` (a no-op when it is absent).
    Delete {
        /// The key, hex in the log entry's JSON.
        #[serde(with = "hex::serde_bytes")]
        key: Vec<u8>,
    },
    /// Several writes from concurrent clients, proposed as one entry (so they share
    /// one append, one fsync per node and one round trip), applied in order.
    Batch {
        /// The writes; a batch inside a batch is applied the same way.
        ops: Vec<Request>,
    },
}

impl fmt::Debug for Request {
    // Keys and values can be large binary blobs: the log line shows their size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Put { key, value } => {
                write!(f, "Put({} B key, {} B value)", key.len(), value.len())
            }
            Request::Delete { key } => write!(f, "Delete({} B key)", key.len()),
            Request::Batch { ops } => write!(f, "Batch({} ops)", ops.len()),
        }
    }
}

/// What applying an entry yields to the client that proposed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {}
