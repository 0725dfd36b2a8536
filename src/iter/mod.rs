//! Cursors over internal entries, and the pieces built from them: the merge of many
//! sources and the user-facing iterator that applies snapshots, deletions and bounds.
//!
//! Every source (memtable, table, level) implements the one cursor trait
//! [`InternalIterator`]; std's `Iterator` appears only at the public edge.

use crate::error::{LsmError, Result};

pub mod db_iter;
pub mod level;
pub mod merging;

pub use db_iter::DbCursor;
pub use level::LevelIterator;
pub use merging::MergingIterator;

/// A cursor over internal entries (`key` is an internal key, see [`crate::key`]),
/// in internal-key order.
///
/// REQUIRES: `key`, `value`, `next` and `prev` only while `valid()`. The slices
/// returned by `key` and `value` are valid only until the cursor next moves.
/// When a cursor meets damaged data it becomes invalid and `status` returns the error.
pub trait InternalIterator: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first entry.
    fn seek_to_first(&mut self);
    /// Positions on the last entry.
    fn seek_to_last(&mut self);
    /// Positions on the first entry whose internal key is `>= target`.
    fn seek(&mut self, target: &[u8]);
    /// Positions on the last entry whose internal key is `<= target`.
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.status().is_ok() {
                self.seek_to_last();
            }
        } else if crate::key::compare(self.key(), target) == std::cmp::Ordering::Greater {
            self.prev();
        }
    }
    /// Moves to the next entry.
    fn next(&mut self);
    /// Moves to the previous entry.
    fn prev(&mut self);
    /// The current internal key.
    fn key(&self) -> &[u8];
    /// The current value.
    fn value(&self) -> &[u8];
    /// The first error met, if any.
    fn status(&self) -> Result<()>;
    /// False only when a seek to the internal key `target` surely lands on no entry of
    /// its user key (`hash` is [`crate::key::hash`] of that user key): a bloom filter
    /// or a key range rules it out. True when unsure, and when the answer would take
    /// a read that failed (the seek then reports the error).
    fn may_hold(&self, _target: &[u8], _hash: u64) -> bool {
        true
    }
}

/// A cursor with no entries that reports `error`: stands in for a source that could
/// not be opened, so the cursor built over it fails with that error.
pub struct FailedIterator {
    error: LsmError,
}

impl FailedIterator {
    /// A cursor whose `status` is `error`.
    pub fn new(error: LsmError) -> FailedIterator {
        FailedIterator { error }
    }
}

impl InternalIterator for FailedIterator {
    fn valid(&self) -> bool {
        false
    }
    fn seek_to_first(&mut self) {}
    fn seek_to_last(&mut self) {}
    fn seek(&mut self, _target: &[u8]) {}
    fn seek_for_prev(&mut self, _target: &[u8]) {}
    fn next(&mut self) {}
    fn prev(&mut self) {}
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
    fn status(&self) -> Result<()> {
        Err(self.error.duplicate())
    }
}
