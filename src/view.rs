//! `View`: what an iterator reads, fixed when it is created.

use crate::db::{DbInner, SuperVersion, Tree};
use crate::iter::DbCursor;
use crate::key::SeqNo;
use std::sync::Arc;

/// What an iterator reads: the sources and the sequence number, fixed at creation.
pub(crate) struct View {
    pub(crate) inner: Arc<DbInner>,
    sv: Arc<SuperVersion>,
    seq: SeqNo,
    /// The time entries expire by.
    now_ms: u64,
    /// Set when the view cannot be read (its keyspace was dropped before it was
    /// made): every cursor fails with it.
    error: Option<crate::error::LsmError>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    merge_op: Option<Arc<dyn crate::merge::MergeOperator>>,
}

impl View {
    /// A view of keyspace `tree` (`None`: `"default"`).
    pub(crate) fn new(
        inner: Arc<DbInner>,
        tree: Option<&Tree>,
        at: Option<crate::ttl::ReadPoint>,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> View {
        let sv = match tree {
            Some(t) => t.sv.load_full(),
            None => inner.super_version(),
        };
        let error = tree.and_then(|t| {
            if inner.owns(t) {
                t.check_live().err()
            } else {
                Some(crate::db::foreign())
            }
        });
        let (seq, now_ms) = (inner.seq_at(at), inner.now_at(at));
        let merge_op = tree
            .unwrap_or_else(|| inner.default_tree())
            .config
            .merge
            .operator
            .clone();
        View {
            now_ms,
            merge_op,
            inner,
            sv,
            seq,
            error,
            lower,
            upper,
        }
    }

    pub(crate) fn cursor(&self) -> DbCursor {
        if let Some(e) = &self.error {
            return self.inner.failed_cursor(e.duplicate(), self.seq);
        }
        self.inner
            .cursor(&self.sv, self.seq, self.lower.clone(), self.upper.clone())
            .with_merge_operator(self.merge_op.clone())
            .at_time(self.now_ms)
    }
}
