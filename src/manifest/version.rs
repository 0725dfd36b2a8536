//! `Version`: the live SSTables of each level at one moment, and the pure state
//! (`LevelState`) that version edits are applied to.

use super::version_edit::{FileMeta, VersionEdit};
use crate::key;
use crate::sstable::Table;
use std::collections::BTreeMap;
use std::sync::Arc;

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
            l.remove(number)
                .ok_or_else(|| format!("edit deletes file {number}, which is not in level {level}"))?;
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

/// A live SSTable: what the manifest says of it, and its open reader.
pub struct TableFile {
    /// The manifest's record.
    pub meta: FileMeta,
    /// The open table.
    pub table: Arc<Table>,
}

/// The live tables of every level. Immutable: a change makes a new `Version`, and
/// readers that hold the old one keep its tables open.
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
