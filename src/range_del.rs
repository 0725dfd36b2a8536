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
        TombstoneIndex::new(tombstones).at(snapshot)
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

/// Range deletions cut once into non-overlapping fragments, each with the sequence
/// numbers of every deletion covering it, newest first: unlike
/// [`FragmentedTombstones`] it serves readers at any snapshot, so a table or memtable
/// builds it once and a get asks it with one binary search instead of scanning every
/// tombstone.
#[derive(Debug, Default, Clone)]
pub struct TombstoneIndex {
    /// `(start, end)`, sorted by start, non-overlapping.
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// Per fragment, its covering sequence numbers, descending.
    seqs: Vec<Box<[SeqNo]>>,
}

impl TombstoneIndex {
    /// Fragments `tombstones` (any order; empty ranges are ignored).
    pub fn new<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> TombstoneIndex {
        let mut ts: Vec<&RangeTombstone> =
            tombstones.into_iter().filter(|t| t.start < t.end).collect();
        if ts.is_empty() {
            return TombstoneIndex::default();
        }
        ts.sort_by(|a, b| a.start.cmp(&b.start));
        let mut bounds: Vec<&[u8]> = ts
            .iter()
            .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
            .collect();
        bounds.sort();
        bounds.dedup();
        let mut index = TombstoneIndex::default();
        // Sweep the boundaries left to right with the tombstones active at each.
        let mut active: Vec<&RangeTombstone> = Vec::new();
        let mut next = 0;
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            while next < ts.len() && ts[next].start.as_slice() <= lo {
                active.push(ts[next]);
                next += 1;
            }
            active.retain(|t| t.end.as_slice() > lo);
            if active.is_empty() {
                continue;
            }
            let mut seqs: Vec<SeqNo> = active.iter().map(|t| t.seq).collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.dedup();
            let contiguous = index
                .ranges
                .last()
                .is_some_and(|(_, end)| end.as_slice() == lo);
            if contiguous && index.seqs.last().is_some_and(|s| **s == *seqs) {
                if let Some(last) = index.ranges.last_mut() {
                    last.1 = hi.to_vec();
                }
            } else {
                index.ranges.push((lo.to_vec(), hi.to_vec()));
                index.seqs.push(seqs.into_boxed_slice());
            }
        }
        index
    }

    /// True when there is no deletion.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The fragments as a reader at `snapshot` sees them: each with the newest
    /// sequence number it can see, neighbours that end up equal joined.
    pub fn at(&self, snapshot: SeqNo) -> FragmentedTombstones {
        let mut fragments: Vec<(Vec<u8>, Vec<u8>, SeqNo)> = Vec::new();
        for ((start, end), seqs) in self.ranges.iter().zip(&self.seqs) {
            let Some(&seq) = seqs.iter().find(|&&s| s <= snapshot) else {
                continue;
            };
            match fragments.last_mut() {
                Some(last) if last.1 == *start && last.2 == seq => last.1.clone_from(end),
                _ => fragments.push((start.clone(), end.clone(), seq)),
            }
        }
        FragmentedTombstones { fragments }
    }

    /// The newest sequence number `<= snapshot` of a deletion covering `user_key`
    /// (0: none).
    pub fn max_covering(&self, user_key: &[u8], snapshot: SeqNo) -> SeqNo {
        let i = self
            .ranges
            .partition_point(|(start, _)| start.as_slice() <= user_key);
        let Some(i) = i.checked_sub(1) else {
            return 0;
        };
        match (self.ranges.get(i), self.seqs.get(i)) {
            (Some((_, end)), Some(seqs)) if user_key < end.as_slice() => {
                // Descending: the first one the snapshot can see is the newest.
                let j = seqs.partition_point(|&s| s > snapshot);
                seqs.get(j).copied().unwrap_or(0)
            }
            _ => 0,
        }
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

    /// Random tombstones against a linear scan, at every snapshot.
    #[test]
    fn index_agrees_with_a_linear_scan() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let key = |i: u64| format!("{i:02}").into_bytes();
        for round in 0..200 {
            let ts: Vec<RangeTombstone> = (0..next(12))
                .map(|_| {
                    let a = next(30);
                    RangeTombstone {
                        start: key(a),
                        end: key(a + next(12)),
                        seq: 1 + next(40),
                    }
                })
                .collect();
            let index = TombstoneIndex::new(&ts);
            for k in 0..32 {
                for snap in 0..45 {
                    let k = key(k);
                    let linear = ts
                        .iter()
                        .filter(|t| t.seq <= snap && t.start <= k && k < t.end)
                        .map(|t| t.seq)
                        .max()
                        .unwrap_or(0);
                    assert_eq!(index.max_covering(&k, snap), linear, "round {round}");
                }
            }
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
