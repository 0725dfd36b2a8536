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
    #[cfg(test)]
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

/// Range deletions cut into non-overlapping fragments, each with the newest sequence
/// number that covers it, so "is this entry deleted?" is one binary search.
///
/// Built for one reader at one snapshot: tombstones newer than the snapshot are left out.
#[derive(Debug, Default, Clone)]
pub struct FragmentedTombstones {
    /// `(start, end, seq)`, sorted by start, non-overlapping.
    fragments: Vec<(Vec<u8>, Vec<u8>, SeqNo)>,
}

impl FragmentedTombstones {
    /// Fragments the tombstones visible at `snapshot`.
    pub fn new<'a>(
        tombstones: impl IntoIterator<Item = &'a RangeTombstone>,
        snapshot: SeqNo,
    ) -> FragmentedTombstones {
        let mut ts: Vec<&RangeTombstone> = tombstones
            .into_iter()
            .filter(|t| t.seq <= snapshot && t.start < t.end)
            .collect();
        if ts.is_empty() {
            return FragmentedTombstones::default();
        }
        ts.sort_by(|a, b| a.start.cmp(&b.start));
        let mut bounds: Vec<&[u8]> = ts
            .iter()
            .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
            .collect();
        bounds.sort();
        bounds.dedup();
        // Sweep the boundaries left to right, keeping the active tombstones' seqs.
        let mut active: std::collections::BTreeMap<SeqNo, Vec<&[u8]>> = Default::default();
        let mut next = 0;
        let mut fragments: Vec<(Vec<u8>, Vec<u8>, SeqNo)> = Vec::new();
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            while next < ts.len() && ts[next].start.as_slice() <= lo {
                active
                    .entry(ts[next].seq)
                    .or_default()
                    .push(ts[next].end.as_slice());
                next += 1;
            }
            active.retain(|_, ends| {
                ends.retain(|e| *e > lo);
                !ends.is_empty()
            });
            if let Some((&seq, _)) = active.iter().next_back() {
                match fragments.last_mut() {
                    Some(last) if last.1.as_slice() == lo && last.2 == seq => last.1 = hi.to_vec(),
                    _ => fragments.push((lo.to_vec(), hi.to_vec(), seq)),
                }
            }
        }
        FragmentedTombstones { fragments }
    }

    /// The newest visible tombstone sequence covering `user_key` (0: none).
    pub fn max_covering(&self, user_key: &[u8]) -> SeqNo {
        let i = self
            .fragments
            .partition_point(|(start, _, _)| start.as_slice() <= user_key);
        match i.checked_sub(1).and_then(|i| self.fragments.get(i)) {
            Some((_, end, seq)) if user_key < end.as_slice() => *seq,
            _ => 0,
        }
    }

    /// True when the entry `user_key`@`seq` is deleted by a visible range deletion.
    pub fn covers(&self, user_key: &[u8], seq: SeqNo) -> bool {
        !self.fragments.is_empty() && self.max_covering(user_key) > seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, e: &str, seq: SeqNo) -> RangeTombstone {
        RangeTombstone {
            start: s.as_bytes().to_vec(),
            end: e.as_bytes().to_vec(),
            seq,
        }
    }

    #[test]
    fn fragments_agree_with_a_linear_scan() {
        let ts = vec![
            t("b", "f", 5),
            t("d", "h", 9),
            t("a", "c", 2),
            t("g", "g", 50),
            t("x", "z", 70),
        ];
        for snap in [0, 2, 5, 9, 60, 100] {
            let f = FragmentedTombstones::new(&ts, snap);
            for k in [
                "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "x", "y", "z",
            ] {
                for seq in [0, 1, 3, 6, 10] {
                    let linear = ts.iter().any(|t| t.covers(k.as_bytes(), seq, snap));
                    assert_eq!(f.covers(k.as_bytes(), seq), linear, "{k}@{seq} snap {snap}");
                }
            }
        }
    }
}
