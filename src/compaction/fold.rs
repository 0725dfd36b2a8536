//! What a flush or a compaction keeps of a key's versions: the newest of each
//! snapshot stripe, with merge operands folded onto the value under them.
//!
//! Entries arrive in internal-key order (per user key, newest first). Two versions in
//! the same stripe (no snapshot between them) look the same to every reader, so only
//! the newer is kept, unless the newer is a merge operand: then the stripe's operands
//! are gathered and folded onto the first value, deletion or range deletion under
//! them in that stripe, into one put. Operands with nothing under them in the stripe
//! are folded onto nothing when the job is bottommost and the key ends (no older
//! version exists anywhere), else combined by the operator's partial merge, else kept
//! as they are. A merge that fails keeps its operands (and what is under them)
//! unchanged: reads report the failure, nothing is lost.
//!
//! Entries of the newest stripe (no snapshot can see them) go through the compaction
//! filters, expiry first: an expired or removed entry becomes a deletion (nothing, at
//! the bottom with no snapshot), so no older version of its key comes back. Operands
//! over an expiring value fold onto it only once it has expired for every reader
//! (newest stripe, past its expiry); before, the result would depend on the time.

use crate::error::Result;
use crate::filter::{self, CompactionFilter, Decision, FilterEntry};
use crate::key::{self, SeqNo, ValueKind, MAX_SEQ};
use crate::merge::{self, MergeOperator};
use crate::range_del::{FragmentedTombstones, RangeTombstone};
use std::sync::Arc;

/// The stripe of sequence number `seq`: how many snapshots are older than it. Two
/// versions of a key in the same stripe look the same to every reader, so only the
/// newer is kept.
pub(crate) fn stripe(snapshots: &[SeqNo], seq: SeqNo) -> usize {
    snapshots.partition_point(|&s| s < seq)
}

/// Where kept entries go (internal key, value).
pub(crate) type Sink<'s> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 's;

/// What the newest stripe's entries are filtered by.
#[derive(Clone, Copy)]
pub(crate) struct Filtering<'a> {
    /// The configured filters (after expiry).
    pub filters: &'a [Arc<dyn CompactionFilter>],
    /// The keyspace's name and the output level, for the filters.
    pub keyspace: &'a str,
    pub level: usize,
    /// The job's time, by the database's clock.
    pub now_ms: u64,
}

impl Filtering<'_> {
    /// Expiry only, at time 0 (nothing expired): for tests.
    #[cfg(test)]
    pub fn none() -> Filtering<'static> {
        Filtering {
            filters: &[],
            keyspace: "default",
            level: 0,
            now_ms: 0,
        }
    }
}

/// The per-key state of a flush or compaction; see the module docs.
pub(crate) struct Folder<'a> {
    snapshots: &'a [SeqNo],
    merge_op: Option<&'a dyn MergeOperator>,
    /// Nothing older than the inputs exists: a key's last operands fold onto nothing
    /// and a deletion in the oldest stripe hides nothing.
    bottommost: bool,
    cur_user: Vec<u8>,
    have_cur: bool,
    prev_stripe: Option<usize>,
    /// The current stripe's merge operands (internal key, operand), newest first.
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    pending_stripe: usize,
    tombstones: &'a [RangeTombstone],
    /// Per stripe (built when first needed), the range deletions no newer than the
    /// stripe's snapshot: an entry is deleted for the stripe's readers exactly when
    /// one of them newer than the entry covers it.
    by_stripe: Vec<Option<FragmentedTombstones>>,
    filters: Filtering<'a>,
    /// Entries left out (overwritten, deleted, covered, or folded into another).
    pub dropped: u64,
}

impl<'a> Folder<'a> {
    /// A folder for a job seeing `snapshots` (sorted), folding with `merge_op`, over
    /// inputs whose range deletions are `tombstones`.
    pub fn new(
        snapshots: &'a [SeqNo],
        merge_op: Option<&'a dyn MergeOperator>,
        bottommost: bool,
        tombstones: &'a [RangeTombstone],
        filters: Filtering<'a>,
    ) -> Folder<'a> {
        Folder {
            snapshots,
            merge_op,
            bottommost,
            cur_user: Vec::new(),
            have_cur: false,
            prev_stripe: None,
            pending: Vec::new(),
            pending_stripe: 0,
            tombstones,
            by_stripe: Vec::new(),
            filters,
            dropped: 0,
        }
    }

    /// True when a range deletion in stripe `st` deletes `user_key`@`seq` (an entry
    /// of that stripe).
    fn deleted_in_stripe(&mut self, user_key: &[u8], seq: SeqNo, st: usize) -> bool {
        if self.tombstones.is_empty() {
            return false;
        }
        if self.by_stripe.len() <= st {
            self.by_stripe.resize_with(st + 1, || None);
        }
        let ceiling = self.snapshots.get(st).copied().unwrap_or(MAX_SEQ);
        let tombstones = self.tombstones;
        self.by_stripe[st]
            .get_or_insert_with(|| FragmentedTombstones::new(tombstones, ceiling))
            .covers(user_key, seq)
    }

    /// True when `user_key` is the key being folded: a caller cutting output files
    /// only between user keys asks before it cuts.
    pub fn is_current(&self, user_key: &[u8]) -> bool {
        self.have_cur && self.cur_user == user_key
    }

    /// Takes the next entry.
    pub fn push(&mut self, ik: &[u8], v: &[u8], out: &mut Sink<'_>) -> Result<()> {
        let uk = key::user_key(ik);
        if !self.is_current(uk) {
            self.end_stripe(true, out)?;
            self.cur_user.clear();
            self.cur_user.extend_from_slice(uk);
            self.have_cur = true;
            self.prev_stripe = None;
        }
        let seq = key::seq(ik);
        let kind = key::kind(ik);
        let st = stripe(self.snapshots, seq);
        let deleted_by_range = self.deleted_in_stripe(uk, seq, st);
        if !self.pending.is_empty() {
            if st == self.pending_stripe {
                // Under the stripe's operands.
                if deleted_by_range {
                    self.dropped += 1;
                    return self.resolve(None, None, out);
                }
                return match kind {
                    Some(ValueKind::Merge) => {
                        self.pending.push((ik.to_vec(), v.to_vec()));
                        Ok(())
                    }
                    Some(ValueKind::Put) => self.resolve(Some(v), Some((ik, v)), out),
                    Some(ValueKind::PutExpiring) => {
                        let (at, _) = crate::ttl::split(v).ok_or_else(crate::ttl::malformed)?;
                        if self.is_top(st) && at <= self.filters.now_ms {
                            self.resolve(None, Some((ik, v)), out)
                        } else {
                            // Not expired for every reader: no fold (see the module).
                            self.end_stripe(false, out)?;
                            out(ik, v)
                        }
                    }
                    _ => self.resolve(None, Some((ik, v)), out),
                };
            }
            self.end_stripe(false, out)?;
        }
        let shadowed = self.prev_stripe == Some(st);
        self.prev_stripe = Some(st);
        // A point deletion at the bottom that no snapshot predates hides nothing
        // that remains: everything older of this key is in its stripe and dropped.
        let useless_delete = kind == Some(ValueKind::Delete) && self.bottommost && st == 0;
        if shadowed || deleted_by_range || useless_delete {
            self.dropped += 1;
            return Ok(());
        }
        match kind {
            Some(ValueKind::Merge) => {
                self.pending.push((ik.to_vec(), v.to_vec()));
                self.pending_stripe = st;
                Ok(())
            }
            Some(ValueKind::Put) if self.filters.filters.is_empty() => out(ik, v),
            Some(ValueKind::Put | ValueKind::PutExpiring) if self.is_top(st) => {
                self.filter(ik, v, kind == Some(ValueKind::PutExpiring), st, out)
            }
            _ => out(ik, v),
        }
    }

    /// True when stripe `st` is the newest: no snapshot sees its entries.
    fn is_top(&self, st: usize) -> bool {
        st == self.snapshots.len()
    }

    /// Runs the filters (expiry first) on a put of the newest stripe.
    fn filter(
        &mut self,
        ik: &[u8],
        raw: &[u8],
        expiring: bool,
        st: usize,
        out: &mut Sink<'_>,
    ) -> Result<()> {
        let (expires_at_ms, value) = if expiring {
            let (at, v) = crate::ttl::split(raw).ok_or_else(crate::ttl::malformed)?;
            (Some(at), v)
        } else {
            (None, raw)
        };
        let entry = FilterEntry {
            keyspace: self.filters.keyspace,
            level: self.filters.level,
            key: key::user_key(ik),
            value,
            expires_at_ms,
            now_ms: self.filters.now_ms,
        };
        match filter::decide(self.filters.filters, &entry) {
            Decision::Keep => out(ik, raw),
            Decision::Remove => {
                self.dropped += 1;
                // Like a deletion at the bottom that no snapshot predates, nothing
                // older is left for it to hide.
                if self.bottommost && st == 0 {
                    return Ok(());
                }
                let uk = key::user_key(ik);
                out(&key::encode(uk, key::seq(ik), ValueKind::Delete), &[])
            }
            Decision::Replace(v) => match expires_at_ms {
                Some(at) => out(ik, &crate::ttl::join(at, &v)),
                None => out(ik, &v),
            },
        }
    }

    /// The end of the input: what is still gathered is written.
    pub fn finish(&mut self, out: &mut Sink<'_>) -> Result<()> {
        self.end_stripe(true, out)
    }

    /// The stripe's operands met `base` (`None`: a deletion, or nothing), carried by
    /// entry `under` (the put or deletion, `None` for a range deletion): one put of
    /// the folded value, or everything unchanged if the merge fails.
    fn resolve(
        &mut self,
        base: Option<&[u8]>,
        under: Option<(&[u8], &[u8])>,
        out: &mut Sink<'_>,
    ) -> Result<()> {
        let operands = self.pending.iter().map(|(_, v)| v.as_slice());
        let folded = self
            .merge_op
            .and_then(|op| merge::fold(op, &self.cur_user, base, operands));
        let pending = std::mem::take(&mut self.pending);
        match folded {
            Some(value) => {
                let top = key::seq(&pending[0].0);
                out(&key::encode(&self.cur_user, top, ValueKind::Put), &value)?;
                self.dropped += (pending.len() - 1) as u64 + u64::from(under.is_some());
            }
            None => {
                for (ik, v) in &pending {
                    out(ik, v)?;
                }
                if let Some((ik, v)) = under {
                    out(ik, v)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the gathered operands when their stripe ends with no value under them:
    /// at the end of the key (`key_ended`) of a bottommost job folded onto nothing,
    /// else combined by a partial merge, else as they are.
    fn end_stripe(&mut self, key_ended: bool, out: &mut Sink<'_>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if key_ended && self.bottommost {
            return self.resolve(None, None, out);
        }
        let pending = std::mem::take(&mut self.pending);
        if pending.len() >= 2 {
            let operands = pending.iter().map(|(_, v)| v.as_slice());
            let combined = self
                .merge_op
                .and_then(|op| merge::fold_operands(op, &self.cur_user, operands));
            if let Some(m) = combined {
                self.dropped += (pending.len() - 1) as u64;
                return out(&pending[0].0, &m);
            }
        }
        for (ik, v) in &pending {
            out(ik, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::builtin;

    fn m(k: &str, seq: SeqNo, kind: ValueKind, v: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (key::encode(k.as_bytes(), seq, kind), v.to_vec())
    }

    fn run(
        input: &[(Vec<u8>, Vec<u8>)],
        snapshots: &[SeqNo],
        bottommost: bool,
        op: &str,
    ) -> Vec<(String, SeqNo, ValueKind, Vec<u8>)> {
        let op = builtin(op);
        let mut f = Folder::new(snapshots, op.as_deref(), bottommost, &[], Filtering::none());
        let mut got = Vec::new();
        let mut sink = |ik: &[u8], v: &[u8]| {
            got.push((
                String::from_utf8(key::user_key(ik).to_vec()).unwrap(),
                key::seq(ik),
                key::kind(ik).unwrap(),
                v.to_vec(),
            ));
            Ok(())
        };
        for (ik, v) in input {
            f.push(ik, v, &mut sink).unwrap();
        }
        f.finish(&mut sink).unwrap();
        got
    }

    #[test]
    fn operands_fold_onto_the_value_under_them() {
        use ValueKind::*;
        let input = [
            m("a", 9, Merge, b"c"),
            m("a", 8, Merge, b"b"),
            m("a", 5, Put, b"a"),
            m("a", 2, Put, b"old"),
            m("b", 7, Merge, b"x"),
        ];
        let got = run(&input, &[], false, "append");
        assert_eq!(
            got,
            vec![
                ("a".into(), 9, Put, b"abc".to_vec()),
                // Not bottommost: "b" may have older versions elsewhere.
                ("b".into(), 7, Merge, b"x".to_vec()),
            ]
        );
        let got = run(&input, &[], true, "append");
        assert_eq!(got[1], ("b".into(), 7, Put, b"x".to_vec()));
    }

    #[test]
    fn a_snapshot_between_operands_keeps_both_sides_apart() {
        use ValueKind::*;
        let input = [
            m("a", 9, Merge, b"d"),
            m("a", 8, Merge, b"c"),
            m("a", 6, Merge, b"b"),
            m("a", 5, Delete, b""),
            m("a", 3, Put, b"gone"),
        ];
        // A snapshot at 7 sees a = "b" (the operand at 6 over the deletion).
        let got = run(&input, &[7], false, "append");
        assert_eq!(
            got,
            vec![
                // Above the snapshot, nothing under them in their stripe: a partial
                // merge into one operand.
                ("a".into(), 9, Merge, b"cd".to_vec()),
                ("a".into(), 6, Put, b"b".to_vec()),
            ]
        );
    }

    #[test]
    fn a_failed_merge_keeps_everything_it_read() {
        use ValueKind::*;
        // u64_add over a 3-byte value fails.
        let input = [
            m("a", 9, Merge, &1u64.to_le_bytes()),
            m("a", 5, Put, b"bad"),
            m("a", 4, Put, b"older"),
        ];
        let got = run(&input, &[], true, "u64_add");
        assert_eq!(
            got,
            vec![
                ("a".into(), 9, Merge, 1u64.to_le_bytes().to_vec()),
                ("a".into(), 5, Put, b"bad".to_vec()),
            ]
        );
    }
}
