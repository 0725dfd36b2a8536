//! Opens a table file and answers point lookups; `iter` walks it in order.

use super::block::{read_block, read_contents, Block};
use super::bloom::BloomFilter;
use super::format::{BlockHandle, Footer, FOOTER_SIZE, FORMAT_VERSION_V1};
use super::index::{Areas, Index, Partition, TopIndex};
use crate::cache::BlockCache;
use crate::error::{LsmError, Result};
use crate::fs::{FileSystem, RandomAccessFile};
use crate::iter::InternalIterator;
use crate::key::{self, SeqNo, ValueKind};
use crate::pinned::PinnedValue;
use crate::range_del::RangeTombstone;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

/// Bytes read at a time while hashing the whole file in [`SSTable::verify`].
const VERIFY_CHUNK: usize = 1 << 20;

/// What [`SSTable::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVerify {
    /// MD5 of the whole file.
    pub md5: [u8; 16],
    /// Point entries decoded.
    pub entries: u64,
    /// Bytes in the file.
    pub bytes: u64,
}

/// Where a table keeps its decoded index and filter partitions.
enum Meta {
    /// In the table itself, for as long as it is open: without a block cache, and for
    /// the tables the opener asked to pin (level 0, which every get probes). One
    /// entry per partition.
    Pinned {
        index: Vec<Arc<Index>>,
        filter: Vec<Option<Arc<BloomFilter>>>,
    },
    /// In the block cache, charged to its budget, looked up on each use (and read
    /// again after an eviction).
    InCache(Arc<BlockCache>),
}

/// A decoded index or filter: borrowed from the table when pinned, shared with the
/// block cache otherwise.
pub(crate) enum Held<'a, T> {
    Pinned(&'a Arc<T>),
    Cached(Arc<T>),
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match self {
            Held::Pinned(t) => t,
            Held::Cached(t) => t,
        }
    }
}

impl<T> Held<'_, T> {
    /// An owned handle, for a cursor that keeps it across calls.
    pub(crate) fn into_arc(self) -> Arc<T> {
        match self {
            Held::Pinned(t) => t.clone(),
            Held::Cached(t) => t,
        }
    }
}

/// An open, checked table file. Shared between readers through `Arc`.
pub struct SSTable {
    file: Arc<dyn RandomAccessFile>,
    path: Arc<Path>,
    file_number: u64,
    file_size: u64,
    footer: Footer,
    /// The partitions, always held while the table is open (a few KiB).
    top: TopIndex,
    meta: Meta,
    tombstones: Vec<RangeTombstone>,
    /// Data blocks, when there is a block cache.
    cache: Option<Arc<BlockCache>>,
}

impl std::fmt::Debug for SSTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SSTable")
            .field("path", &self.path)
            .field("file_number", &self.file_number)
            .field("file_size", &self.file_size)
            .field("entries", &self.footer.entries)
            .finish()
    }
}

impl SSTable {
    /// Opens `path`, checking the footer and loading the index, the filter and the
    /// range tombstones. Any damage to them is a `Corruption` error. The index and
    /// filter stay pinned in the table.
    pub fn open(fs: &dyn FileSystem, path: &Path, file_number: u64) -> Result<Arc<SSTable>> {
        SSTable::open_cached(fs, path, file_number, None, true)
    }

    /// Like [`SSTable::open`], with blocks kept in `cache` once read: data blocks
    /// always, the decoded index and filter too unless `pin` (or there is no cache),
    /// in which case the table holds them while it is open (and decodes, so checks,
    /// them now). Cached ones are decoded at first use (see [`SSTable::load_meta`]);
    /// damage to them is then a `Corruption` error from that read.
    pub fn open_cached(
        fs: &dyn FileSystem,
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
        pin: bool,
    ) -> Result<Arc<SSTable>> {
        let file = fs
            .open(path)
            .map_err(|e| LsmError::io_at("open", path, e))?;
        let path: Arc<Path> = Arc::from(path);
        let file_size = file.len();
        let corrupt =
            |offset: u64, reason: &str| LsmError::corruption(path.as_ref(), offset, reason);
        let footer_at = file_size
            .checked_sub(FOOTER_SIZE as u64)
            .ok_or_else(|| corrupt(0, "file too short to be a table"))?;
        let mut buf = [0u8; FOOTER_SIZE];
        file.read_exact_at(footer_at, &mut buf)
            .map_err(|e| LsmError::io_at("read footer of", &path, e))?;
        let footer = Footer::decode(&buf).map_err(|r| corrupt(footer_at, r))?;

        // The writer lays blocks out back to back (see `format`). Demanding exactly
        // that layout means every byte of the file is under some checksum, so no
        // damage can go unnoticed.
        let top = if footer.version == FORMAT_VERSION_V1 {
            let mut meta = Vec::with_capacity(3);
            meta.extend(footer.filter);
            meta.push(footer.range_del);
            meta.push(footer.index);
            let mut end = footer_at;
            for h in meta.iter().rev() {
                if h.end_with_trailer() != Some(end) {
                    return Err(corrupt(footer_at, "bad metadata block handle in footer"));
                }
                end = h.offset;
            }
            TopIndex::whole(footer.index, footer.filter, end)
        } else {
            let bad = || corrupt(footer_at, "bad metadata block handle in footer");
            if footer.index.end_with_trailer() != Some(footer_at) {
                return Err(bad());
            }
            let index_start = footer
                .range_del
                .end_with_trailer()
                .filter(|&e| e <= footer.index.offset)
                .ok_or_else(bad)?;
            let data_end = match footer.filter {
                Some(area) => {
                    if area.offset.checked_add(area.size) != Some(footer.range_del.offset) {
                        return Err(bad());
                    }
                    area.offset
                }
                None => footer.range_del.offset,
            };
            let areas = Areas {
                data_end,
                filter_end: footer.range_del.offset,
                index_start,
                index_end: footer.index.offset,
            };
            let block = read_block(&*file, &path, footer.index)?;
            TopIndex::decode(block, &path, footer.index, &areas)?
        };
        let tombstones = Self::load_tombstones(&*file, &path, footer.range_del)?;
        let meta = match (&cache, pin) {
            (Some(c), false) => Meta::InCache(c.clone()),
            _ => {
                let mut index = Vec::with_capacity(top.len());
                let mut filter = Vec::with_capacity(top.len());
                for (p, part) in top.parts().iter().enumerate() {
                    index.push(Arc::new(load_index(&*file, &path, &top, p, part)?));
                    filter.push(match part.filter {
                        Some(h) => Some(Arc::new(load_filter(&*file, &path, h)?)),
                        None => None,
                    });
                }
                Meta::Pinned { index, filter }
            }
        };
        let table = SSTable {
            file,
            path,
            file_number,
            file_size,
            footer,
            top,
            meta,
            tombstones,
            cache,
        };
        Ok(Arc::new(table))
    }

    /// Decodes (so checks) every index and filter partition now, when they live in
    /// the block cache, without putting them there: a table just written is checked
    /// whole, but the reads to come decide what the cache holds. A pinned table did
    /// so at open.
    pub(crate) fn load_meta(&self) -> Result<()> {
        if let Meta::InCache(_) = self.meta {
            for (p, part) in self.top.parts().iter().enumerate() {
                load_index(&*self.file, &self.path, &self.top, p, part)?;
                if let Some(h) = part.filter {
                    load_filter(&*self.file, &self.path, h)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes of decoded index and filter partitions the table holds itself (pinned;
    /// 0 when they live in the block cache).
    pub(crate) fn pinned_bytes(&self) -> u64 {
        match &self.meta {
            Meta::Pinned { index, filter } => {
                let i: usize = index.iter().map(|x| x.charge()).sum();
                let f: usize = filter.iter().flatten().map(|x| x.charge()).sum();
                (i + f) as u64
            }
            Meta::InCache(_) => 0,
        }
    }

    /// The partitions of the table.
    #[inline]
    pub(crate) fn top(&self) -> &TopIndex {
        &self.top
    }

    /// Index partition `p`: pinned, or from the block cache (read on a miss).
    #[inline]
    pub(crate) fn index(&self, p: usize) -> Result<Held<'_, Index>> {
        match &self.meta {
            Meta::Pinned { index, .. } => index
                .get(p)
                .map(Held::Pinned)
                .ok_or_else(|| self.out_of_range()),
            Meta::InCache(cache) => {
                let part = self.partition(p)?;
                cache
                    .index(self.file_number, part.index.offset, || {
                        load_index(&*self.file, &self.path, &self.top, p, &part)
                    })
                    .map(Held::Cached)
            }
        }
    }

    /// Filter partition `p` (`None` when the table has no filter).
    #[inline]
    fn filter(&self, p: usize) -> Result<Option<Held<'_, BloomFilter>>> {
        match &self.meta {
            Meta::Pinned { filter, .. } => filter
                .get(p)
                .map(|f| f.as_ref().map(Held::Pinned))
                .ok_or_else(|| self.out_of_range()),
            Meta::InCache(cache) => match self.partition(p)?.filter {
                None => Ok(None),
                Some(h) => cache
                    .filter(self.file_number, h.offset, || {
                        load_filter(&*self.file, &self.path, h)
                    })
                    .map(|f| Some(Held::Cached(f))),
            },
        }
    }

    /// The filter partition a point lookup in partition `p` should consult, or `None`
    /// to go straight to the index. When the filter is not cached but the index
    /// partition is, reading the filter costs a read from the file, and so does the
    /// data block it would spare: a lookup of a present key (which needs that block
    /// anyway) saves the read, a lookup of an absent one breaks even. So the filter
    /// is read only when the index must be read too, which it may spare. At 100M keys
    /// the filters and indexes are several times the block cache, and this keeps the
    /// cache for the index partitions that every lookup of a present key needs.
    #[inline]
    fn lookup_filter(&self, p: usize) -> Result<Option<Held<'_, BloomFilter>>> {
        if let Meta::InCache(cache) = &self.meta {
            let part = self.partition(p)?;
            let Some(h) = part.filter else {
                return Ok(None);
            };
            if let Some(f) = cache.cached_filter(self.file_number, h.offset) {
                return Ok(Some(Held::Cached(f)));
            }
            if cache.holds(self.file_number, part.index.offset) {
                return Ok(None);
            }
        }
        self.filter(p)
    }

    fn partition(&self, p: usize) -> Result<Partition> {
        self.top.part(p).ok_or_else(|| self.out_of_range())
    }

    fn out_of_range(&self) -> LsmError {
        LsmError::corruption(self.path.as_ref(), 0, "index partition out of range")
    }

    fn load_tombstones(
        file: &dyn RandomAccessFile,
        path: &Arc<Path>,
        handle: BlockHandle,
    ) -> Result<Vec<RangeTombstone>> {
        let mut it = Arc::new(read_block(file, path, handle)?).iter();
        let mut out = Vec::new();
        it.seek_to_first();
        while it.valid() {
            if key::kind(it.key()) != Some(ValueKind::RangeDelete) {
                return Err(LsmError::corruption(
                    path.as_ref(),
                    handle.offset,
                    "range-deletion block holds a point entry",
                ));
            }
            out.push(RangeTombstone {
                start: key::user_key(it.key()).to_vec(),
                end: it.value().to_vec(),
                seq: key::seq(it.key()),
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The newest point entry of `user_key` with `seq <= snapshot`, as
    /// `(seq, kind, value)`. `hash` is [`crate::key::hash`] of `user_key`.
    /// Range tombstones are not applied here; see [`SSTable::range_tombstones`].
    pub fn get(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
        hash: u64,
    ) -> Result<Option<(SeqNo, ValueKind, Vec<u8>)>> {
        Ok(self
            .get_pinned(user_key, snapshot, hash)?
            .map(|(seq, kind, v)| (seq, kind, v.into_vec())))
    }

    /// [`SSTable::get`] without copying the value: it is borrowed from its decoded
    /// block, which the returned value keeps alive.
    pub fn get_pinned(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
        hash: u64,
    ) -> Result<Option<(SeqNo, ValueKind, PinnedValue)>> {
        self.get_pinned_at(user_key, &key::lookup_key(user_key, snapshot), hash)
    }

    /// [`SSTable::get_pinned`] with the lookup key built by the caller
    /// (`target` is [`key::lookup_key`] of `user_key` at the snapshot): a get that
    /// probes several tables builds it once.
    pub fn get_pinned_at(
        &self,
        user_key: &[u8],
        target: &[u8],
        hash: u64,
    ) -> Result<Option<(SeqNo, ValueKind, PinnedValue)>> {
        let mut p = self.top.find(target);
        if p >= self.top.len() {
            return Ok(None);
        }
        // The filter of the first partition that may hold the key decides: a key whose
        // versions go on into the next partition is in this one's filter too.
        if let Some(f) = self.lookup_filter(p)? {
            if !f.may_contain(hash) {
                return Ok(None);
            }
        }
        // The first block whose last key is >= target holds the first entry >= target,
        // even when the key's versions straddle a block boundary. Moving on to the next
        // block (or partition) only matters if a block disagrees with its index key.
        while p < self.top.len() {
            let index = self.index(p)?;
            let mut i = index.find(target);
            while i < index.len() {
                let mut it = self.read_data_block(&index, i)?.iter();
                it.seek(target);
                if it.valid() {
                    let k = it.key();
                    if key::user_key(k) != user_key {
                        return Ok(None);
                    }
                    let kind = key::kind(k).ok_or_else(|| {
                        LsmError::corruption(self.path.as_ref(), it.block().offset(), "bad kind")
                    })?;
                    let (start, end) = it.value_range();
                    let bad = || {
                        LsmError::corruption(self.path.as_ref(), it.block().offset(), "bad value")
                    };
                    let v = PinnedValue::block(Arc::clone(it.shared_block()), start, end)
                        .ok_or_else(bad)?;
                    return Ok(Some((key::seq(k), kind, v)));
                }
                it.status()?;
                i += 1;
            }
            p += 1;
        }
        Ok(None)
    }

    /// False when a seek to the internal key `target` surely lands on no entry of its
    /// user key (`hash` is that key's [`crate::key::hash`]): no entry is at or after
    /// `target`, or the filter of the partition the seek starts in rules the key out.
    /// True when unsure, also when the filter cannot be read (the seek then fails).
    pub fn may_hold(&self, target: &[u8], hash: u64) -> bool {
        let p = self.top.find(target);
        if p >= self.top.len() {
            return false;
        }
        // As in `get_pinned`: the first partition that may hold the key has it in its
        // filter, even when the key's versions go on into the next one.
        match self.filter(p) {
            Ok(Some(f)) => f.may_contain(hash),
            _ => true,
        }
    }

    /// The range tombstones of the table, sorted by start key, then newest first.
    pub fn range_tombstones(&self) -> &[RangeTombstone] {
        &self.tombstones
    }

    /// The file number given at open.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// The file's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Point entries, as recorded in the footer.
    pub fn entries(&self) -> u64 {
        self.footer.entries
    }

    /// The table format version of the file (1 or 2).
    pub fn format_version(&self) -> u32 {
        self.footer.version
    }

    /// Index partitions (1 for a format 1 table with entries).
    pub fn partitions(&self) -> usize {
        self.top.len()
    }

    /// Reads the whole file: hashes every byte, checks every block's checksum, decodes
    /// every entry and checks that keys strictly increase and agree with the index.
    pub fn verify(&self) -> Result<TableVerify> {
        let mut md5 = md5::Context::new();
        let mut buf = vec![0u8; VERIFY_CHUNK.min(self.file_size as usize)];
        let mut at = 0u64;
        while at < self.file_size {
            let n = VERIFY_CHUNK.min((self.file_size - at) as usize);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.file
                .read_exact_at(at, chunk)
                .map_err(|e| LsmError::io_at("read", &self.path, e))?;
            md5.consume(&*chunk);
            at += n as u64;
        }

        read_contents(&*self.file, &self.path, self.footer.range_del)?;
        if self.footer.version != FORMAT_VERSION_V1 {
            read_contents(&*self.file, &self.path, self.footer.index)?;
        }
        for part in self.top.parts() {
            for h in part.filter.iter().chain([&part.index]) {
                read_contents(&*self.file, &self.path, *h)?;
            }
        }

        let mut entries = 0u64;
        let mut prev: Vec<u8> = Vec::new();
        for p in 0..self.top.len() {
            let index = self.index(p)?;
            self.verify_partition(&index, &mut entries, &mut prev)?;
        }
        if entries != self.footer.entries {
            return Err(LsmError::corruption(
                self.path.as_ref(),
                self.file_size - FOOTER_SIZE as u64,
                format!(
                    "footer counts {} entries, blocks hold {entries}",
                    self.footer.entries
                ),
            ));
        }
        Ok(TableVerify {
            md5: md5.finalize().0,
            entries,
            bytes: self.file_size,
        })
    }

    /// Checks every entry of the data blocks of `index` against its index keys and
    /// the entries before it (`prev` is the last one, `entries` how many came).
    fn verify_partition(&self, index: &Index, entries: &mut u64, prev: &mut Vec<u8>) -> Result<()> {
        for i in 0..index.len() {
            let block = self.read_data_block(index, i)?;
            let offset = block.offset();
            let corrupt = |reason: &str| LsmError::corruption(self.path.as_ref(), offset, reason);
            let mut it = block.iter();
            it.seek_to_first();
            if !it.valid() {
                it.status()?;
                return Err(corrupt("empty data block"));
            }
            // An index key separates its block from the next: at or after every key
            // of its own, before every key of the next (a seek relies on both).
            let sep = index.key(i);
            if i > 0 && key::compare(&index.key(i - 1), it.key()) != Ordering::Less {
                return Err(corrupt("key before the previous block's index key"));
            }
            while it.valid() {
                if *entries > 0 && key::compare(prev, it.key()) != Ordering::Less {
                    return Err(corrupt("keys out of order"));
                }
                if key::compare(it.key(), &sep) == Ordering::Greater {
                    return Err(corrupt("key beyond its block's index key"));
                }
                prev.clear();
                prev.extend_from_slice(it.key());
                *entries += 1;
                it.next();
            }
            it.status()?;
        }
        Ok(())
    }

    /// Data block `i` of `index` (this table's index), through the block cache.
    pub(super) fn read_data_block(&self, index: &Index, i: usize) -> Result<Arc<Block>> {
        let h = index.handle(i).ok_or_else(|| {
            LsmError::corruption(self.path.as_ref(), 0, "data block index out of range")
        })?;
        match &self.cache {
            Some(cache) => cache.get_or_read(self.file_number, h.offset, || {
                read_block(&*self.file, &self.path, h)
            }),
            None => Ok(Arc::new(read_block(&*self.file, &self.path, h)?)),
        }
    }
}

/// Reads and decodes index partition `p` (`part`) of `top`.
fn load_index(
    file: &dyn RandomAccessFile,
    path: &Arc<Path>,
    top: &TopIndex,
    p: usize,
    part: &Partition,
) -> Result<Index> {
    Index::decode(
        read_block(file, path, part.index)?,
        path,
        part.index,
        part.data_start..part.data_end,
        top.last_key(p).as_deref(),
    )
}

/// Reads and decodes the filter block at `handle`.
fn load_filter(
    file: &dyn RandomAccessFile,
    path: &Arc<Path>,
    handle: BlockHandle,
) -> Result<BloomFilter> {
    let raw = read_contents(file, path, handle)?;
    BloomFilter::decode(raw).map_err(|r| LsmError::corruption(path.as_ref(), handle.offset, r))
}
