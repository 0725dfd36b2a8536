//! A table's index block, decoded into flat arrays: binary searching it on every
//! lookup touches no block decoding at all.
//!
//! Decoding checks what the reader relies on: the data block handles tile the data
//! area from offset 0 to its end, and the index keys strictly increase. The decoded
//! index is either pinned in its [`super::SSTable`] or held by the block cache (as one
//! entry charged [`Index::charge`] bytes).

use super::block::Block;
use super::format::BlockHandle;
use crate::error::{LsmError, Result};
use crate::iter::InternalIterator;
use crate::key;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

/// The decoded index: key `i` is the last key of data block `i` (or a separator at or
/// after it), `handles[i]` where that block lives.
pub struct Index {
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    handles: Vec<BlockHandle>,
}

impl Index {
    /// Decodes the index block `block` (at `handle` in `path`) of a table whose data
    /// blocks end at `data_end`.
    pub fn decode(block: Block, path: &Path, handle: BlockHandle, data_end: u64) -> Result<Index> {
        let corrupt = |reason: &str| LsmError::corruption(path, handle.offset, reason);
        let mut it = Arc::new(block).iter();
        let mut index = Index {
            keys: Vec::new(),
            key_ends: Vec::new(),
            handles: Vec::new(),
        };
        let mut expected_offset = 0;
        it.seek_to_first();
        while it.valid() {
            let h = BlockHandle::decode(it.value()).map_err(corrupt)?;
            if h.offset != expected_offset {
                return Err(corrupt("data block handles do not tile the file"));
            }
            expected_offset = h
                .end_with_trailer()
                .filter(|&e| e <= data_end)
                .ok_or_else(|| corrupt("data block handle past the data area"))?;
            if index.len() > 0
                && key::compare(index.key(index.len() - 1), it.key()) != Ordering::Less
            {
                return Err(corrupt("index keys out of order"));
            }
            index.keys.extend_from_slice(it.key());
            index.key_ends.push(index.keys.len());
            index.handles.push(h);
            it.next();
        }
        it.status()?;
        if expected_offset != data_end {
            return Err(corrupt("data blocks do not tile the file"));
        }
        index.keys.shrink_to_fit();
        index.key_ends.shrink_to_fit();
        index.handles.shrink_to_fit();
        Ok(index)
    }

    /// Data blocks.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// The index key of block `i` (empty when out of range).
    pub fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.key_ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.key_ends.get(i).copied().unwrap_or(start);
        self.keys.get(start..end).unwrap_or_default()
    }

    /// Where block `i` lives.
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        self.handles.get(i).copied()
    }

    /// The first block whose last key is `>= target` (`len()` when none is).
    pub fn find(&self, target: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key::compare(self.key(mid), target) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes of memory the decoded index holds (what the block cache charges for it).
    pub fn charge(&self) -> usize {
        std::mem::size_of::<Index>()
            + self.keys.capacity()
            + self.key_ends.capacity() * std::mem::size_of::<usize>()
            + self.handles.capacity() * std::mem::size_of::<BlockHandle>()
    }
}
