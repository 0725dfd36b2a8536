//! Reading one block: trailer check, decompression, and a cursor over its entries.
//!
//! Everything here treats the bytes as hostile: offsets come from `.get()`, lengths
//! are checked before use, and damage makes the cursor invalid with a `Corruption`
//! error naming the file and the block's offset.

use super::format::{
    block_crc, BlockHandle, BLOCK_TRAILER_SIZE, COMPRESSION_LZ4, COMPRESSION_NONE,
    COMPRESSION_ZSTD, MAX_COMPRESSED_RAW_LEN,
};
use crate::coding::get_varint;
use crate::error::{LsmError, Result};
use crate::fs::RandomAccessFile;
use crate::iter::InternalIterator;
use crate::key;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

/// The checked, uncompressed contents of one block.
pub struct Block {
    data: Vec<u8>,
    restarts_offset: usize,
    num_restarts: usize,
    path: Arc<Path>,
    offset: u64,
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// Reads the block at `handle` with one read and returns its checked, uncompressed
/// contents.
pub fn read_contents(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
) -> Result<Vec<u8>> {
    let corrupt = |reason: &str| LsmError::corruption(path, handle.offset, reason);
    let len = handle
        .size
        .checked_add(BLOCK_TRAILER_SIZE as u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n as u64 <= file.len())
        .ok_or_else(|| corrupt("block handle exceeds the file"))?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(handle.offset, &mut buf)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("block extends past the end of the file"),
            _ => LsmError::io_at("read", path, e),
        })?;
    decode_contents(buf, path, handle.offset)
}

/// Reads the entry block at `handle` (data, index or range-deletion block).
pub fn read_block(
    file: &dyn RandomAccessFile,
    path: &Arc<Path>,
    handle: BlockHandle,
) -> Result<Block> {
    let raw = read_contents(file, path, handle)?;
    Block::from_raw(raw, path.clone(), handle.offset)
}

impl Block {
    /// Bytes the block holds in memory (what the block cache charges for it).
    pub fn charge(&self) -> usize {
        self.data.len() + std::mem::size_of::<Block>()
    }
}

/// Checks the trailer of `buf` (block contents followed by the trailer) and
/// decompresses; `offset` is where the block starts in `path`.
pub fn decode_contents(mut buf: Vec<u8>, path: &Path, offset: u64) -> Result<Vec<u8>> {
    let corrupt = |reason: &str| LsmError::corruption(path, offset, reason);
    let size = buf
        .len()
        .checked_sub(BLOCK_TRAILER_SIZE)
        .ok_or_else(|| corrupt("block shorter than its trailer"))?;
    let kind = *buf
        .get(size)
        .ok_or_else(|| corrupt("missing block trailer"))?;
    let stored = le_u32(&buf, size + 1).ok_or_else(|| corrupt("missing block trailer"))?;
    let contents = buf.get(..size).unwrap_or_default();
    if block_crc(contents, kind) != stored {
        return Err(corrupt("block checksum mismatch"));
    }
    match kind {
        COMPRESSION_NONE => {
            buf.truncate(size);
            Ok(buf)
        }
        COMPRESSION_LZ4 | COMPRESSION_ZSTD => {
            let (raw_len, n) =
                get_varint(contents).ok_or_else(|| corrupt("bad uncompressed length"))?;
            let raw_len = usize::try_from(raw_len)
                .ok()
                .filter(|&l| l <= MAX_COMPRESSED_RAW_LEN)
                .ok_or_else(|| corrupt("uncompressed length too large"))?;
            let src = contents.get(n..).unwrap_or_default();
            if kind == COMPRESSION_LZ4 {
                let mut out = vec![0u8; raw_len];
                match lz4_flex::block::decompress_into(src, &mut out) {
                    Ok(got) if got == raw_len => Ok(out),
                    _ => Err(corrupt("lz4 decompression failed")),
                }
            } else {
                match zstd::bulk::decompress(src, raw_len) {
                    Ok(out) if out.len() == raw_len => Ok(out),
                    _ => Err(corrupt("zstd decompression failed")),
                }
            }
        }
        _ => Err(corrupt("unknown block compression type")),
    }
}

impl Block {
    /// Validates the restart array of uncompressed contents.
    pub fn from_raw(data: Vec<u8>, path: Arc<Path>, offset: u64) -> Result<Block> {
        let corrupt = |reason: &str| LsmError::corruption(path.as_ref(), offset, reason);
        let n_at = data
            .len()
            .checked_sub(4)
            .ok_or_else(|| corrupt("block too short for its restart count"))?;
        let num_restarts = le_u32(&data, n_at).unwrap_or(0) as usize;
        let restarts_offset = num_restarts
            .checked_mul(4)
            .and_then(|b| n_at.checked_sub(b))
            .filter(|_| num_restarts > 0)
            .ok_or_else(|| corrupt("bad restart count"))?;
        // Binary search relies on restarts being increasing and pointing at entries;
        // checking them once here keeps every later lookup simple.
        let mut prev = None;
        for i in 0..num_restarts {
            let r = le_u32(&data, restarts_offset + 4 * i).unwrap_or(u32::MAX) as usize;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p && r < restarts_offset,
            };
            if !ok {
                return Err(corrupt("bad restart point"));
            }
            prev = Some(r);
        }
        Ok(Block {
            data,
            restarts_offset,
            num_restarts,
            path,
            offset,
        })
    }

    /// Offset of this block in its file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The block's decoded bytes: entries, then the restart array.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// A cursor over the entries, not yet positioned.
    pub fn iter(self: Arc<Self>) -> BlockIter {
        let end = self.restarts_offset;
        BlockIter {
            current: end,
            next_off: end,
            restart_index: 0,
            key: smallvec::SmallVec::new(),
            value: (0, 0),
            err: None,
            block: self,
        }
    }

    fn restart_point(&self, i: usize) -> usize {
        le_u32(&self.data, self.restarts_offset + 4 * i)
            .map_or(self.restarts_offset, |r| r as usize)
    }
}

/// One decoded entry header: where the key delta and the value lie.
struct EntryHeader {
    shared: usize,
    key_start: usize,
    key_end: usize,
    value_end: usize,
}

/// A cursor over one block's entries. Keys compare with [`crate::key::compare`].
pub struct BlockIter {
    block: Arc<Block>,
    /// Offset of the current entry; `restarts_offset` when not positioned.
    current: usize,
    /// Offset of the entry after the current one.
    next_off: usize,
    /// The restart run that holds `current`.
    restart_index: usize,
    /// The current key, rebuilt from its shared prefix and delta. Inline up to 32
    /// bytes: a point lookup makes a cursor per block it searches, and a heap key would
    /// cost it an allocation and a free.
    key: smallvec::SmallVec<[u8; 32]>,
    value: (usize, usize),
    err: Option<LsmError>,
}

impl BlockIter {
    /// The block under the cursor.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The block under the cursor, shared.
    pub fn shared_block(&self) -> &Arc<Block> {
        &self.block
    }

    /// Where the current value lies in [`Block::data`].
    pub fn value_range(&self) -> (usize, usize) {
        self.value
    }

    fn header_at(&self, at: usize) -> Option<EntryHeader> {
        let limit = self.block.restarts_offset;
        let buf = self.block.data.get(at..limit)?;
        // The three lengths of a small entry are one byte each (as LevelDB's fast
        // path): one test instead of three varint decodes, on every entry a seek or a
        // scan parses.
        let (shared, non_shared, value_len, n) = match *buf {
            [a, b, c, ..] if (a | b | c) < 0x80 => {
                (usize::from(a), usize::from(b), usize::from(c), 3)
            }
            _ => {
                let (shared, a) = get_varint(buf)?;
                let (non_shared, b) = get_varint(buf.get(a..)?)?;
                let (value_len, c) = get_varint(buf.get(a + b..)?)?;
                (
                    usize::try_from(shared).ok()?,
                    usize::try_from(non_shared).ok()?,
                    usize::try_from(value_len).ok()?,
                    a + b + c,
                )
            }
        };
        let key_start = at + n;
        let key_end = key_start.checked_add(non_shared)?;
        let value_end = key_end.checked_add(value_len)?;
        if value_end > limit {
            return None;
        }
        Some(EntryHeader {
            shared,
            key_start,
            key_end,
            value_end,
        })
    }

    fn corrupt(&mut self, reason: &str) {
        if self.err.is_none() {
            self.err = Some(LsmError::corruption(
                self.block.path.as_ref(),
                self.block.offset,
                reason,
            ));
        }
        self.invalidate();
    }

    fn invalidate(&mut self) {
        self.current = self.block.restarts_offset;
        self.next_off = self.block.restarts_offset;
        self.key.clear();
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.restart_index = i;
        self.next_off = self.block.restart_point(i);
    }

    /// Decodes the entry at `next_off`; false at the end of the block or on damage.
    fn parse_next(&mut self) -> bool {
        self.current = self.next_off;
        if self.current >= self.block.restarts_offset {
            self.invalidate();
            return false;
        }
        let Some(h) = self.header_at(self.current) else {
            self.corrupt("bad block entry");
            return false;
        };
        let Some(delta) = self.block.data.get(h.key_start..h.key_end) else {
            self.corrupt("bad block entry");
            return false;
        };
        if h.shared > self.key.len() {
            self.corrupt("block entry shares more than the previous key");
            return false;
        }
        self.key.truncate(h.shared);
        self.key.extend_from_slice(delta);
        if !key::is_well_formed(&self.key) {
            self.corrupt("malformed internal key in block");
            return false;
        }
        self.value = (h.key_end, h.value_end);
        self.next_off = h.value_end;
        while self.restart_index + 1 < self.block.num_restarts
            && self.block.restart_point(self.restart_index + 1) <= self.current
        {
            self.restart_index += 1;
        }
        true
    }

    /// The full key stored at a restart point, borrowed from the block.
    fn restart_key(&self, i: usize) -> Option<&[u8]> {
        let h = self.header_at(self.block.restart_point(i))?;
        if h.shared != 0 {
            return None;
        }
        self.block.data.get(h.key_start..h.key_end)
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.current < self.block.restarts_offset
    }

    fn seek_to_first(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.seek_to_restart(0);
        self.parse_next();
    }

    fn seek_to_last(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.seek_to_restart(self.block.num_restarts - 1);
        while self.parse_next() && self.next_off < self.block.restarts_offset {}
    }

    fn seek(&mut self, target: &[u8]) {
        if self.err.is_some() {
            return;
        }
        // Find the last restart point whose key is < target; the answer lies in its run
        // (or is the first entry of the next run, reached by the linear scan).
        let (mut left, mut right) = (0, self.block.num_restarts - 1);
        while left < right {
            let mid = (left + right).div_ceil(2);
            match self.restart_key(mid) {
                Some(k) if key::compare(k, target) == Ordering::Less => left = mid,
                Some(_) => right = mid - 1,
                None => {
                    self.corrupt("bad entry at restart point");
                    return;
                }
            }
        }
        self.seek_to_restart(left);
        while self.parse_next() {
            if key::compare(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    fn next(&mut self) {
        self.parse_next();
    }

    fn prev(&mut self) {
        // Entries only decode forwards, so go back to the restart point before the
        // current entry and scan up to it.
        let original = self.current;
        while self.block.restart_point(self.restart_index) >= original {
            if self.restart_index == 0 {
                self.invalidate();
                return;
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index);
        while self.parse_next() && self.next_off < original {}
    }

    fn key(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.value.0..self.value.1)
            .unwrap_or_default()
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::block_builder::BlockBuilder;
    use super::*;
    use crate::key::ValueKind;

    fn path() -> Arc<Path> {
        Arc::from(Path::new("test.sst"))
    }

    fn build(n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut b = BlockBuilder::new();
        let mut keys = Vec::new();
        for i in 0..n {
            let k = key::encode(format!("key{:05}", i * 2).as_bytes(), 7, ValueKind::Put);
            b.add(&k, format!("v{i}").as_bytes());
            keys.push(k);
        }
        (keys, b.finish().to_vec())
    }

    #[test]
    fn cursor_walks_both_ways_and_seeks() {
        for n in [0, 1, 15, 16, 17, 100] {
            let (keys, raw) = build(n);
            let mut it = Arc::new(Block::from_raw(raw, path(), 0).unwrap()).iter();
            it.seek_to_first();
            for k in &keys {
                assert!(it.valid());
                assert_eq!(it.key(), &k[..]);
                it.next();
            }
            assert!(!it.valid());
            it.seek_to_last();
            for k in keys.iter().rev() {
                assert!(it.valid());
                assert_eq!(it.key(), &k[..]);
                it.prev();
            }
            assert!(!it.valid());
            for i in 0..n * 2 + 1 {
                let t = key::lookup_key(format!("key{:05}", i).as_bytes(), 9);
                it.seek(&t);
                let want = keys.get(i.div_ceil(2));
                assert_eq!(it.valid(), want.is_some());
                if let Some(w) = want {
                    assert_eq!(it.key(), &w[..]);
                }
            }
            assert!(it.status().is_ok());
        }
    }

    /// Entries whose three lengths are one-byte varints and entries where any of
    /// them (shared prefix, key delta, value) takes two bytes, side by side: both
    /// header decodings give back every key and value.
    #[test]
    fn entries_of_every_length_read_back() {
        let mut b = BlockBuilder::new();
        let mut want = Vec::new();
        for i in 0..300usize {
            // A third of the keys share a 150-byte prefix (sorted together, they
            // share more than 127 bytes); key deltas of 1 to 199 bytes, values of 0
            // to 299 bytes.
            let prefix = if i % 3 == 0 {
                "p".repeat(150)
            } else {
                String::new()
            };
            let delta = "d".repeat(1 + (i * 37) % 199);
            let user = format!("{prefix}{i:04}{delta}");
            let k = key::encode(user.as_bytes(), 7, ValueKind::Put);
            want.push((k, vec![(i % 251) as u8; (i * 61) % 300]));
        }
        want.sort();
        for (k, v) in &want {
            b.add(k, v);
        }
        let block = Arc::new(Block::from_raw(b.finish().to_vec(), path(), 0).unwrap());
        let mut it = block.clone().iter();
        it.seek_to_first();
        for (k, v) in &want {
            assert!(it.valid());
            assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
            it.next();
        }
        assert!(!it.valid() && it.status().is_ok());
        for (k, v) in &want {
            it.seek(k);
            assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let (_, raw) = build(40);
        let mut x: u64 = 88172645463325252;
        for round in 0..3000 {
            let mut r = raw.clone();
            for _ in 0..(round % 7 + 1) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % r.len();
                r[i] = (x >> 32) as u8;
            }
            r.truncate(r.len() - (round % 3));
            if let Ok(b) = Block::from_raw(r, path(), 0) {
                let mut it = Arc::new(b).iter();
                it.seek_to_first();
                let mut steps = 0;
                while it.valid() && steps < 1000 {
                    it.next();
                    steps += 1;
                }
                it.seek_to_last();
                while it.valid() && steps < 2000 {
                    it.prev();
                    steps += 1;
                }
                it.seek(&key::lookup_key(b"key00031", 9));
            }
        }
    }
}
