//! A cursor over one sorted level: its disjoint tables read one after the other.

use super::InternalIterator;
use crate::error::{LsmError, Result};
use crate::key;
use crate::manifest::TableFile;
use crate::sstable::TableIterator;
use std::sync::Arc;

/// Concatenates the tables of a level (sorted, disjoint), opening a table (through
/// the table cache) and its cursor only when the walk reaches it, and holding one
/// table at a time. A table that cannot be opened stops the walk with its error.
pub struct LevelIterator {
    files: Vec<Arc<TableFile>>,
    index: usize,
    current: Option<TableIterator>,
    /// Why the table at `index` could not be opened.
    err: Option<LsmError>,
}

impl LevelIterator {
    /// A cursor over `files`, which are sorted by key and do not overlap.
    pub fn new(files: Vec<Arc<TableFile>>) -> LevelIterator {
        LevelIterator {
            files,
            index: 0,
            current: None,
            err: None,
        }
    }

    fn open(&mut self, index: usize) -> Option<&mut TableIterator> {
        self.index = index;
        // The old cursor goes first, so its table may close before the next opens.
        self.current = None;
        if self.err.is_some() {
            return None;
        }
        match self.files.get(index).map(|f| f.table()) {
            Some(Ok(t)) => self.current = Some(t.iter()),
            Some(Err(e)) => self.err = Some(e),
            None => {}
        }
        self.current.as_mut()
    }

    /// Moves forward past exhausted tables.
    fn skip_forward(&mut self) {
        while self
            .current
            .as_ref()
            .is_some_and(|c| !c.valid() && c.status().is_ok())
        {
            let next = self.index + 1;
            match self.open(next) {
                Some(c) => c.seek_to_first(),
                None => break,
            }
        }
    }

    /// Moves backward past exhausted tables.
    fn skip_backward(&mut self) {
        while self
            .current
            .as_ref()
            .is_some_and(|c| !c.valid() && c.status().is_ok())
        {
            if self.index == 0 {
                self.current = None;
                break;
            }
            let prev = self.index - 1;
            if let Some(c) = self.open(prev) {
                c.seek_to_last();
            }
        }
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.err.is_none() && self.current.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) {
        if let Some(c) = self.open(0) {
            c.seek_to_first();
        }
        self.skip_forward();
    }

    fn seek_to_last(&mut self) {
        let last = self.files.len().saturating_sub(1);
        if let Some(c) = self.open(last) {
            c.seek_to_last();
        }
        self.skip_backward();
    }

    fn seek(&mut self, target: &[u8]) {
        // The first table whose largest key is >= target holds the answer, if any.
        let i = self
            .files
            .partition_point(|f| key::compare(&f.meta.largest, target) == std::cmp::Ordering::Less);
        match self.open(i) {
            Some(c) => c.seek(target),
            None => {
                self.current = None;
                return;
            }
        }
        self.skip_forward();
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        // The last table whose smallest key is <= target.
        let i = self.files.partition_point(|f| {
            key::compare(&f.meta.smallest, target) != std::cmp::Ordering::Greater
        });
        if i == 0 {
            self.current = None;
            return;
        }
        if let Some(c) = self.open(i - 1) {
            c.seek_for_prev(target);
        }
        self.skip_backward();
    }

    fn next(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.next();
        }
        self.skip_forward();
    }

    fn prev(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.prev();
        }
        self.skip_backward();
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map(|c| c.key()).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map(|c| c.value()).unwrap_or_default()
    }

    fn may_hold(&self, target: &[u8], hash: u64) -> bool {
        // A seek starts in the first table whose largest key is >= target (see
        // `seek`), and goes on into the next ones when that table holds no entry at
        // or after it: its largest key may be the end of a range deletion, past its
        // last entry. So every table from there that may start with the key counts.
        let i = self
            .files
            .partition_point(|f| key::compare(&f.meta.largest, target) == std::cmp::Ordering::Less);
        let user_key = key::user_key(target);
        for f in self.files.get(i..).unwrap_or_default() {
            if key::user_key(&f.meta.smallest) > user_key {
                return false;
            }
            if f.table().map_or(true, |t| t.may_hold(target, hash)) {
                return true;
            }
        }
        false
    }

    fn status(&self) -> Result<()> {
        if let Some(e) = &self.err {
            return Err(e.duplicate());
        }
        match &self.current {
            Some(c) => c.status(),
            None => Ok(()),
        }
    }
}
