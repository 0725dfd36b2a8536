//! A two-level cursor over a table: a position in the index and a cursor inside the
//! data block it names.

use super::block::BlockIter;
use super::index::Index;
use super::reader::SSTable;
use crate::error::{LsmError, Result};
use crate::iter::InternalIterator;
use std::sync::Arc;

/// A cursor over a table's point entries in internal-key order. It owns its table, so
/// it can outlive the version that handed the table out, and keeps the table's index
/// from its first positioning on (one block-cache lookup per cursor, not per block).
pub struct TableIterator {
    table: Arc<SSTable>,
    index: Option<Arc<Index>>,
    /// Index of the block in `block`; meaningless when `block` is `None`.
    block_index: usize,
    block: Option<BlockIter>,
    err: Option<LsmError>,
}

// The cursor is built here rather than in `reader.rs`, so the reader does not depend
// on its cursor: data flows one way, from the table to what reads it.
impl SSTable {
    /// A cursor over all point entries.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator::new(self.clone())
    }
}

impl TableIterator {
    fn new(table: Arc<SSTable>) -> TableIterator {
        TableIterator {
            table,
            index: None,
            block_index: 0,
            block: None,
            err: None,
        }
    }

    /// The table's index, loaded on first use; `None` (and the cursor failed) when it
    /// cannot be read.
    fn index(&mut self) -> Option<Arc<Index>> {
        if self.err.is_some() {
            return None;
        }
        if self.index.is_none() {
            match self.table.index() {
                Ok(i) => self.index = Some(i.into_arc()),
                Err(e) => self.fail(e),
            }
        }
        self.index.clone()
    }

    /// Positions `block` on data block `i` (re-using it when already loaded); false
    /// when `i` is past the end or the block could not be read.
    fn load(&mut self, i: usize) -> bool {
        let Some(index) = self.index() else {
            self.block = None;
            return false;
        };
        if i >= index.len() {
            self.block = None;
            return false;
        }
        if self.block.is_some() && self.block_index == i {
            return true;
        }
        match self.table.read_data_block(&index, i) {
            Ok(b) => {
                self.block = Some(b.iter());
                self.block_index = i;
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn fail(&mut self, e: LsmError) {
        self.err = Some(e);
        self.block = None;
    }

    /// True when the block cursor stopped for damage; moves the error up.
    fn take_block_error(&mut self) -> bool {
        if let Some(Err(e)) = self.block.as_ref().map(|b| b.status()) {
            self.fail(e);
            return true;
        }
        false
    }

    /// After the block cursor ran off its end: continue at the next block's start.
    fn skip_forward(&mut self) {
        while self.block.as_ref().is_some_and(|b| !b.valid()) {
            if self.take_block_error() {
                return;
            }
            let next = self.block_index + 1;
            if !self.load(next) {
                return;
            }
            if let Some(b) = self.block.as_mut() {
                b.seek_to_first();
            }
        }
    }

    /// After the block cursor ran off its start: continue at the previous block's end.
    fn skip_backward(&mut self) {
        while self.block.as_ref().is_some_and(|b| !b.valid()) {
            if self.take_block_error() {
                return;
            }
            if self.block_index == 0 {
                self.block = None;
                return;
            }
            let prev = self.block_index - 1;
            if !self.load(prev) {
                return;
            }
            if let Some(b) = self.block.as_mut() {
                b.seek_to_last();
            }
        }
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.err.is_none() && self.block.as_ref().is_some_and(|b| b.valid())
    }

    fn seek_to_first(&mut self) {
        if self.load(0) {
            if let Some(b) = self.block.as_mut() {
                b.seek_to_first();
            }
            self.skip_forward();
        }
    }

    fn seek_to_last(&mut self) {
        let n = self.index().map_or(0, |i| i.len());
        if n > 0 && self.load(n - 1) {
            if let Some(b) = self.block.as_mut() {
                b.seek_to_last();
            }
            self.skip_backward();
        } else {
            self.block = None;
        }
    }

    fn seek(&mut self, target: &[u8]) {
        let Some(index) = self.index() else {
            self.block = None;
            return;
        };
        if self.load(index.find(target)) {
            if let Some(b) = self.block.as_mut() {
                b.seek(target);
            }
            self.skip_forward();
        }
    }

    fn next(&mut self) {
        if let Some(b) = self.block.as_mut() {
            b.next();
        }
        self.skip_forward();
    }

    fn prev(&mut self) {
        if let Some(b) = self.block.as_mut() {
            b.prev();
        }
        self.skip_backward();
    }

    fn key(&self) -> &[u8] {
        self.block.as_ref().map_or(&[], |b| b.key())
    }

    fn value(&self) -> &[u8] {
        self.block.as_ref().map_or(&[], |b| b.value())
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}
