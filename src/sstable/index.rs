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

/// Internal keys stored back to back, searched by binary search, in as few bytes as
/// a search can use: at 100M keys the tables' decoded indexes are larger than any
/// sensible block cache, so every byte saved is a partition more held in memory and
/// one read from the file fewer.
///
/// - `common`, the bytes every user key starts with, is stored once. Index keys of
///   one partition lie close together: with 16-digit keys they share 11 or more.
/// - A key whose trailer is [`SEPARATOR_TRAILER`] (as the table builder
///   gives the shortened separators it writes) stores no trailer; the top bit of its
///   end says so ([`IMPLIED`]). Other keys keep their 8 trailer bytes after the user
///   key's remainder.
/// - Beside them, each key's [`prefix`] (the first 8 bytes after `common`): the search
///   compares those first, in one small array, and reads a key's bytes only when the
///   prefixes tie. Without them every probe of the search loads two more cache lines.
///
/// Ends are `u32`: a partition's keys are fewer bytes than its index block.
#[derive(Default)]
struct Keys {
    common: Vec<u8>,
    bytes: Vec<u8>,
    ends: Vec<u32>,
    prefixes: Vec<u64>,
}

/// The top bit of an end: the key's trailer is [`SEPARATOR_TRAILER`] and not stored.
const IMPLIED: u32 = 1 << 31;

/// The trailer of a shortened separator: sequence number [`key::MAX_SEQ`] and kind
/// `Put`, a well-formed key (which readers of table format 2 before separators
/// require of index keys too).
pub const SEPARATOR_TRAILER: u64 = (key::MAX_SEQ << 8) | key::ValueKind::Put as u64;

/// The first 8 bytes of `user`, big-endian, zero-padded when it is shorter. Prefixes
/// order as the bytes do wherever they differ: a shorter key pads with zeros, which
/// sort before any byte of a longer one that shares its start. Equal prefixes say
/// nothing (the rest of the key, or the padding, decides).
#[inline]
fn prefix(user: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(user) {
        *d = *s;
    }
    u64::from_be_bytes(w)
}

/// The length of the longest common prefix of `a` and `b`.
pub(super) fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Keys {
    /// Keys whose user keys all start with `common`, room for about `n` of them and
    /// `bytes` bytes (growing one push at a time was a tenth of a decode).
    fn with_common(common: &[u8], n: usize, bytes: usize) -> Keys {
        Keys {
            common: common.to_vec(),
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(n),
            prefixes: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The stored part of key `i` (its user key's remainder after `common`, then its
    /// trailer unless implied), and whether the trailer is implied.
    #[inline]
    fn part(&self, i: usize) -> (&[u8], bool) {
        let raw_end = |j: usize| self.ends.get(j).copied().unwrap_or(0);
        let start = if i == 0 { 0 } else { raw_end(i - 1) & !IMPLIED };
        let end = raw_end(i);
        let bytes = self
            .bytes
            .get(start as usize..(end & !IMPLIED) as usize)
            .unwrap_or_default();
        (bytes, end & IMPLIED != 0)
    }

    /// Key `i`'s user key remainder and trailer.
    #[inline]
    fn split(&self, i: usize) -> (&[u8], u64) {
        match self.part(i) {
            (rest, true) => (rest, SEPARATOR_TRAILER),
            (stored, false) => (key::user_key(stored), key::trailer(stored)),
        }
    }

    /// Key `i` as an internal key (empty when out of range).
    fn get(&self, i: usize) -> Vec<u8> {
        if i >= self.len() {
            return Vec::new();
        }
        let (rest, trailer) = self.split(i);
        let mut k = Vec::with_capacity(self.common.len() + rest.len() + key::TRAILER_LEN);
        k.extend_from_slice(&self.common);
        k.extend_from_slice(rest);
        k.extend_from_slice(&trailer.to_le_bytes());
        k
    }

    /// Appends `k`, which must sort after the last key and start with `common`.
    fn push(&mut self, k: &[u8]) -> std::result::Result<(), &'static str> {
        let user = key::user_key(k);
        // Decoding runs on every index miss of the block cache: compare inline (no
        // `memcmp` call), and the full keys only when their prefixes tie.
        let cl = self.common.len();
        let rest = match (user.get(..cl), user.get(cl..)) {
            (Some(head), Some(rest)) if key::compare_bytes(head, &self.common).is_eq() => rest,
            _ => return Err("index key outside its partition's key range"),
        };
        let trailer = key::trailer(k);
        let p = prefix(rest);
        if let Some(&last_prefix) = self.prefixes.last() {
            let order = match last_prefix.cmp(&p) {
                Ordering::Equal => {
                    let (last_rest, last_trailer) = self.split(self.len() - 1);
                    match key::compare_bytes(last_rest, rest) {
                        Ordering::Equal => trailer.cmp(&last_trailer),
                        o => o,
                    }
                }
                o => o,
            };
            if order != Ordering::Less {
                return Err("index keys out of order");
            }
        }
        let implied = trailer == SEPARATOR_TRAILER;
        self.bytes.extend_from_slice(rest);
        if !implied {
            self.bytes.extend_from_slice(&trailer.to_le_bytes());
        }
        let end = u32::try_from(self.bytes.len())
            .ok()
            .filter(|e| e & IMPLIED == 0)
            .ok_or("index too large")?;
        self.ends.push(if implied { end | IMPLIED } else { end });
        self.prefixes.push(p);
        Ok(())
    }

    /// The first `i` whose key is `>= target` (`len()` when none is).
    fn find(&self, target: &[u8]) -> usize {
        let user = key::user_key(target);
        let cl = self.common.len();
        let head = user.get(..cl.min(user.len())).unwrap_or_default();
        let rest = match key::compare_bytes(head, &self.common) {
            Ordering::Equal if head.len() == cl => user.get(cl..).unwrap_or_default(),
            // Every key starts with `common`: the target sorts before all or after all
            // (before when it is a shorter start of `common`).
            Ordering::Greater => return self.len(),
            _ => return 0,
        };
        let (t, trailer) = (prefix(rest), key::trailer(target));
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let p = self.prefixes.get(mid).copied().unwrap_or(u64::MAX);
            let less = match p.cmp(&t) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    let (r, tr) = self.split(mid);
                    match key::compare_bytes(r, rest) {
                        Ordering::Equal => tr > trailer,
                        o => o == Ordering::Less,
                    }
                }
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
        self.common.shrink_to_fit();
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.prefixes.shrink_to_fit();
    }

    fn charge(&self) -> usize {
        self.common.capacity()
            + self.bytes.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self.prefixes.capacity() * std::mem::size_of::<u64>()
    }
}

/// Where each data block of a partition starts, relative to the partition's first
/// (`u32` when the partition spans less than 4 GiB, as it does at any sane block size:
/// 4 bytes per block held instead of 8).
enum Offsets {
    Narrow { base: u64, at: Vec<u32> },
    Wide(Vec<u64>),
}

impl Offsets {
    fn new(data: &std::ops::Range<u64>, n: usize) -> Offsets {
        if data.end - data.start <= u64::from(u32::MAX) {
            let mut at = Vec::with_capacity(n);
            at.push(0);
            Offsets::Narrow {
                base: data.start,
                at,
            }
        } else {
            let mut at = Vec::with_capacity(n);
            at.push(data.start);
            Offsets::Wide(at)
        }
    }

    fn push(&mut self, offset: u64) {
        match self {
            // `decode` checks every offset lies within the partition's data.
            Offsets::Narrow { base, at } => at.push((offset - *base) as u32),
            Offsets::Wide(at) => at.push(offset),
        }
    }

    fn get(&self, i: usize) -> Option<u64> {
        match self {
            Offsets::Narrow { base, at } => at.get(i).map(|&o| base + u64::from(o)),
            Offsets::Wide(at) => at.get(i).copied(),
        }
    }

    fn shrink(&mut self) {
        match self {
            Offsets::Narrow { at, .. } => at.shrink_to_fit(),
            Offsets::Wide(at) => at.shrink_to_fit(),
        }
    }

    fn charge(&self) -> usize {
        match self {
            Offsets::Narrow { at, .. } => at.capacity() * std::mem::size_of::<u32>(),
            Offsets::Wide(at) => at.capacity() * std::mem::size_of::<u64>(),
        }
    }
}

/// One index partition decoded: key `i` separates data block `i` from the next (at or
/// after its last key, before the next block's first), and the block spans
/// `offsets[i]..offsets[i + 1]` of the file, its trailer included (the blocks tile the
/// partition's share of the data, so one offset per block is enough).
pub struct Index {
    keys: Keys,
    offsets: Offsets,
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
        // Keys are sorted: what the first and last share, every key between shares.
        it.seek_to_last();
        let last_user = key::user_key(it.key()).to_vec();
        it.seek_to_first();
        let common = common_len(key::user_key(it.key()), &last_user);
        // An entry is at least 5 bytes (three one-byte lengths and a two-byte handle):
        // room for that many, trimmed after.
        let raw = it.block().data().len();
        let n = raw / 5 + 1;
        let mut index = Index {
            keys: Keys::with_common(last_user.get(..common).unwrap_or_default(), n, raw),
            offsets: Offsets::new(&data, n + 1),
        };
        let mut expected_offset = data.start;
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
            if index.len() == 0 || index.key(index.len() - 1).as_slice() != last {
                return Err(corrupt("index partition disagrees with the top index"));
            }
        }
        index.keys.shrink();
        index.offsets.shrink();
        Ok(index)
    }

    /// Data blocks.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The index key of block `i`: at or after its last key and before the next
    /// block's first (empty when out of range). Built on each call: for checks, not
    /// for lookups.
    pub fn key(&self, i: usize) -> Vec<u8> {
        self.keys.get(i)
    }

    /// Where block `i` lives.
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        let (start, end) = (self.offsets.get(i)?, self.offsets.get(i + 1)?);
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
        std::mem::size_of::<Index>() + self.keys.charge() + self.offsets.charge()
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
    pub fn last_key(&self, p: usize) -> Option<Vec<u8>> {
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
        // Without a common prefix, and with one every key shares (the targets need
        // not share it), keys with stored and with implied trailers.
        for common in [&[][..], &[1u8, 0][..]] {
            let mut rng = crate::workload::Rng::new(5);
            // Bytes from a tiny alphabet with zeros: many keys share 8-byte prefixes.
            let user = |rng: &mut crate::workload::Rng| -> Vec<u8> {
                let len = rng.below(14) as usize;
                let mut u = common.to_vec();
                u.extend((0..len).map(|_| [0u8, 1, 0xff][rng.below(3) as usize]));
                u
            };
            let mut keys: Vec<Vec<u8>> = Vec::new();
            for _ in 0..600 {
                let u = user(&mut rng);
                keys.push(match rng.below(3) {
                    0 => key::encode(&u, key::MAX_SEQ, key::ValueKind::Put),
                    _ => key::lookup_key(&u, rng.below(4)),
                });
            }
            keys.sort_by(|a, b| key::compare(a, b));
            keys.dedup();
            let mut k = Keys::with_common(common, 0, 0);
            for x in &keys {
                k.push(x).unwrap();
            }
            assert!(k.ends.iter().any(|e| e & IMPLIED != 0));
            assert!(k.ends.iter().any(|e| e & IMPLIED == 0));
            let scan = |t: &[u8]| {
                keys.iter()
                    .position(|x| key::compare(x, t) != Ordering::Less)
                    .unwrap_or(keys.len())
            };
            for _ in 0..3000 {
                let mut u = user(&mut rng);
                if rng.below(4) == 0 {
                    // Targets outside the common prefix: shorter, or differing in it.
                    u.truncate(rng.below(3) as usize);
                    if let Some(b) = u.first_mut() {
                        *b = [0u8, 1, 2][rng.below(3) as usize];
                    }
                }
                let t = key::lookup_key(&u, rng.below(5));
                assert_eq!(k.find(&t), scan(&t), "target {t:?}");
            }
            for (i, x) in keys.iter().enumerate() {
                assert_eq!(k.find(x), i);
                assert_eq!(&k.get(i), x, "key {i} rebuilt");
            }
            // A key outside the common prefix, or out of order, is refused.
            if !common.is_empty() {
                assert!(k.push(&key::lookup_key(&[0xff; 20], 1)).is_err());
            }
            let last = keys.last().unwrap().clone();
            assert!(k.push(&last).is_err());
        }
    }
}
