//! `View`: what an iterator reads, fixed when it is created.

use crate::db::{DbInner, SuperVersion};
use crate::iter::DbCursor;
use crate::key::SeqNo;
use std::sync::Arc;

/// What an iterator reads: the sources and the sequence number, fixed at creation.
pub(crate) struct View {
    pub(crate) inner: Arc<DbInner>,
    sv: Arc<SuperVersion>,
    seq: SeqNo,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
}

impl View {
    pub(crate) fn new(
        inner: Arc<DbInner>,
        seq: Option<SeqNo>,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> View {
        let sv = inner.super_version();
        let seq = seq.unwrap_or_else(|| inner.visible_seq());
        View {
            inner,
            sv,
            seq,
            lower,
            upper,
        }
    }

    pub(crate) fn cursor(&self) -> DbCursor {
        self.inner
            .cursor(&self.sv, self.seq, self.lower.clone(), self.upper.clone())
    }
}
