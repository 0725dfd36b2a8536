//! The change feed: every committed batch, in commit order, read back from the WAL
//! ([`ChangeFeed`], history as far back as `wal.retention` keeps) or pushed to a
//! [`Subscription`] as it commits (a [`ChangeStream`] for async callers).
//!
//! A change is one WAL record: the batches of one commit group, which took
//! consecutive sequence numbers and were made durable and visible together. Applying
//! each [`ChangeBatch`] as one `WriteBatch` to another database therefore reproduces
//! every state the source went through at a group boundary.

mod feed;
mod hub;
mod stream;

pub use feed::ChangeFeed;
pub(crate) use hub::ChangeHub;
pub use hub::Subscription;
pub use stream::ChangeStream;

use crate::batch::BatchOp;
use crate::key::SeqNo;
use std::sync::Arc;

/// What one operation of a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Set a key to a value.
    Put,
    /// Deleted a key.
    Delete,
    /// Deleted every key in `[key, end)`.
    DeleteRange,
    /// Merged an operand into a key.
    Merge,
}

/// One operation of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOp {
    seq: SeqNo,
    keyspace_id: u32,
    keyspace: Arc<str>,
    kind: ChangeKind,
    key: Vec<u8>,
    end: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    expires_at_ms: Option<u64>,
}

impl ChangeOp {
    pub(crate) fn from_batch_op(
        seq: SeqNo,
        keyspace_id: u32,
        keyspace: Arc<str>,
        op: BatchOp<'_>,
    ) -> ChangeOp {
        let mut expires_at_ms = None;
        let (kind, key, end, value) = match op {
            BatchOp::Put(k, v) => (ChangeKind::Put, k, None, Some(v.to_vec())),
            BatchOp::Delete(k) => (ChangeKind::Delete, k, None, None),
            BatchOp::DeleteRange(s, e) => (ChangeKind::DeleteRange, s, Some(e.to_vec()), None),
            BatchOp::Merge(k, v) => (ChangeKind::Merge, k, None, Some(v.to_vec())),
            BatchOp::PutExpiring(k, raw) => {
                let (at, v) = crate::ttl::split(raw).unwrap_or((0, raw));
                expires_at_ms = Some(at);
                (ChangeKind::Put, k, None, Some(v.to_vec()))
            }
        };
        ChangeOp {
            seq,
            keyspace_id,
            keyspace,
            kind,
            key: key.to_vec(),
            end,
            value,
            expires_at_ms,
        }
    }

    /// For a put with a time to live, when it expires (ms since the Unix epoch).
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }

    /// The operation's sequence number.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The name of the keyspace it wrote (`"default"` for the database's own
    /// operations); empty when that keyspace has been dropped since.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The keyspace's id, which is never reused, even after a drop.
    pub fn keyspace_id(&self) -> u32 {
        self.keyspace_id
    }

    /// What it did.
    pub fn kind(&self) -> ChangeKind {
        self.kind
    }

    /// The key; the start of a range delete.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// A range delete's (exclusive) end; `None` for the other kinds.
    pub fn end(&self) -> Option<&[u8]> {
        self.end.as_deref()
    }

    /// The value of a put, the operand of a merge; `None` for deletes.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// True when the operation touches a key starting with `prefix` (a range delete:
    /// when its range holds such keys).
    pub(crate) fn touches_prefix(&self, prefix: &[u8]) -> bool {
        if prefix.is_empty() {
            return true;
        }
        match &self.end {
            None => self.key.starts_with(prefix),
            Some(end) => {
                let below_end = end.as_slice() > prefix;
                let from_start = match crate::bounds::prefix_end(prefix) {
                    Some(pe) => self.key.as_slice() < pe.as_slice(),
                    None => true,
                };
                below_end && from_start
            }
        }
    }
}

/// One committed batch (a commit group): its operations with their consecutive
/// sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    seq: SeqNo,
    last_seq: SeqNo,
    ops: Vec<ChangeOp>,
}

impl ChangeBatch {
    pub(crate) fn new(seq: SeqNo, last_seq: SeqNo, ops: Vec<ChangeOp>) -> ChangeBatch {
        ChangeBatch { seq, last_seq, ops }
    }

    /// The sequence number of its first operation.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The sequence number of its last operation: resume a feed with
    /// `changes_since(last_seq() + 1)`. A subscription's batch holds only the
    /// operations under its prefix, but this is still the whole batch's last one.
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq
    }

    /// Its operations, in commit order.
    pub fn ops(&self) -> &[ChangeOp] {
        &self.ops
    }

    /// The batch with only the operations under `prefix`, or `None` when none is.
    pub(crate) fn under_prefix(&self, prefix: &[u8]) -> Option<ChangeBatch> {
        if prefix.is_empty() {
            return Some(self.clone());
        }
        let ops: Vec<ChangeOp> = self
            .ops
            .iter()
            .filter(|o| o.touches_prefix(prefix))
            .cloned()
            .collect();
        (!ops.is_empty()).then(|| ChangeBatch::new(self.seq, self.last_seq, ops))
    }

    /// The batch as a `WriteBatch` of the database's default keyspace and of the
    /// keyspaces of `keyspaces` (by name), for replaying it into another database.
    /// Operations of a keyspace it does not name are an `InvalidArgument` error.
    pub fn to_write_batch(
        &self,
        keyspaces: &[&crate::Keyspace],
    ) -> crate::Result<crate::WriteBatch> {
        let mut b = crate::WriteBatch::new();
        for op in &self.ops {
            let ks = if op.keyspace_id == crate::manifest::DEFAULT_KEYSPACE {
                None
            } else {
                Some(
                    keyspaces
                        .iter()
                        .find(|k| k.name() == op.keyspace())
                        .ok_or_else(|| {
                            crate::LsmError::InvalidArgument(format!(
                                "the change at sequence {} is in keyspace {:?}, which was not given",
                                op.seq,
                                op.keyspace()
                            ))
                        })?,
                )
            };
            let value = op.value().unwrap_or_default();
            // An expiring put lives on for what remains of its time to live.
            let remaining = op.expires_at_ms.map(|at| {
                use crate::ttl::Clock;
                std::time::Duration::from_millis(
                    at.saturating_sub(crate::ttl::SystemClock.now_ms()),
                )
            });
            match (op.kind, ks) {
                (ChangeKind::Put, None) => match remaining {
                    Some(ttl) => b.put_with_ttl(&op.key, value, ttl),
                    None => b.put(&op.key, value),
                },
                (ChangeKind::Put, Some(k)) => match remaining {
                    Some(ttl) => b.put_with_ttl_in(k, &op.key, value, ttl),
                    None => b.put_in(k, &op.key, value),
                },
                (ChangeKind::Merge, None) => b.merge(&op.key, value),
                (ChangeKind::Merge, Some(k)) => b.merge_in(k, &op.key, value),
                (ChangeKind::Delete, None) => b.delete(&op.key),
                (ChangeKind::Delete, Some(k)) => b.delete_in(k, &op.key),
                (ChangeKind::DeleteRange, None) => {
                    b.delete_range(&op.key, op.end().unwrap_or_default())
                }
                (ChangeKind::DeleteRange, Some(k)) => {
                    b.delete_range_in(k, &op.key, op.end().unwrap_or_default())
                }
            };
        }
        Ok(b)
    }
}
