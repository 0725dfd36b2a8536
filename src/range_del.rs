//! Range deletions: `[start, end)` deleted at a sequence number.

use crate::key::SeqNo;

/// Every key `k` with `start <= k < end` written before `seq` is deleted as of `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeTombstone {
    /// First deleted user key.
    pub start: Vec<u8>,
    /// First user key after the deleted range (exclusive).
    pub end: Vec<u8>,
    /// The sequence number of the deletion.
    pub seq: SeqNo,
}

impl RangeTombstone {
    /// True when this tombstone deletes `user_key` as written at `entry_seq`, as seen by
    /// a reader at `snapshot`.
    #[inline]
    pub fn covers(&self, user_key: &[u8], entry_seq: SeqNo, snapshot: SeqNo) -> bool {
        self.seq <= snapshot
            && entry_seq < self.seq
            && self.start.as_slice() <= user_key
            && user_key < self.end.as_slice()
    }
}
