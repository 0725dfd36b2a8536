//! The merge of several sorted cursors into one.

use super::InternalIterator;
use crate::error::Result;
use crate::key;
use std::cmp::Ordering;

/// From this many children on, the current child is kept by a binary heap rather
/// than found by a scan of all of them: with 4 or fewer, the scan's few comparisons
/// cost less than maintaining a heap.
const HEAP_FROM: usize = 5;

/// Merges children that hold disjoint sets of internal keys (every write has its own
/// sequence number) into one cursor in internal-key order.
///
/// Usually the children are few (memtables, level-0 tables, one per deeper level) and
/// picking the current one is a linear scan. With many (a deep level 0, many
/// immutable memtables during a stall) a heap of the valid children, ordered by key in
/// the direction of travel, makes each step O(log n) instead of O(n). A direction
/// change re-seeks every child around the current key and rebuilds the heap. A child
/// that fails makes the whole merge invalid with its error: skipping it would silently
/// hide its keys.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    forward: bool,
    /// With [`HEAP_FROM`] children or more: the valid children, heap-ordered (the
    /// first is the current one).
    heap: Option<Vec<usize>>,
}

impl MergingIterator {
    /// Merges `children` (newest source first, though order only breaks no ties).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        let heap = (children.len() >= HEAP_FROM).then(Vec::new);
        MergingIterator {
            children,
            current: None,
            forward: true,
            heap,
        }
    }

    /// True when any child stopped on an error.
    fn failed(&self) -> bool {
        self.children
            .iter()
            .any(|c| !c.valid() && c.status().is_err())
    }

    /// Chooses the current child after every child was positioned: the smallest key
    /// (`want` Less) or the largest (Greater).
    fn pick(&mut self, want: Ordering) {
        if self.heap.is_some() {
            self.rebuild_heap();
            return;
        }
        self.current = None;
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                if c.status().is_err() {
                    // Leave `current` empty: the merge is invalid and reports the error.
                    return;
                }
                continue;
            }
            best = match best {
                Some(b) if key::compare(c.key(), self.children[b].key()) != want => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    /// Moves the current child one step (`next` or `prev`, per the direction), then
    /// chooses the current child again.
    fn step_current(&mut self) {
        let Some(i) = self.current else {
            return;
        };
        let forward = self.forward;
        if let Some(c) = self.children.get_mut(i) {
            if forward {
                c.next();
            } else {
                c.prev();
            }
        }
        if self.heap.is_none() {
            self.pick(if forward {
                Ordering::Less
            } else {
                Ordering::Greater
            });
            return;
        }
        let (valid, failed) = match self.children.get(i) {
            Some(c) => (c.valid(), !c.valid() && c.status().is_err()),
            None => (false, false),
        };
        let Some(mut heap) = self.heap.take() else {
            return;
        };
        if failed {
            heap.clear();
        } else if !valid {
            heap.swap_remove(0);
            self.sift_down(&mut heap, 0);
        } else {
            self.sift_down(&mut heap, 0);
        }
        self.current = heap.first().copied();
        self.heap = Some(heap);
    }

    /// True when child `a` comes before child `b` in the direction of travel.
    fn before(&self, a: usize, b: usize) -> bool {
        let (Some(ca), Some(cb)) = (self.children.get(a), self.children.get(b)) else {
            return false;
        };
        let want = if self.forward {
            Ordering::Less
        } else {
            Ordering::Greater
        };
        key::compare(ca.key(), cb.key()) == want
    }

    fn sift_down(&self, heap: &mut [usize], mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut top = i;
            if l < heap.len() && self.before(heap[l], heap[top]) {
                top = l;
            }
            if r < heap.len() && self.before(heap[r], heap[top]) {
                top = r;
            }
            if top == i {
                return;
            }
            heap.swap(i, top);
            i = top;
        }
    }

    fn rebuild_heap(&mut self) {
        let mut heap = self.heap.take().unwrap_or_default();
        heap.clear();
        self.current = None;
        if !self.failed() {
            heap.extend((0..self.children.len()).filter(|&i| self.children[i].valid()));
            for i in (0..heap.len() / 2).rev() {
                self.sift_down(&mut heap, i);
            }
            self.current = heap.first().copied();
        }
        self.heap = Some(heap);
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.forward = true;
        self.pick(Ordering::Less);
    }

    fn seek_to_last(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.forward = false;
        self.pick(Ordering::Greater);
    }

    fn seek(&mut self, target: &[u8]) {
        self.children.iter_mut().for_each(|c| c.seek(target));
        self.forward = true;
        self.pick(Ordering::Less);
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.children
            .iter_mut()
            .for_each(|c| c.seek_for_prev(target));
        self.forward = false;
        self.pick(Ordering::Greater);
    }

    fn next(&mut self) {
        if !self.forward {
            // Every child moves to the first key >= the current one; the current key's
            // own child lands on it, and is then stepped past it below.
            let k = self.key().to_vec();
            self.children.iter_mut().for_each(|c| c.seek(&k));
            self.forward = true;
            self.pick(Ordering::Less);
        }
        self.step_current();
    }

    fn prev(&mut self) {
        if self.forward {
            let k = self.key().to_vec();
            self.children.iter_mut().for_each(|c| c.seek_for_prev(&k));
            self.forward = false;
            self.pick(Ordering::Greater);
        }
        self.step_current();
    }

    fn key(&self) -> &[u8] {
        self.current
            .and_then(|i| self.children.get(i))
            .map(|c| c.key())
            .unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.current
            .and_then(|i| self.children.get(i))
            .map(|c| c.value())
            .unwrap_or_default()
    }

    fn status(&self) -> Result<()> {
        for c in &self.children {
            c.status()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iter::FailedIterator;
    use crate::key::ValueKind;
    use crate::memtable::MemTable;
    use std::sync::Arc;

    /// `n` memtables holding disjoint random entries, and every internal key in order.
    fn sources(n: usize, seed: u64) -> (Vec<Arc<MemTable>>, Vec<Vec<u8>>) {
        let mut rng = seed | 1;
        let mut rand = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let mems: Vec<Arc<MemTable>> = (0..n)
            .map(|_| Arc::new(MemTable::new(1, 1 << 20)))
            .collect();
        let mut all = Vec::new();
        for seq in 1..=300u64 {
            let k = format!("k{:03}", rand(120)).into_bytes();
            mems[rand(n as u64) as usize].add(seq, ValueKind::Put, &k, &seq.to_le_bytes());
            all.push(crate::key::encode(&k, seq, ValueKind::Put));
        }
        all.sort_by(|a, b| key::compare(a, b));
        (mems, all)
    }

    fn merged(mems: &[Arc<MemTable>]) -> MergingIterator {
        MergingIterator::new(
            mems.iter()
                .map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>)
                .collect(),
        )
    }

    /// Random walks with seeks and direction changes, for a scan (2 children) and a
    /// heap (7, 16), against the sorted list of every key.
    #[test]
    fn walks_agree_with_the_sorted_keys_for_scan_and_heap() {
        for (n, seed) in [(2, 1), (7, 2), (16, 3), (5, 4)] {
            let (mems, all) = sources(n, seed);
            let mut it = merged(&mems);
            let mut rng = seed * 7919 + 1;
            let mut rand = |m: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % m
            };
            let mut pos: Option<usize> = None;
            for step in 0..3000 {
                match rand(8) {
                    0 => {
                        it.seek_to_first();
                        pos = (!all.is_empty()).then_some(0);
                    }
                    1 => {
                        it.seek_to_last();
                        pos = all.len().checked_sub(1);
                    }
                    2 => {
                        let t = crate::key::lookup_key(
                            format!("k{:03}", rand(125)).as_bytes(),
                            rand(320),
                        );
                        it.seek(&t);
                        let i = all.partition_point(|k| key::compare(k, &t) == Ordering::Less);
                        pos = (i < all.len()).then_some(i);
                    }
                    3 => {
                        let t = crate::key::lookup_key(
                            format!("k{:03}", rand(125)).as_bytes(),
                            rand(320),
                        );
                        it.seek_for_prev(&t);
                        let i = all.partition_point(|k| key::compare(k, &t) != Ordering::Greater);
                        pos = i.checked_sub(1);
                    }
                    4..=5 => {
                        if let Some(p) = pos {
                            it.next();
                            pos = (p + 1 < all.len()).then_some(p + 1);
                        }
                    }
                    _ => {
                        if let Some(p) = pos {
                            it.prev();
                            pos = p.checked_sub(1);
                        }
                    }
                }
                assert_eq!(it.valid(), pos.is_some(), "n {n} step {step}");
                if let Some(p) = pos {
                    assert_eq!(it.key(), all[p].as_slice(), "n {n} step {step}");
                }
                it.status().unwrap();
            }
        }
    }

    #[test]
    fn a_failed_child_fails_the_merge_in_both_modes() {
        for n in [2, 8] {
            let (mems, _) = sources(n, 9);
            let mut children: Vec<Box<dyn InternalIterator>> = mems
                .iter()
                .map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>)
                .collect();
            children.push(Box::new(FailedIterator::new(crate::LsmError::corruption(
                "t", 0, "bad",
            ))));
            let mut it = MergingIterator::new(children);
            it.seek_to_first();
            assert!(!it.valid(), "n {n}");
            assert!(it.status().is_err());
            it.seek(b"k050");
            assert!(!it.valid());
        }
    }
}
