//! `Version`: the live SSTables of each level at one moment, and the pure state
//! (`LevelState`) that version edits are applied to.

use super::version_edit::{FileMeta, VersionEdit};
use crate::cache::TableCache;
use crate::error::Result;
use crate::gate::Gate;
use crate::key;
use crate::range_del::{RangeTombstone, TombstoneIndex};
use crate::sstable::SSTable;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};

/// The file metadata of every level: what replaying the manifest produces. Applying an
/// edit is pure, so recovery and the running engine share the same code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelState {
    /// Per level, files by number.
    pub levels: Vec<BTreeMap<u64, FileMeta>>,
}

impl LevelState {
    /// No files in `max_levels` levels.
    pub fn new(max_levels: usize) -> LevelState {
        LevelState {
            levels: vec![BTreeMap::new(); max_levels],
        }
    }

    /// Applies `edit`; `Err` when it names a level or file that does not fit (a manifest
    /// that does not describe a consistent history).
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<(), String> {
        for (level, number) in &edit.deleted {
            let l = self
                .levels
                .get_mut(*level as usize)
                .ok_or_else(|| format!("edit deletes from level {level}, which does not exist"))?;
            l.remove(number).ok_or_else(|| {
                format!("edit deletes file {number}, which is not in level {level}")
            })?;
        }
        for (level, meta) in &edit.added {
            let nlevels = self.levels.len();
            let l = self.levels.get_mut(*level as usize).ok_or_else(|| {
                format!("edit adds to level {level}, but there are only {nlevels}")
            })?;
            if l.insert(meta.number, meta.clone()).is_some() {
                return Err(format!("edit adds file {} twice", meta.number));
            }
        }
        Ok(())
    }

    /// The numbers of every live file.
    pub fn file_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels.iter().flat_map(|l| l.keys().copied())
    }

    /// An edit that recreates this state from nothing.
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (level, files) in self.levels.iter().enumerate() {
            for meta in files.values() {
                e.added.push((level as u32, meta.clone()));
            }
        }
        e
    }
}

/// A table's range deletions, as stored and as fragmented for lookups.
struct FileTombstones {
    list: Box<[RangeTombstone]>,
    index: TombstoneIndex,
}

/// An SSTable of some version: what the manifest says of it, and the way to its
/// reader.
///
/// One `TableFile` exists per file, shared by every version that holds it. It does
/// not hold the file open: [`TableFile::table`] asks the database's [`TableCache`],
/// which opens it on demand and closes it when it has been idle longest. When an edit
/// removes the file, it is marked obsolete, and the file is deleted (and forgotten by
/// the table cache) when the last version (held by a reader, iterator or snapshot
/// read) lets go of it: no file is deleted while anything still reads it.
pub struct TableFile {
    /// The manifest's record.
    pub meta: FileMeta,
    /// The level the file is in (a trivial move changes it); the table cache decides
    /// from it, at open, whether the reader pins its index and filter, and a move
    /// that changes the answer closes the reader so that the next read decides again.
    level: AtomicUsize,
    obsolete: AtomicBool,
    tables: Arc<TableCache>,
    /// The file's range deletions, read once on first need and kept here, so reads
    /// do not reopen a table the cache closed just to learn it has none. A table
    /// without range deletions costs an empty slice; one with them, its tombstones
    /// (few: a range deletion covers many keys).
    tombstones: OnceLock<FileTombstones>,
    /// The owning database's operations: the deletion is one, so none happens once
    /// its `close` has returned (the next open deletes the file as an orphan).
    gate: Arc<Gate>,
}

impl TableFile {
    /// A live file of `level`, opened through `tables`, of the database whose
    /// operations `gate` counts.
    pub fn new(
        meta: FileMeta,
        level: usize,
        tables: Arc<TableCache>,
        gate: Arc<Gate>,
    ) -> TableFile {
        TableFile {
            meta,
            level: AtomicUsize::new(level),
            obsolete: AtomicBool::new(false),
            tables,
            tombstones: OnceLock::new(),
            gate,
        }
    }

    /// The open reader, from the table cache (opened if it is not open): an `Io` or
    /// `Corruption` error naming the file when it cannot be opened, `Closed` once the
    /// database has closed.
    #[inline]
    pub fn table(&self) -> Result<Arc<SSTable>> {
        self.tables
            .get(self.meta.number, self.level.load(AtomicOrdering::Relaxed))
    }

    /// The range deletions of the file, sorted by start key, then newest first.
    pub fn range_tombstones(&self) -> Result<&[RangeTombstone]> {
        Ok(&self.loaded_tombstones()?.list)
    }

    /// The range deletions of the file, fragmented once for point lookups.
    pub fn tombstone_index(&self) -> Result<&TombstoneIndex> {
        Ok(&self.loaded_tombstones()?.index)
    }

    fn loaded_tombstones(&self) -> Result<&FileTombstones> {
        if let Some(t) = self.tombstones.get() {
            return Ok(t);
        }
        let list: Box<[RangeTombstone]> = self.table()?.range_tombstones().into();
        let index = TombstoneIndex::new(list.iter());
        Ok(self
            .tombstones
            .get_or_init(|| FileTombstones { list, index }))
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.tables.path(self.meta.number)
    }

    /// Records that the file now lives in `level`.
    pub fn set_level(&self, level: usize) {
        let old = self.level.swap(level, AtomicOrdering::Relaxed);
        if old != level && self.tables.pins(old) != self.tables.pins(level) {
            self.tables.evict(self.meta.number);
        }
    }

    /// Marks the file for deletion once no version holds it.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, AtomicOrdering::Release);
    }

    /// The user keys the file covers, inclusive (range deletions included).
    pub fn user_range(&self) -> (&[u8], &[u8]) {
        (
            key::user_key(&self.meta.smallest),
            key::user_key(&self.meta.largest),
        )
    }

    /// True when the file's keys may intersect `[lo, hi]` (user keys, inclusive;
    /// `None` is unbounded).
    pub fn overlaps(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
        let (s, l) = self.user_range();
        !(hi.is_some_and(|h| s > h) || lo.is_some_and(|lo| l < lo))
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.obsolete.load(AtomicOrdering::Acquire) {
            // Memory only: the reader closes with its last holder.
            self.tables.evict(self.meta.number);
            let path = self.path();
            let Ok(_op) = self.gate.enter() else {
                log::debug!("{} left for the next open to delete", path.display());
                return;
            };
            match self.tables.fs().remove_file(&path) {
                Ok(()) => log::debug!("deleted obsolete table {}", path.display()),
                // Already gone (for example removed as an orphan by a later open).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("cannot delete obsolete table {}: {e}", path.display()),
            }
        }
    }
}

/// The live tables of every level. Immutable: a change makes a new `Version`, and
/// readers that hold the old one keep its tables alive (not deleted; open or not is
/// the table cache's business).
#[derive(Default)]
pub struct Version {
    /// Level 0 newest first (its files overlap); deeper levels by smallest key.
    pub levels: Vec<Vec<Arc<TableFile>>>,
}

impl Version {
    /// Orders each level for reading.
    pub fn new(mut levels: Vec<Vec<Arc<TableFile>>>) -> Version {
        for (i, files) in levels.iter_mut().enumerate() {
            if i == 0 {
                files.sort_by(|a, b| {
                    (b.meta.max_seq, b.meta.number).cmp(&(a.meta.max_seq, a.meta.number))
                });
            } else {
                files.sort_by(|a, b| key::compare(&a.meta.smallest, &b.meta.smallest));
            }
        }
        Version { levels }
    }

    /// Every table, newest data first (level 0 newest first, then each level).
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableFile>> + '_ {
        self.levels.iter().flatten()
    }

    /// In level `level >= 1` (sorted, disjoint), the file that may hold `user_key`
    /// as seen through `lookup` (its internal lookup key). Internal-key order matters at
    /// file boundaries: a file whose range deletions end (exclusively) at `user_key`
    /// has `user_key` as its largest user key but does not hold it.
    pub fn file_for_key(
        &self,
        level: usize,
        user_key: &[u8],
        lookup: &[u8],
    ) -> Option<&Arc<TableFile>> {
        let files = self.levels.get(level)?;
        let i = files
            .partition_point(|f| key::compare(&f.meta.largest, lookup) == std::cmp::Ordering::Less);
        files
            .get(i)
            .filter(|f| key::user_key(&f.meta.smallest) <= user_key)
    }

    /// The files of `level` whose keys may intersect `[lo, hi]` (inclusive user keys).
    pub fn overlapping(
        &self,
        level: usize,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Vec<Arc<TableFile>> {
        self.levels
            .get(level)
            .map(|files| {
                files
                    .iter()
                    .filter(|f| f.overlaps(lo, hi))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The point entries of every table (manifest metadata; versions and deletions
    /// included).
    pub fn entries(&self) -> u64 {
        self.levels.iter().flatten().map(|f| f.meta.entries).sum()
    }

    /// The bytes of the tables that may hold keys in `[start, end)` (user keys, end
    /// exclusive; `None` is unbounded).
    pub fn bytes_overlapping(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> u64 {
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                return 0;
            }
        }
        self.levels
            .iter()
            .flatten()
            .filter(|f| {
                let (smallest, largest) = f.user_range();
                end.is_none_or(|e| smallest < e) && start.is_none_or(|s| largest >= s)
            })
            .map(|f| f.meta.size)
            .sum()
    }

    /// Number of files per level.
    pub fn files_per_level(&self) -> Vec<usize> {
        self.levels.iter().map(Vec::len).collect()
    }

    /// Bytes per level.
    pub fn bytes_per_level(&self) -> Vec<u64> {
        self.levels
            .iter()
            .map(|l| l.iter().map(|f| f.meta.size).sum())
            .collect()
    }
}
