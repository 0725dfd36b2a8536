//! A cursor over a table: a partition, a position in its index and a cursor inside
//! the data block it names.

use super::block::BlockIter;
use super::index::Index;
use super::reader::SSTable;
use crate::error::{LsmError, Result};
use crate::iter::InternalIterator;
use std::sync::Arc;

/// A cursor over a table's point entries in internal-key order. It owns its table, so
/// it can outlive the version that handed the table out, and keeps the index
/// partition it is in (one block-cache lookup per partition entered, not per block).
pub struct TableIterator {
    table: Arc<SSTable>,
    /// The partition `index` is, and `index` itself once loaded.
    part: usize,
    index: Option<Arc<Index>>,
    /// Index of the block in `block` within `index`; meaningless when `block` is
    /// `None`.
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
            part: 0,
            index: None,
            block_index: 0,
            block: None,
            err: None,
        }
    }

    /// Index partition `p`, kept until the cursor moves to another; `None` (and the
    /// cursor failed) when it cannot be read.
    fn index(&mut self, p: usize) -> Option<Arc<Index>> {
        if self.err.is_some() {
            return None;
        }
        if self.part != p || self.index.is_none() {
            // `block_index` counts within a partition: a block of another one must
            // not pass for the current block.
            self.block = None;
            self.index = None;
            self.part = p;
            match self.table.index(p) {
                Ok(i) => self.index = Some(i.into_arc()),
                Err(e) => self.fail(e),
            }
        }
        self.index.clone()
    }

    /// Positions `block` on the first data block at or after block `i` of partition
    /// `p` (re-using it when already loaded); false when there is none or a block
    /// could not be read.
    fn load(&mut self, mut p: usize, mut i: usize) -> bool {
        while p < self.table.top().len() {
            let Some(index) = self.index(p) else {
                self.block = None;
                return false;
            };
            if i < index.len() {
                return self.load_block(&index, i);
            }
            p += 1;
            i = 0;
        }
        self.block = None;
        false
    }

    /// Positions `block` on the last data block before block `i` of partition `p`
    /// (`i = usize::MAX`: the last of `p`); false when there is none.
    fn load_before(&mut self, mut p: usize, mut i: usize) -> bool {
        loop {
            let Some(index) = self.index(p) else {
                self.block = None;
                return false;
            };
            let n = index.len().min(i);
            if n > 0 {
                return self.load_block(&index, n - 1);
            }
            if p == 0 {
                self.block = None;
                return false;
            }
            p -= 1;
            i = usize::MAX;
        }
    }

    fn load_block(&mut self, index: &Index, i: usize) -> bool {
        if self.block.is_some() && self.block_index == i {
            return true;
        }
        match self.table.read_data_block(index, i) {
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
            if !self.load(self.part, self.block_index + 1) {
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
            if !self.load_before(self.part, self.block_index) {
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
        if self.load(0, 0) {
            if let Some(b) = self.block.as_mut() {
                b.seek_to_first();
            }
            self.skip_forward();
        }
    }

    fn seek_to_last(&mut self) {
        let n = self.table.top().len();
        if n > 0 && self.load_before(n - 1, usize::MAX) {
            if let Some(b) = self.block.as_mut() {
                b.seek_to_last();
            }
            self.skip_backward();
        } else {
            self.block = None;
        }
    }

    fn seek(&mut self, target: &[u8]) {
        let p = self.table.top().find(target);
        if p >= self.table.top().len() {
            self.block = None;
            return;
        }
        let Some(index) = self.index(p) else {
            self.block = None;
            return;
        };
        let i = index.find(target);
        if self.load(p, i) {
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

    fn may_hold(&self, target: &[u8], hash: u64) -> bool {
        self.table.may_hold(target, hash)
    }
}
