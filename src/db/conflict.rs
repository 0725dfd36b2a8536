//! Conflict detection for optimistic transactions: was a key, or anything in a key
//! range, written after a given sequence number?
//!
//! The checks run under the WAL lock (see `DbInner::write_checked`), when every write
//! sequenced so far is in the memtables or tables of the current super version and no
//! other write can be sequenced. They look at sequence numbers only, never at values:
//! a write after the transaction's snapshot is a conflict even if it wrote the value
//! the transaction had read. A source whose newest sequence number is at or below the
//! snapshot cannot hold such a write and is skipped, so a transaction that runs for
//! less than a memtable's lifetime probes little more than the memtable.

use super::{DbInner, SuperVersion};
use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{self, SeqNo};
use crate::range_del::RangeTombstone;

/// True when `[start, end)` meets `[lo, hi)` (`None`: unbounded).
fn meets(start: &[u8], end: &[u8], lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
    start < end && lo.is_none_or(|l| end > l) && hi.is_none_or(|h| start < h)
}

/// True when a tombstone newer than `after` meets `[lo, hi)`.
fn tombstone_after(
    ts: &[RangeTombstone],
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    after: SeqNo,
) -> bool {
    ts.iter()
        .any(|t| t.seq > after && meets(&t.start, &t.end, lo, hi))
}

/// True when `it` holds an entry with a user key in `[lo, hi)` and a sequence number
/// above `after`.
fn entry_after(
    it: &mut dyn InternalIterator,
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    after: SeqNo,
) -> Result<bool> {
    match lo {
        Some(l) => it.seek(&key::lookup_key(l, key::MAX_SEQ)),
        None => it.seek_to_first(),
    }
    while it.valid() {
        let k = it.key();
        if hi.is_some_and(|h| key::user_key(k) >= h) {
            break;
        }
        if key::seq(k) > after {
            return Ok(true);
        }
        it.next();
    }
    it.status()?;
    Ok(false)
}

impl DbInner {
    /// True when `sv` holds a version of `user_key`, or a range deletion covering it,
    /// with a sequence number above `after`.
    pub(crate) fn key_written_after(
        &self,
        sv: &SuperVersion,
        user_key: &[u8],
        after: SeqNo,
    ) -> Result<bool> {
        let hash = key::hash(user_key);
        // Memtables newest first: each one's entries are newer than everything in the
        // sources after it, so the first one holding the key decides.
        for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
            if m.is_empty() {
                continue;
            }
            if m.max_seq() <= after {
                return Ok(false);
            }
            if m.max_covering_tombstone(user_key, key::MAX_SEQ) > after {
                return Ok(true);
            }
            if let Some((seq, _, _)) = m.get_hashed(user_key, hash, key::MAX_SEQ) {
                return Ok(seq > after);
            }
        }
        let lookup = key::lookup_key(user_key, key::MAX_SEQ);
        let level0 = sv.version.levels.first().into_iter().flatten();
        let deeper = (1..sv.version.levels.len())
            .filter_map(|l| sv.version.file_for_key(l, user_key, &lookup));
        for f in level0.chain(deeper) {
            let (lo, hi) = f.user_range();
            if f.meta.max_seq <= after || user_key < lo || user_key > hi {
                continue;
            }
            let covering_after = |t: &RangeTombstone| {
                t.seq > after && t.start.as_slice() <= user_key && user_key < t.end.as_slice()
            };
            if f.range_tombstones()?.iter().any(covering_after) {
                return Ok(true);
            }
            // The newest version in the first table holding the key is newer than any
            // in the tables after it.
            if let Some((seq, _, _)) = f.table()?.get(user_key, key::MAX_SEQ, hash)? {
                return Ok(seq > after);
            }
        }
        Ok(false)
    }

    /// True when `sv` holds an entry with a user key in `[lo, hi)`, or a range
    /// deletion meeting it, with a sequence number above `after` (`None`: unbounded).
    /// It scans the range in every source newer than `after`.
    pub(crate) fn range_written_after(
        &self,
        sv: &SuperVersion,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        after: SeqNo,
    ) -> Result<bool> {
        if let (Some(l), Some(h)) = (lo, hi) {
            if l >= h {
                return Ok(false);
            }
        }
        for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
            if m.is_empty() || m.max_seq() <= after {
                continue;
            }
            if tombstone_after(&m.range_tombstones(), lo, hi, after) {
                return Ok(true);
            }
            if entry_after(&mut m.iter(), lo, hi, after)? {
                return Ok(true);
            }
        }
        // `overlaps` takes an inclusive upper bound; one past `hi` is harmless here.
        for f in sv.version.tables() {
            if f.meta.max_seq <= after || !f.overlaps(lo, hi) {
                continue;
            }
            if tombstone_after(f.range_tombstones()?, lo, hi, after) {
                return Ok(true);
            }
            if entry_after(&mut f.table()?.iter(), lo, hi, after)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
