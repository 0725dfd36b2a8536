//! Leveled compaction: pure planning ([`picker`]) and the merge that carries a plan out
//! ([`run`]). The result of a run is a version edit; the manifest logs it and recovery
//! replays it with the same `apply` as the running engine.

pub mod fold;
pub mod picker;
pub mod run;

use crate::manifest::{TableFile, VersionEdit};
use std::sync::Arc;

/// A planned compaction.
pub struct Compaction {
    /// The files read, each with its level.
    pub inputs: Vec<(usize, Arc<TableFile>)>,
    /// Where the output goes.
    pub output_level: usize,
    /// No file below `output_level` overlaps the inputs: deletions that no snapshot
    /// needs can be dropped instead of carried down.
    pub bottommost: bool,
    /// A single file that overlaps nothing in the next level: it moves without being
    /// rewritten.
    pub trivial_move: bool,
}

impl Compaction {
    /// The edit that moves the single input to the output level unchanged.
    pub fn move_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (level, f) in &self.inputs {
            e.deleted.push((*level as u32, f.meta.number));
            e.added.push((self.output_level as u32, f.meta.clone()));
        }
        e
    }

    /// The user keys the inputs cover, which bound what the output holds.
    pub fn output_range(&self) -> Option<picker::Range> {
        let files: Vec<Arc<TableFile>> = self.inputs.iter().map(|(_, f)| f.clone()).collect();
        picker::union(&files)
    }

    /// Bytes of the inputs.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|(_, f)| f.meta.size).sum()
    }
}
