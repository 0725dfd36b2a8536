//! Group commit in front of openraft: concurrent client writes are proposed together
//! as one [`Request::Batch`] entry.
//!
//! openraft 0.9 appends each proposed entry on its own and waits for its flush (an
//! fsync) before the next, so proposing every client write separately costs one
//! fsync per write on every node, one after another. The proposer keeps a few
//! proposals in flight; writes that arrive meanwhile wait in a queue and go out
//! together in the next one. A lone writer is proposed at once, so it waits no longer
//! than before.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::types::{Node, NodeId, Request};
use crate::Raft;

/// What a proposal ends with: the log index of the entry, or openraft's error.
pub type Outcome = Result<u64, RaftError<NodeId, ClientWriteError<NodeId, Node>>>;

/// How many proposals may be in flight at once.
const IN_FLIGHT: usize = 4;
/// The most writes, and about the most bytes, one proposal carries.
const MAX_OPS: usize = 4096;
const MAX_BYTES: usize = 4 << 20;

type Waiter = (Request, usize, oneshot::Sender<Outcome>);

/// The queue of writes waiting to be proposed.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl Proposer {
    /// Starts the proposing task of `raft`; it ends when every `Proposer` is dropped.
    pub fn start(raft: Raft) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Proposer { tx }
    }

    /// Proposes `req` (alone or with others) and waits for it to be committed and
    /// applied.
    pub async fn write(&self, req: Request) -> Outcome {
        let size = approximate_size(&req);
        let (tx, rx) = oneshot::channel();
        if self.tx.send((req, size, tx)).is_err() {
            return Err(RaftError::Fatal(openraft::error::Fatal::Stopped));
        }
        rx.await
            .unwrap_or(Err(RaftError::Fatal(openraft::error::Fatal::Stopped)))
    }
}

fn approximate_size(req: &Request) -> usize {
    match req {
        Request::Put { key, value } => key.len() + value.len(),
        Request::Delete { key } => key.len(),
        Request::Batch { ops } => ops.iter().map(approximate_size).sum(),
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free slot first: the writes that arrive meanwhile join this
        // proposal.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.1;
        let mut group = vec![first];
        while group.len() < MAX_OPS && bytes < MAX_BYTES {
            match rx.try_recv() {
                Ok(w) => {
                    bytes += w.1;
                    group.push(w);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (reqs, waiters): (Vec<Request>, Vec<oneshot::Sender<Outcome>>) =
                group.into_iter().map(|(r, _, tx)| (r, tx)).unzip();
            let req = if reqs.len() == 1 {
                reqs.into_iter().next().unwrap()
            } else {
                Request::Batch { ops: reqs }
            };
            let outcome: Outcome = raft.client_write(req).await.map(|r| r.log_id.index);
            drop(permit);
            for tx in waiters {
                let _ = tx.send(outcome.clone());
            }
        });
    }
}
