//! Choosing what to compact. Pure: a version and the options in, a plan out.

use super::Compaction;
use crate::config::CompactionConfig;
use crate::manifest::{TableFile, Version};
use std::collections::HashSet;
use std::sync::Arc;

/// The target size of `level` (>= 1): `base_level_bytes * fanout^(level - 1)`.
pub fn level_target(cfg: &CompactionConfig, level: usize) -> u64 {
    let mut t = cfg.base_level_bytes;
    for _ in 1..level {
        t = t.saturating_mul(cfg.level_fanout);
    }
    t
}

/// How urgently each level needs compaction (>= 1: it does). The last level has
/// nowhere to go and is never scored.
pub fn scores(v: &Version, cfg: &CompactionConfig) -> Vec<f64> {
    let last = v.levels.len().saturating_sub(1);
    v.levels
        .iter()
        .enumerate()
        .map(|(level, files)| {
            if level == last {
                0.0
            } else if level == 0 {
                files.len() as f64 / cfg.level0_file_trigger as f64
            } else {
                let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
                bytes as f64 / level_target(cfg, level) as f64
            }
        })
        .collect()
}

/// Bytes that compaction still has to move for every level to fit its target: the
/// input of flow control.
pub fn pending_bytes(v: &Version, cfg: &CompactionConfig) -> u64 {
    let last = v.levels.len().saturating_sub(1);
    v.levels
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(level, _)| *level < last)
        .map(|(level, files)| {
            let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
            bytes.saturating_sub(level_target(cfg, level))
        })
        .sum()
}

/// An inclusive range of user keys.
pub type Range = (Vec<u8>, Vec<u8>);

pub(crate) fn union(files: &[Arc<TableFile>]) -> Option<Range> {
    let mut it = files.iter();
    let first = it.next()?;
    let (s, l) = first.user_range();
    let (mut lo, mut hi) = (s.to_vec(), l.to_vec());
    for f in it {
        let (s, l) = f.user_range();
        if s < lo.as_slice() {
            lo = s.to_vec();
        }
        if l > hi.as_slice() {
            hi = l.to_vec();
        }
    }
    Some((lo, hi))
}

fn below_is_empty(v: &Version, output_level: usize, range: &Range) -> bool {
    (output_level + 1..v.levels.len())
        .all(|l| v.overlapping(l, Some(&range.0), Some(&range.1)).is_empty())
}

/// What the compactions already running hold: a new pick must leave it alone.
#[derive(Debug, Default, Clone)]
pub struct Busy {
    /// Numbers of the files being compacted.
    pub files: HashSet<u64>,
    /// Per running job, its output level and the user-key range it writes there.
    pub outputs: Vec<(usize, Range)>,
}

impl Busy {
    /// Marks `c`'s inputs and output range as taken.
    pub fn add(&mut self, c: &Compaction) {
        self.files
            .extend(c.inputs.iter().map(|(_, f)| f.meta.number));
        if let Some(r) = c.output_range() {
            self.outputs.push((c.output_level, r));
        }
    }

    /// Releases what [`Busy::add`] took for `c`.
    pub fn remove(&mut self, c: &Compaction) {
        for (_, f) in &c.inputs {
            self.files.remove(&f.meta.number);
        }
        if let Some(r) = c.output_range() {
            if let Some(i) = self
                .outputs
                .iter()
                .position(|(l, o)| *l == c.output_level && *o == r)
            {
                self.outputs.swap_remove(i);
            }
        }
    }

    /// True when `c` takes a busy file, or writes into a level where a running job
    /// writes an overlapping range (two jobs would then add overlapping files to one
    /// sorted level).
    fn conflicts(&self, c: &Compaction) -> bool {
        if c.inputs
            .iter()
            .any(|(_, f)| self.files.contains(&f.meta.number))
        {
            return true;
        }
        let Some((lo, hi)) = c.output_range() else {
            return false;
        };
        self.outputs
            .iter()
            .any(|(l, (olo, ohi))| *l == c.output_level && lo <= *ohi && *olo <= hi)
    }
}

/// The plan that compacts `chosen` (files of `level`) into the next level.
fn plan(v: &Version, level: usize, chosen: Vec<Arc<TableFile>>) -> Option<Compaction> {
    let range = union(&chosen)?;
    let output_level = level + 1;
    let next = v.overlapping(output_level, Some(&range.0), Some(&range.1));
    let trivial_move = chosen.len() == 1 && next.is_empty();
    let mut all = chosen.clone();
    all.extend(next.iter().cloned());
    let full_range = union(&all)?;
    let mut inputs: Vec<(usize, Arc<TableFile>)> = chosen.into_iter().map(|f| (level, f)).collect();
    inputs.extend(next.into_iter().map(|f| (output_level, f)));
    Some(Compaction {
        bottommost: below_is_empty(v, output_level, &full_range),
        inputs,
        output_level,
        trivial_move,
    })
}

/// The most urgent compaction that can run beside the ones in `busy`, if any level
/// needs one: levels are tried from the most urgent down, and within a level the files
/// in turn (`pointers[level]` is the largest key of the last file compacted out of
/// `level`), until one needs none of the busy files and writes nowhere a running job
/// writes.
pub fn pick_avoiding(
    v: &Version,
    cfg: &CompactionConfig,
    pointers: &[Vec<u8>],
    busy: &Busy,
) -> Option<Compaction> {
    let s = scores(v, cfg);
    let mut levels: Vec<(usize, f64)> = s
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, score)| *score >= 1.0)
        .collect();
    levels.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (level, _) in levels {
        let Some(files) = v.levels.get(level) else {
            continue;
        };
        if level == 0 {
            // Level-0 files overlap each other: they go down together, one job at a
            // time (a second would have to order its files against the first's).
            if files.iter().any(|f| busy.files.contains(&f.meta.number)) {
                continue;
            }
            if let Some(c) = plan(v, 0, files.clone()).filter(|c| !busy.conflicts(c)) {
                return Some(c);
            }
            continue;
        }
        let after = pointers.get(level).filter(|p| !p.is_empty());
        let start = files
            .iter()
            .position(|f| after.is_none_or(|p| f.user_range().0 > p.as_slice()))
            .unwrap_or(0);
        let n = files.len();
        for i in 0..n {
            let Some(f) = files.get((start + i) % n) else {
                continue;
            };
            if busy.files.contains(&f.meta.number) {
                continue;
            }
            if let Some(c) = plan(v, level, vec![f.clone()]).filter(|c| !busy.conflicts(c)) {
                return Some(c);
            }
        }
    }
    None
}

/// A compaction of every file that overlaps `[lo, hi]` (inclusive user keys, `None`
/// unbounded) in every level, into the deepest level that holds any of them: after it,
/// the range holds no overwritten versions or deletions that no snapshot needs.
pub fn pick_manual(v: &Version, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Option<Compaction> {
    let (mut lo, mut hi) = (lo.map(<[u8]>::to_vec), hi.map(<[u8]>::to_vec));
    // Grow the range until it covers every file it touches, so no file left behind in
    // a level can overlap the output.
    let mut chosen: Vec<(usize, Arc<TableFile>)>;
    loop {
        chosen = (0..v.levels.len())
            .flat_map(|l| {
                v.overlapping(l, lo.as_deref(), hi.as_deref())
                    .into_iter()
                    .map(move |f| (l, f))
            })
            .collect();
        let files: Vec<Arc<TableFile>> = chosen.iter().map(|(_, f)| f.clone()).collect();
        let (ulo, uhi) = union(&files)?;
        let grew_lo = lo.as_ref().is_some_and(|l| ulo < *l);
        let grew_hi = hi.as_ref().is_some_and(|h| uhi > *h);
        if !grew_lo && !grew_hi {
            break;
        }
        if grew_lo {
            lo = Some(ulo);
        }
        if grew_hi {
            hi = Some(uhi);
        }
    }
    let deepest = chosen.iter().map(|(l, _)| *l).max()?;
    Some(Compaction {
        inputs: chosen,
        output_level: deepest.max(1).min(v.levels.len().saturating_sub(1)),
        bottommost: true,
        trivial_move: false,
    })
}
