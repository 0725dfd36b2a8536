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
    /// The children are sources newest first (see [`MergingIterator::by_age`]), so a
    /// seek may leave some of them where they were.
    by_age: bool,
    /// Per child: left unpositioned by the last seek (see [`InternalIterator::seek`]
    /// on this type); it is sought to `deferred_target` before the merge moves on.
    deferred: Vec<bool>,
    /// Whether any child is deferred.
    any_deferred: bool,
    deferred_target: Vec<u8>,
}

impl MergingIterator {
    /// Merges `children` (newest source first, though order only breaks no ties).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        let heap = (children.len() >= HEAP_FROM).then(Vec::new);
        MergingIterator {
            deferred: vec![false; children.len()],
            children,
            current: None,
            forward: true,
            heap,
            by_age: false,
            any_deferred: false,
            deferred_target: Vec::new(),
        }
    }

    /// Merges the sources of an LSM tree given newest first: for every user key, the
    /// versions a child holds are all newer than those of every child after it (the
    /// memtable, the immutable memtables newest first, level 0 newest first, then
    /// the deeper levels).
    ///
    /// That order lets a seek stop early. Seeking to a key, the first child (newest
    /// first) that lands on a version of the key's user key holds the smallest entry
    /// at or after the target: the others' versions of that key are older, so they
    /// sort after it, and their other keys are larger. Children whose filters say they
    /// hold no version of the key are skipped too. The children not positioned stay
    /// deferred until the merge moves on (or is sought again), so a seek to a key
    /// that exists costs about what a get costs (issue 15), not a seek in every source.
    pub fn by_age(children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        let mut m = MergingIterator::new(children);
        m.by_age = m.children.len() >= 2;
        m
    }

    /// Whether child `i` takes part in choosing the current child (it is not deferred).
    fn positioned(&self, i: usize) -> bool {
        !self.any_deferred || !self.deferred.get(i).copied().unwrap_or(false)
    }

    /// True when any positioned child stopped on an error.
    fn failed(&self) -> bool {
        self.children
            .iter()
            .enumerate()
            .any(|(i, c)| self.positioned(i) && !c.valid() && c.status().is_err())
    }

    /// Seeks the deferred children to the last seek's target and chooses the current
    /// child among all of them (it does not change: the deferred ones land after it).
    fn materialize(&mut self) {
        if !self.any_deferred {
            return;
        }
        for (c, d) in self.children.iter_mut().zip(self.deferred.iter_mut()) {
            if std::mem::take(d) {
                c.seek(&self.deferred_target);
            }
        }
        self.any_deferred = false;
        self.pick(Ordering::Less);
    }

    /// Forgets the deferred children, before a move that positions every child.
    fn undefer(&mut self) {
        if self.any_deferred {
            self.deferred.iter_mut().for_each(|d| *d = false);
            self.any_deferred = false;
        }
    }

    /// The lazy seek of [`MergingIterator::by_age`]; false when no child landed on the
    /// target's user key (then every child must be positioned after all).
    fn seek_by_age(&mut self, target: &[u8]) -> bool {
        let user_key = key::user_key(target);
        let hash = key::hash(user_key);
        self.deferred_target.clear();
        self.deferred_target.extend_from_slice(target);
        let mut examined = 0;
        for i in 0..self.children.len() {
            examined = i + 1;
            let c = &mut self.children[i];
            if !c.may_hold(target, hash) {
                self.deferred[i] = true;
                continue;
            }
            c.seek(target);
            if c.valid() && key::user_key(c.key()) == user_key {
                for d in &mut self.deferred[i + 1..] {
                    *d = true;
                }
                self.any_deferred = self.deferred.iter().any(|&d| d);
                self.forward = true;
                self.pick(Ordering::Less);
                return true;
            }
            if !c.valid() && c.status().is_err() {
                break;
            }
        }
        // Seek every child not sought yet (skipped, or not reached after a failure).
        for (i, (c, d)) in self
            .children
            .iter_mut()
            .zip(self.deferred.iter_mut())
            .enumerate()
        {
            if std::mem::take(d) || i >= examined {
                c.seek(target);
            }
        }
        false
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
            if !self.positioned(i) {
                continue;
            }
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
            heap.extend(
                (0..self.children.len())
                    .filter(|&i| self.positioned(i) && self.children[i].valid()),
            );
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
        self.undefer();
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.forward = true;
        self.pick(Ordering::Less);
    }

    fn seek_to_last(&mut self) {
        self.undefer();
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.forward = false;
        self.pick(Ordering::Greater);
    }

    /// Positions on the first entry `>= target`. With children by age
    /// ([`MergingIterator::by_age`]), only as many children as it takes.
    fn seek(&mut self, target: &[u8]) {
        self.undefer();
        if self.by_age && self.seek_by_age(target) {
            return;
        }
        if !self.by_age {
            self.children.iter_mut().for_each(|c| c.seek(target));
        }
        self.forward = true;
        self.pick(Ordering::Less);
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.undefer();
        self.children
            .iter_mut()
            .for_each(|c| c.seek_for_prev(target));
        self.forward = false;
        self.pick(Ordering::Greater);
    }

    fn next(&mut self) {
        self.materialize();
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
        self.materialize();
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
        for (i, c) in self.children.iter().enumerate() {
            if self.positioned(i) {
                c.status()?;
            }
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
        let mut rand = xorshift(seed | 1);
        let mems = memtables(n);
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
        MergingIterator::new(cursors(mems))
    }

    /// A cursor over each of `mems`.
    fn cursors(mems: &[Arc<MemTable>]) -> Vec<Box<dyn InternalIterator>> {
        mems.iter()
            .map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>)
            .collect()
    }

    /// `n` empty memtables.
    fn memtables(n: usize) -> Vec<Arc<MemTable>> {
        (0..n)
            .map(|_| Arc::new(MemTable::new(1, 1 << 20)))
            .collect()
    }

    /// A xorshift generator from `state` (not 0): each call, a number below `m`.
    fn xorshift(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        }
    }

    /// Random walks with seeks and direction changes, for a scan (2 children) and a
    /// heap (7, 16), against the sorted list of every key.
    #[test]
    fn walks_agree_with_the_sorted_keys_for_scan_and_heap() {
        for (n, seed) in [(2, 1), (7, 2), (16, 3), (5, 4)] {
            let (mems, all) = sources(n, seed);
            let mut it = merged(&mems);
            let mut rand = xorshift(seed * 7919 + 1);
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

    /// `n` memtables as the sources of a tree, newest first: every version in a
    /// memtable is newer than every version in the ones after it, and a key lives in
    /// a few of them only (so their filters rule most out). With every internal key
    /// in order.
    fn aged_sources(n: usize, seed: u64) -> (Vec<Arc<MemTable>>, Vec<Vec<u8>>) {
        let mut rand = xorshift(seed | 1);
        let mems = memtables(n);
        let mut all = Vec::new();
        let mut seq = 0;
        // Oldest source first, so the newest holds the largest sequence numbers.
        for age in (0..n).rev() {
            for _ in 0..rand(60) {
                seq += 1;
                let k = format!("k{:03}", rand(80)).into_bytes();
                let kind = if rand(4) == 0 {
                    ValueKind::Delete
                } else {
                    ValueKind::Put
                };
                mems[age].add(seq, kind, &k, &seq.to_le_bytes());
                all.push(crate::key::encode(&k, seq, kind));
            }
        }
        all.sort_by(|a, b| key::compare(a, b));
        (mems, all)
    }

    /// The lazy seek of sources by age: after every seek (to keys present in one,
    /// several or no source, at any sequence number) the merge stands where an eager
    /// one does, and walks on from there in either direction, for a scan and a heap.
    #[test]
    fn seeks_by_age_agree_with_the_sorted_keys() {
        for (n, seed) in [(2, 11), (3, 12), (4, 13), (6, 14), (12, 15)] {
            let (mems, all) = aged_sources(n, seed);
            let mut it = MergingIterator::by_age(cursors(&mems));
            let max_seq = all.len() as u64 + 2;
            let mut rand = xorshift(seed * 31 + 7);
            let mut deferred_seeks = 0;
            for step in 0..2000 {
                let t = crate::key::lookup_key(
                    format!("k{:03}", rand(85)).as_bytes(),
                    if rand(2) == 0 {
                        crate::key::MAX_SEQ
                    } else {
                        rand(max_seq)
                    },
                );
                it.seek(&t);
                deferred_seeks += u64::from(it.any_deferred);
                let first = all.partition_point(|k| key::compare(k, &t) == Ordering::Less);
                let mut pos = (first < all.len()).then_some(first);
                for walk in 0..=rand(6) {
                    assert_eq!(it.valid(), pos.is_some(), "n {n} step {step} walk {walk}");
                    let Some(p) = pos else {
                        break;
                    };
                    assert_eq!(it.key(), all[p].as_slice(), "n {n} step {step} walk {walk}");
                    if rand(3) == 0 {
                        it.prev();
                        pos = p.checked_sub(1);
                    } else {
                        it.next();
                        pos = (p + 1 < all.len()).then_some(p + 1);
                    }
                }
                it.status().unwrap();
            }
            // The lazy path was taken, or the test proves nothing about it.
            assert!(
                deferred_seeks > 100,
                "n {n}: {deferred_seeks} deferred seeks"
            );
        }
    }

    #[test]
    fn a_failed_child_fails_the_merge_in_both_modes() {
        for n in [2, 8] {
            let (mems, _) = sources(n, 9);
            let mut children = cursors(&mems);
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

    /// Sources by age with a failed one: a seek that needs the failed source (no
    /// newer one holds the key) fails; one that a newer source answers may be
    /// answered, and the failure shows as soon as the merge moves on.
    #[test]
    fn a_failed_source_by_age_fails_every_seek_that_needs_it() {
        let (mems, all) = aged_sources(3, 5);
        let mut children = cursors(&mems);
        children.push(Box::new(FailedIterator::new(crate::LsmError::corruption(
            "t", 0, "bad",
        ))));
        let mut it = MergingIterator::by_age(children);
        for i in 0..90u64 {
            let t = crate::key::lookup_key(format!("k{i:03}").as_bytes(), crate::key::MAX_SEQ);
            it.seek(&t);
            if it.valid() {
                // Only ever the right answer, from a newer source.
                let p = all.partition_point(|k| key::compare(k, &t) == Ordering::Less);
                assert_eq!(it.key(), all[p].as_slice());
                assert_eq!(key::user_key(it.key()), key::user_key(&t));
                it.next();
                assert!(!it.valid());
            }
            assert!(it.status().is_err(), "key {i}");
        }
    }
}
