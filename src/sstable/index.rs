//! A table's index, decoded into flat arrays: binary searching it on every lookup
//! touches no block decoding at all.
//!
//! Since table format 2 the index is partitioned (as RocksDB's two-level index): a
//! small [`TopIndex`], held by the table while it is open, names the index partitions
//! and their filter partitions; each partition is an [`Index`] of a run of data blocks,
//! about 4 KiB on disk, read through the block cache on demand. A lookup that misses
//! the cache so reads one partition, not the whole table's metadata: at 100M keys the
//! tables' indexes and filters are several times any sensible block cache, and reading
//! a 1 MiB index to find one 4 KiB block made random reads collapse. A format 1 table
//! is read as one partition spanning the whole table.
//!
//! Decoding checks what the reader relies on: the data block handles of a partition
//! tile its share of the data area, the partitions tile the data, index and filter
//! areas, and keys strictly increase. A decoded partition is either pinned in its
//! [`super::SSTable`] or held by the block cache (one entry charged [`Index::charge`]
//! bytes).

use super::block::Block;
use super::format::BlockHandle;
use crate::coding::Reader;
use crate::error::{LsmError, Result};
use crate::iter::InternalIterator;
use crate::key;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

/// Internal keys stored back to back, searched by binary search. Ends are `u32`: a
/// decoded block's keys are fewer bytes than the block, whose offsets are `u32` too.
///
/// Beside them, each key's [`prefix`]: the search compares those first, in one small
/// array, and reads a key's bytes only when the prefixes tie. Without them every probe
/// of the search loads two more cache lines (the key's end and its bytes), and an
/// index partition's search was a tenth of a cached random get.
#[derive(Default)]
struct Keys {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    prefixes: Vec<u64>,
}

/// The first 8 bytes of an internal key's user key, big-endian, zero-padded when it
/// is shorter. Prefixes order as the keys do wherever they differ: a shorter user key
/// pads with zeros, which sort before any byte of a longer one that shares its start.
/// Equal prefixes say nothing (the rest of the key, or the padding, decides).
#[inline]
fn prefix(ikey: &[u8]) -> u64 {
    let u = key::user_key(ikey);
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(u) {
        *d = *s;
    }
    u64::from_be_bytes(w)
}

impl Keys {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.bytes
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// Appends `k`, which must sort after the last key.
    fn push(&mut self, k: &[u8]) -> std::result::Result<(), &'static str> {
        if self.len() > 0 && key::compare(self.get(self.len() - 1), k) != Ordering::Less {
            return Err("index keys out of order");
        }
        let end = u32::try_from(self.bytes.len() + k.len()).map_err(|_| "index too large")?;
        self.bytes.extend_from_slice(k);
        self.ends.push(end);
        self.prefixes.push(prefix(k));
        Ok(())
    }

    /// The first `i` whose key is `>= target` (`len()` when none is).
    fn find(&self, target: &[u8]) -> usize {
        let t = prefix(target);
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let p = self.prefixes.get(mid).copied().unwrap_or(u64::MAX);
            let less = match p.cmp(&t) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => key::compare(self.get(mid), target) == Ordering::Less,
            };
            if less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.prefixes.shrink_to_fit();
    }

    fn charge(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self.prefixes.capacity() * std::mem::size_of::<u64>()
    }
}

/// One index partition decoded: key `i` is the last key of data block `i`, which
/// spans `offsets[i]..offsets[i + 1]` of the file, its trailer included (the blocks
/// tile the partition's share of the data, so one offset per block is enough: about
/// 36 bytes per block held, not 48).
pub struct Index {
    keys: Keys,
    offsets: Vec<u64>,
}

impl Index {
    /// Decodes the index block `block` (at `handle` in `path`), whose data blocks must
    /// tile `data` exactly. `last`, when given, must be its last key (what the top
    /// index recorded for it).
    pub fn decode(
        block: Block,
        path: &Path,
        handle: BlockHandle,
        data: std::ops::Range<u64>,
        last: Option<&[u8]>,
    ) -> Result<Index> {
        let corrupt = |reason: &str| LsmError::corruption(path, handle.offset, reason);
        let mut it = Arc::new(block).iter();
        let mut index = Index {
            keys: Keys::default(),
            offsets: vec![data.start],
        };
        let mut expected_offset = data.start;
        it.seek_to_first();
        while it.valid() {
            let h = BlockHandle::decode(it.value()).map_err(corrupt)?;
            if h.offset != expected_offset {
                return Err(corrupt("data block handles do not tile the file"));
            }
            expected_offset = h
                .end_with_trailer()
                .filter(|&e| e <= data.end)
                .ok_or_else(|| corrupt("data block handle past the data area"))?;
            index.keys.push(it.key()).map_err(corrupt)?;
            index.offsets.push(expected_offset);
            it.next();
        }
        it.status()?;
        if expected_offset != data.end {
            return Err(corrupt("data blocks do not tile the file"));
        }
        if let Some(last) = last {
            if index.len() == 0 || index.key(index.len() - 1) != last {
                return Err(corrupt("index partition disagrees with the top index"));
            }
        }
        index.keys.shrink();
        index.offsets.shrink_to_fit();
        Ok(index)
    }

    /// Data blocks.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The index key of block `i` (empty when out of range).
    pub fn key(&self, i: usize) -> &[u8] {
        self.keys.get(i)
    }

    /// Where block `i` lives.
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        Some(BlockHandle {
            offset: start,
            size: (end - start).checked_sub(super::format::BLOCK_TRAILER_SIZE as u64)?,
        })
    }

    /// The first block whose last key is `>= target` (`len()` when none is).
    pub fn find(&self, target: &[u8]) -> usize {
        self.keys.find(target)
    }

    /// Bytes of memory the decoded index holds (what the block cache charges for it).
    pub fn charge(&self) -> usize {
        std::mem::size_of::<Index>()
            + self.keys.charge()
            + self.offsets.capacity() * std::mem::size_of::<u64>()
    }
}

/// Where one partition's metadata and data live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Its index block.
    pub index: BlockHandle,
    /// Its filter block (`None` when the table has no filter).
    pub filter: Option<BlockHandle>,
    /// The data area its blocks tile: `data_start..data_end`.
    pub data_start: u64,
    /// See `data_start`.
    pub data_end: u64,
}

/// Where a format 2 table's areas lie, as the footer and the layout rule give them.
pub struct Areas {
    /// End of the data blocks (start of the filter partitions).
    pub data_end: u64,
    /// The filter partitions: `data_end..filter_end` (empty when there is no filter).
    pub filter_end: u64,
    /// The index partitions: `index_start..index_end`.
    pub index_start: u64,
    /// See `index_start` (the offset of the top index block).
    pub index_end: u64,
}

/// The partitions of a table, in key order. Key `p` is the last internal key of
/// partition `p`; a format 1 table has one partition and no keys.
pub struct TopIndex {
    keys: Keys,
    parts: Vec<Partition>,
}

impl TopIndex {
    /// A format 1 table: its one index and filter block as the only partition.
    pub fn whole(index: BlockHandle, filter: Option<BlockHandle>, data_end: u64) -> TopIndex {
        TopIndex {
            keys: Keys::default(),
            parts: vec![Partition {
                index,
                filter,
                data_start: 0,
                data_end,
            }],
        }
    }

    /// Decodes a format 2 top index block (at `handle` in `path`), checking that its
    /// partitions tile `areas`: data blocks, filter partitions and index partitions.
    pub fn decode(
        block: Block,
        path: &Path,
        handle: BlockHandle,
        areas: &Areas,
    ) -> Result<TopIndex> {
        let corrupt = |reason: &str| LsmError::corruption(path, handle.offset, reason);
        let has_filter = areas.filter_end > areas.data_end;
        let mut it = Arc::new(block).iter();
        let mut top = TopIndex {
            keys: Keys::default(),
            parts: Vec::new(),
        };
        let (mut filter_at, mut index_at) = (areas.data_end, areas.index_start);
        let tiles = |h: BlockHandle, at: &mut u64, end: u64, what| {
            if h.offset != *at {
                return Err(corrupt(what));
            }
            *at = h
                .end_with_trailer()
                .filter(|&e| e <= end)
                .ok_or_else(|| corrupt(what))?;
            Ok(())
        };
        it.seek_to_first();
        while it.valid() {
            let mut r = Reader::new(it.value());
            let mut handle = || -> Option<BlockHandle> {
                Some(BlockHandle {
                    offset: r.varint()?,
                    size: r.varint()?,
                })
            };
            let bad = || corrupt("bad top index entry");
            let index = handle().ok_or_else(bad)?;
            let filter = handle().ok_or_else(bad)?;
            let data_start = r.varint().ok_or_else(bad)?;
            if !r.is_empty() {
                return Err(bad());
            }
            tiles(
                index,
                &mut index_at,
                areas.index_end,
                "index partitions do not tile the index area",
            )?;
            let filter = if has_filter {
                tiles(
                    filter,
                    &mut filter_at,
                    areas.filter_end,
                    "filter partitions do not tile the filter area",
                )?;
                Some(filter)
            } else if filter != BlockHandle::default() {
                return Err(corrupt("filter partition in a table without a filter"));
            } else {
                None
            };
            if let Some(prev) = top.parts.last_mut() {
                prev.data_end = data_start;
            }
            top.keys.push(it.key()).map_err(corrupt)?;
            top.parts.push(Partition {
                index,
                filter,
                data_start,
                data_end: areas.data_end,
            });
            it.next();
        }
        it.status()?;
        // Each partition holds at least one data block: the starts strictly rise.
        top.check_rising_starts().map_err(corrupt)?;
        if index_at != areas.index_end || (has_filter && filter_at != areas.filter_end) {
            return Err(corrupt("partitions do not fill the metadata areas"));
        }
        if top.parts.is_empty() && areas.data_end != 0 {
            return Err(corrupt("data blocks without an index"));
        }
        top.keys.shrink();
        top.parts.shrink_to_fit();
        Ok(top)
    }

    fn check_rising_starts(&self) -> std::result::Result<(), &'static str> {
        let mut prev: Option<u64> = None;
        for p in &self.parts {
            match prev {
                None if p.data_start != 0 => return Err("first partition does not start the data"),
                Some(s) if p.data_start <= s => return Err("partitions do not tile the data area"),
                _ => {}
            }
            if p.data_start >= p.data_end {
                return Err("partitions do not tile the data area");
            }
            prev = Some(p.data_start);
        }
        Ok(())
    }

    /// Partitions.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Partition `p`.
    pub fn part(&self, p: usize) -> Option<Partition> {
        self.parts.get(p).copied()
    }

    /// Every partition, in key order.
    pub fn parts(&self) -> &[Partition] {
        &self.parts
    }

    /// The last key of partition `p`, when the format records it (format 2).
    pub fn last_key(&self, p: usize) -> Option<&[u8]> {
        (self.keys.len() == self.parts.len()).then(|| self.keys.get(p))
    }

    /// The first partition that may hold an entry `>= target` (`len()` when none
    /// can). A format 1 table's one partition always may.
    pub fn find(&self, target: &[u8]) -> usize {
        if self.keys.len() == self.parts.len() {
            self.keys.find(target)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix-first search against a plain scan with the full comparison, on keys
    /// built to tie in their prefixes: user keys shorter and longer than 8 bytes, zero
    /// bytes where a shorter key pads, and versions of one user key.
    #[test]
    fn find_agrees_with_a_scan_where_prefixes_tie() {
        let mut rng = crate::workload::Rng::new(5);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for _ in 0..600 {
            let len = rng.below(14) as usize;
            // Bytes from a tiny alphabet with zeros: many keys share 8-byte prefixes.
            let user: Vec<u8> = (0..len)
                .map(|_| [0u8, 1, 0xff][rng.below(3) as usize])
                .collect();
            keys.push(key::lookup_key(&user, rng.below(4)));
        }
        keys.sort_by(|a, b| key::compare(a, b));
        keys.dedup();
        let mut k = Keys::default();
        for x in &keys {
            k.push(x).unwrap();
        }
        let scan = |t: &[u8]| {
            keys.iter()
                .position(|x| key::compare(x, t) != Ordering::Less)
                .unwrap_or(keys.len())
        };
        for _ in 0..3000 {
            let len = rng.below(14) as usize;
            let user: Vec<u8> = (0..len)
                .map(|_| [0u8, 1, 0xff][rng.below(3) as usize])
                .collect();
            let t = key::lookup_key(&user, rng.below(5));
            assert_eq!(k.find(&t), scan(&t), "target {t:?}");
        }
        for (i, x) in keys.iter().enumerate() {
            assert_eq!(k.find(x), i);
        }
    }
}
