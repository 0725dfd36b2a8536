//! Writes a table file (format 2): data blocks as entries arrive, then the filter
//! partitions, the range-deletion block, the index partitions, the top index and the
//! footer (see `format`). An index partition is cut once it reaches
//! `TableOptions::metadata_block_size`; its filter partition covers the same data
//! blocks, so a lookup reads one filter partition and one index partition.

use super::block_builder::BlockBuilder;
use super::bloom;
use super::format::{
    block_crc, BlockHandle, Footer, COMPRESSION_LZ4, COMPRESSION_NONE, COMPRESSION_ZSTD,
    FORMAT_VERSION, MAX_COMPRESSED_RAW_LEN, METADATA_BLOCK_SIZE,
};
use crate::coding::put_varint;
use crate::config::Compression;
use crate::error::{LsmError, Result};
use crate::fs::WritableFile;
use crate::key::{self, SeqNo, ValueKind};
use crate::range_del::RangeTombstone;
use std::cmp::Ordering;
use std::path::PathBuf;

/// Appends are gathered up to this size, so a table is written in few large writes.
const WRITE_BUFFER: usize = 256 << 10;

/// Largest key or value accepted: block offsets are `u32`, and one entry must fit.
const MAX_ENTRY_PART: usize = 1 << 30;

/// zstd level used for data blocks.
const ZSTD_LEVEL: i32 = 3;

/// How tables are built.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Target uncompressed size of a data block; a block is cut once it reaches it.
    pub block_size: usize,
    /// Bloom filter bits per user key; 0 builds no filter.
    pub bloom_bits_per_key: u32,
    /// Compression of data blocks.
    pub compression: Compression,
    /// Target size of an index partition (and so of the filter partitions' share).
    pub metadata_block_size: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            metadata_block_size: METADATA_BLOCK_SIZE,
        }
    }
}

/// A finished index partition, kept until the data blocks are all written.
struct PendingPartition {
    /// The raw index block.
    index: Vec<u8>,
    /// The raw filter block (`None` without a filter).
    filter: Option<Vec<u8>>,
    /// Its last internal key (the top index's key for it).
    last_key: Vec<u8>,
    /// Offset of its first data block.
    data_start: u64,
}

/// What a finished table holds, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Bytes in the file.
    pub file_size: u64,
    /// Point entries.
    pub entries: u64,
    /// Range tombstones.
    pub range_tombstones: u64,
    /// Smallest internal key, over point entries and tombstone starts (empty when the
    /// table holds nothing).
    pub smallest: Vec<u8>,
    /// Largest internal key, over point entries and tombstone ends.
    pub largest: Vec<u8>,
    /// Smallest sequence number of any entry or tombstone (0 when empty).
    pub min_seq: SeqNo,
    /// Largest sequence number of any entry or tombstone (0 when empty).
    pub max_seq: SeqNo,
    /// MD5 of the whole file.
    pub md5: [u8; 16],
}

impl TableInfo {
    /// The manifest's record of this table, as file `number`.
    pub fn into_meta(self, number: u64) -> crate::manifest::FileMeta {
        crate::manifest::FileMeta {
            number,
            size: self.file_size,
            entries: self.entries,
            smallest: self.smallest,
            largest: self.largest,
            min_seq: self.min_seq,
            max_seq: self.max_seq,
            md5: self.md5,
        }
    }
}

/// Writes one table file from entries in internal-key order.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    opts: TableOptions,
    out: Vec<u8>,
    /// Bytes emitted so far, written or still in `out`.
    offset: u64,
    md5: md5::Context,
    data: BlockBuilder,
    /// The index partition being filled.
    index: BlockBuilder,
    /// Finished partitions, written after the data.
    partitions: Vec<PendingPartition>,
    /// Bytes of raw metadata in `partitions`.
    partition_bytes: usize,
    /// Offset of the first data block of the partition being filled.
    partition_start: u64,
    /// The next entry starts a partition: its user key goes into the new filter
    /// partition even when the previous partition ended with the same user key.
    partition_fresh: bool,
    handle_buf: Vec<u8>,
    /// The last data block written, whose index entry waits for the next block's
    /// first key (its separator needs it), and that block's last key.
    pending: Option<BlockHandle>,
    pending_last: Vec<u8>,
    compressed: Vec<u8>,
    /// Hashes of the user keys of the partition being filled.
    filter_hashes: Vec<u64>,
    tombstones: Vec<RangeTombstone>,
    entries: u64,
    first_key: Vec<u8>,
    last_key: Vec<u8>,
    min_seq: SeqNo,
    max_seq: SeqNo,
    /// Set after an I/O failure: the file is then in an unknown state.
    failed: bool,
}

impl TableBuilder {
    /// Starts a table in `file` (empty, just created); `path` names it in errors.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, opts: TableOptions) -> TableBuilder {
        TableBuilder {
            file,
            path,
            opts,
            out: Vec::with_capacity(WRITE_BUFFER + (64 << 10)),
            offset: 0,
            md5: md5::Context::new(),
            data: BlockBuilder::new(),
            index: BlockBuilder::new(),
            partitions: Vec::new(),
            partition_bytes: 0,
            partition_start: 0,
            partition_fresh: true,
            handle_buf: Vec::with_capacity(BlockHandle::MAX_ENCODED_LEN),
            pending: None,
            pending_last: Vec::new(),
            compressed: Vec::new(),
            filter_hashes: Vec::new(),
            tombstones: Vec::new(),
            entries: 0,
            first_key: Vec::new(),
            last_key: Vec::new(),
            min_seq: SeqNo::MAX,
            max_seq: 0,
            failed: false,
        }
    }

    /// Adds a point entry.
    ///
    /// REQUIRES: `ikey` is a well-formed internal key greater than every key added
    /// before (by [`crate::key::compare`]).
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        debug_assert!(key::is_well_formed(ikey), "malformed internal key");
        debug_assert!(
            self.entries == 0 || key::compare(&self.last_key, ikey) == Ordering::Less,
            "keys must be added in strictly increasing order"
        );
        self.check_usable()?;
        if ikey.len() > MAX_ENTRY_PART || value.len() > MAX_ENTRY_PART {
            return Err(LsmError::InvalidArgument(format!(
                "table entry too large: key {} bytes, value {} bytes",
                ikey.len(),
                value.len()
            )));
        }
        if self.pending.is_some() {
            // Before the filter hash below: a partition cut here puts `ikey` in the
            // next partition's filter.
            self.index_pending(Some(ikey));
        }
        let user_key = key::user_key(ikey);
        // Versions of one key are adjacent; a filter partition needs the user key
        // only once. A key whose versions straddle two partitions goes into both: a
        // lookup may start in the first and continue into the second.
        if self.partition_fresh || key::user_key(&self.last_key) != user_key {
            self.filter_hashes.push(key::hash(user_key));
            self.partition_fresh = false;
        }
        if self.entries == 0 {
            self.first_key.clear();
            self.first_key.extend_from_slice(ikey);
        }
        let seq = key::seq(ikey);
        self.min_seq = self.min_seq.min(seq);
        self.max_seq = self.max_seq.max(seq);
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        self.entries += 1;
        self.data.add(ikey, value);
        if self.data.size_estimate() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Adds a range tombstone; tombstones may arrive in any order.
    pub fn add_range_tombstone(&mut self, t: &RangeTombstone) {
        self.min_seq = self.min_seq.min(t.seq);
        self.max_seq = self.max_seq.max(t.seq);
        self.tombstones.push(t.clone());
    }

    /// Bytes the file would have if finished now (roughly).
    pub fn estimated_size(&self) -> u64 {
        self.offset
            + self.data.size_estimate() as u64
            + self.index.size_estimate() as u64
            + self.partition_bytes as u64
    }

    /// Writes the remaining blocks and the footer, and syncs the file.
    pub fn finish(mut self) -> Result<TableInfo> {
        self.check_usable()?;
        if !self.data.is_empty() {
            self.flush_data_block()?;
        }
        self.index_pending(None);

        if !self.index.is_empty() {
            self.cut_partition();
        }
        let partitions = std::mem::take(&mut self.partitions);

        let mut filters = Vec::with_capacity(partitions.len());
        for p in &partitions {
            filters.push(match &p.filter {
                Some(f) => Some(self.write_block(f, COMPRESSION_NONE)?),
                None => None,
            });
        }
        let filter_area = match (filters.first(), filters.last()) {
            (Some(Some(first)), Some(Some(_))) => Some(BlockHandle {
                offset: first.offset,
                size: self.offset - first.offset,
            }),
            _ => None,
        };

        let mut tombstones = std::mem::take(&mut self.tombstones);
        tombstones.sort_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)));
        let mut rd = BlockBuilder::new();
        let mut rd_key = Vec::new();
        for t in &tombstones {
            rd_key.clear();
            key::encode_into(&mut rd_key, &t.start, t.seq, ValueKind::RangeDelete);
            rd.add(&rd_key, &t.end);
        }
        let range_del = self.write_block_raw_builder(&mut rd)?;

        let mut top = BlockBuilder::new();
        let mut value = Vec::new();
        for (p, filter) in partitions.iter().zip(&filters) {
            let index = self.write_block(&p.index, COMPRESSION_NONE)?;
            value.clear();
            index.encode_to(&mut value);
            filter.unwrap_or_default().encode_to(&mut value);
            put_varint(&mut value, p.data_start);
            top.add(&p.last_key, &value);
        }
        let top_handle = self.write_block_raw_builder(&mut top)?;

        let footer = Footer {
            index: top_handle,
            filter: filter_area,
            range_del,
            entries: self.entries,
            version: FORMAT_VERSION,
        }
        .encode();
        self.emit(&footer);
        self.flush_out()?;
        let path = self.path.clone();
        self.file
            .sync()
            .map_err(|e| LsmError::io_at("sync", &path, e))?;

        let (mut smallest, mut largest) = if self.entries > 0 {
            (self.first_key.clone(), self.last_key.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        for t in &tombstones {
            let lo = key::encode(&t.start, t.seq, ValueKind::RangeDelete);
            let hi = key::encode(&t.end, key::MAX_SEQ, ValueKind::RangeDelete);
            if smallest.is_empty() || key::compare(&lo, &smallest) == Ordering::Less {
                smallest = lo;
            }
            if largest.is_empty() || key::compare(&hi, &largest) == Ordering::Greater {
                largest = hi;
            }
        }
        let empty = self.entries == 0 && tombstones.is_empty();
        Ok(TableInfo {
            file_size: self.offset,
            entries: self.entries,
            range_tombstones: tombstones.len() as u64,
            smallest,
            largest,
            min_seq: if empty { 0 } else { self.min_seq },
            max_seq: self.max_seq,
            md5: self.md5.finalize().0,
        })
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(LsmError::io_at(
                "write",
                &self.path,
                std::io::Error::other("an earlier write to this table failed"),
            ));
        }
        Ok(())
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let mut data = std::mem::take(&mut self.data);
        let raw = data.finish();
        let kind = match self.opts.compression {
            _ if raw.len() > MAX_COMPRESSED_RAW_LEN => COMPRESSION_NONE,
            Compression::None => COMPRESSION_NONE,
            Compression::Lz4 => {
                // Into the builder's own buffer: no allocation per block.
                self.compressed.clear();
                put_varint(&mut self.compressed, raw.len() as u64);
                let at = self.compressed.len();
                self.compressed
                    .resize(at + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                let out = self.compressed.get_mut(at..).unwrap_or_default();
                match lz4_flex::block::compress_into(raw, out) {
                    Ok(n) => {
                        self.compressed.truncate(at + n);
                        COMPRESSION_LZ4
                    }
                    Err(_) => COMPRESSION_NONE,
                }
            }
            Compression::Zstd => match zstd::bulk::compress(raw, ZSTD_LEVEL) {
                Ok(z) => {
                    self.compressed.clear();
                    put_varint(&mut self.compressed, raw.len() as u64);
                    self.compressed.extend_from_slice(&z);
                    COMPRESSION_ZSTD
                }
                // Compression is an optimisation; a block it cannot handle is stored as is.
                Err(_) => COMPRESSION_NONE,
            },
        };
        // Decompression costs CPU on every read; it must buy at least 1/8 of the space.
        let worth_it =
            kind != COMPRESSION_NONE && self.compressed.len() <= raw.len() - raw.len() / 8;
        let result = if worth_it {
            let compressed = std::mem::take(&mut self.compressed);
            let r = self.write_block(&compressed, kind);
            self.compressed = compressed;
            r
        } else {
            self.write_block(raw, COMPRESSION_NONE)
        };
        let handle = match result {
            Ok(h) => h,
            Err(e) => {
                self.data = data;
                return Err(e);
            }
        };
        self.pending = Some(handle);
        self.pending_last.clear();
        self.pending_last.extend_from_slice(data.last_key());
        data.reset();
        self.data = data;
        Ok(())
    }

    /// Writes the index entry of the pending block, keyed by the shortest separator
    /// between its last key and `next`, the next block's first key (by its last key
    /// when there is no next block): a shorter index is more of it in the block
    /// cache. Cuts the partition when it is full.
    fn index_pending(&mut self, next: Option<&[u8]>) {
        let Some(handle) = self.pending.take() else {
            return;
        };
        self.handle_buf.clear();
        handle.encode_to(&mut self.handle_buf);
        match next.and_then(|n| separator(&self.pending_last, n)) {
            Some(sep) => self.index.add(&sep, &self.handle_buf),
            None => self.index.add(&self.pending_last, &self.handle_buf),
        }
        if self.index.size_estimate() >= self.opts.metadata_block_size {
            self.cut_partition();
        }
    }

    /// Closes the index partition being filled, with the filter of its user keys;
    /// the next data block starts a new one.
    fn cut_partition(&mut self) {
        let filter = (self.opts.bloom_bits_per_key > 0)
            .then(|| bloom::build(&self.filter_hashes, self.opts.bloom_bits_per_key));
        self.filter_hashes.clear();
        let index = self.index.finish().to_vec();
        let last_key = self.index.last_key().to_vec();
        self.index.reset();
        self.partition_bytes += index.len() + filter.as_ref().map_or(0, Vec::len);
        self.partitions.push(PendingPartition {
            index,
            filter,
            last_key,
            data_start: self.partition_start,
        });
        self.partition_start = self.offset;
        self.partition_fresh = true;
    }

    fn write_block_raw_builder(&mut self, b: &mut BlockBuilder) -> Result<BlockHandle> {
        let raw = b.finish();
        self.write_block(raw, COMPRESSION_NONE)
    }

    /// Emits `contents` and its trailer; the handle of the block.
    fn write_block(&mut self, contents: &[u8], kind: u8) -> Result<BlockHandle> {
        let handle = BlockHandle {
            offset: self.offset,
            size: contents.len() as u64,
        };
        let crc = block_crc(contents, kind);
        self.emit(contents);
        self.emit(&[kind]);
        self.emit(&crc.to_le_bytes());
        if self.out.len() >= WRITE_BUFFER {
            self.flush_out()?;
        }
        Ok(handle)
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
    }

    fn flush_out(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.md5.consume(&self.out);
        if let Err(e) = self.file.append(&self.out) {
            self.failed = true;
            return Err(LsmError::io_at("append", &self.path, e));
        }
        self.out.clear();
        Ok(())
    }
}

/// The shortest internal key `s` with `last < s < next` whose user key is no longer
/// than `last`'s, with the separator trailer (any trailer would do: the user key alone
/// lies strictly between, and no entry has it). `None` when there is none: equal user
/// keys, `last`'s user key a prefix of `next`'s, or only 0xff bytes to raise.
///
/// With `L` and `N` the user keys and `c` their common prefix, `L[c] < N[c]`:
/// - when `L[c] + 1 < N[c]`, `L[..c] ++ [L[c] + 1]` lies strictly between;
/// - otherwise `L[..i] ++ [L[i] + 1]` for the first `i > c` with `L[i] < 0xff` is
///   above `L` and, agreeing with `L` up to `c`, below `N`.
fn separator(last: &[u8], next: &[u8]) -> Option<Vec<u8>> {
    let (l, n) = (key::user_key(last), key::user_key(next));
    let c = super::index::common_len(l, n);
    let (&lc, &nc) = (l.get(c)?, n.get(c)?);
    if lc >= nc {
        return None; // not `last < next` by user key: cannot be the builder's input.
    }
    let at = if lc < 0xff && lc + 1 < nc {
        c
    } else {
        (c + 1..l.len()).find(|&i| l.get(i).is_some_and(|&b| b < 0xff))?
    };
    let mut user = l.get(..=at)?.to_vec();
    if let Some(b) = user.last_mut() {
        *b += 1;
    }
    Some(key::encode(&user, key::MAX_SEQ, ValueKind::Put))
}

#[cfg(test)]
mod separator_tests {
    use super::*;

    /// Against its definition, on keys from a small alphabet (so common prefixes,
    /// 0xff bytes and prefix relations all occur): strictly between the two keys,
    /// never longer than the first's user key.
    #[test]
    fn separators_lie_strictly_between() {
        let mut rng = crate::workload::Rng::new(11);
        let mut shortened = 0;
        for _ in 0..20_000 {
            let mut gen = || -> Vec<u8> {
                let len = rng.below(6) as usize;
                (0..len)
                    .map(|_| [0u8, 1, 2, 0xfe, 0xff][rng.below(5) as usize])
                    .collect()
            };
            let (mut a, mut b) = (gen(), gen());
            if a == b {
                continue;
            }
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            let (last, next) = (
                key::encode(&a, 7, ValueKind::Put),
                key::encode(&b, 3, ValueKind::Put),
            );
            if let Some(s) = separator(&last, &next) {
                shortened += 1;
                assert_eq!(
                    key::compare(&last, &s),
                    Ordering::Less,
                    "{a:?} {b:?} -> {s:?}"
                );
                assert_eq!(
                    key::compare(&s, &next),
                    Ordering::Less,
                    "{a:?} {b:?} -> {s:?}"
                );
                assert!(key::user_key(&s).len() <= a.len());
                assert_eq!(key::trailer(&s), super::super::index::SEPARATOR_TRAILER);
            } else {
                // Only when no shorter-or-equal user key fits above `a`: `a` is a prefix
                // of `b`, or `a` from its first difference on is all 0xff and `b` is
                // just one above there.
                let c = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
                assert!(c == a.len() || a[c + 1..].iter().all(|&x| x == 0xff) && a[c] + 1 == b[c]);
            }
        }
        assert!(shortened > 1000);
        // The 16-digit keys of the benchmarks lose their last digits and their trailer.
        let s = separator(
            &key::encode(b"0000000012345678", 9, ValueKind::Put),
            &key::encode(b"0000000012345690", 4, ValueKind::Put),
        )
        .unwrap();
        assert_eq!(key::user_key(&s), b"000000001234568");
    }
}
