//! The merge of several sorted cursors into one.

use super::InternalIterator;
use crate::error::Result;
use crate::key;
use std::cmp::Ordering;

/// Merges children that hold disjoint sets of internal keys (every write has its own
/// sequence number) into one cursor in internal-key order.
///
/// The number of children is small (memtables, level-0 tables, one per deeper level), so
/// picking the current child is a linear scan rather than a heap, which also keeps
/// direction changes simple: re-seek every child around the current key. A child that
/// fails makes the whole merge invalid with its error: skipping it would silently hide
/// its keys.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    forward: bool,
}

impl MergingIterator {
    /// Merges `children` (newest source first, though order only breaks no ties).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> MergingIterator {
        MergingIterator {
            children,
            current: None,
            forward: true,
        }
    }

    fn pick(&mut self, want: Ordering) {
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

    fn current_child(&mut self) -> Option<&mut Box<dyn InternalIterator>> {
        let i = self.current?;
        self.children.get_mut(i)
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
        if let Some(c) = self.current_child() {
            c.next();
        }
        self.pick(Ordering::Less);
    }

    fn prev(&mut self) {
        if self.forward {
            let k = self.key().to_vec();
            self.children.iter_mut().for_each(|c| c.seek_for_prev(&k));
            self.forward = false;
            self.pick(Ordering::Greater);
        }
        if let Some(c) = self.current_child() {
            c.prev();
        }
        self.pick(Ordering::Greater);
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
