//! Carrying out a compaction: merge the inputs, keep what some reader can still see,
//! write the output tables, and describe the result as a version edit.

use super::Compaction;
use crate::cache::TableCache;
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::iter::{InternalIterator, LevelIterator, MergingIterator};
use crate::key::{self, SeqNo, MAX_SEQ};
use crate::manifest::{FileMeta, TableFile, VersionEdit};
use crate::range_del::RangeTombstone;
use crate::sstable::{TableBuilder, TableOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What a compaction produced.
pub struct Outcome {
    /// Inputs deleted, outputs added.
    pub edit: VersionEdit,
    /// Bytes written.
    pub bytes_written: u64,
    /// Entries dropped (overwritten, deleted, or covered by a range deletion).
    pub dropped: u64,
    /// Key ranges merged in parallel (1 when the job was not split).
    pub subcompactions: usize,
}

use super::fold::{Filtering, Folder};

struct Output<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    opts: TableOptions,
    tables: &'a TableCache,
    output_level: usize,
    tombstones: &'a [RangeTombstone],
    builder: Option<(u64, TableBuilder)>,
    /// Lower bound (inclusive) of the current file's share of the range deletions.
    lo: Option<Vec<u8>>,
    last_user: Option<Vec<u8>>,
    done: Vec<FileMeta>,
}

impl Output<'_> {
    fn start(&mut self, number: u64) -> Result<()> {
        let path = filename::table(self.dir, number);
        let file = self
            .fs
            .create(&path)
            .map_err(|e| LsmError::io_at("create", &path, e))?;
        self.builder = Some((number, TableBuilder::new(file, path, self.opts.clone())));
        self.last_user = None;
        Ok(())
    }

    /// Finishes the current file, giving it the range deletions in `[lo, hi)`.
    fn finish(&mut self, hi: Option<&[u8]>) -> Result<()> {
        let Some((number, mut b)) = self.builder.take() else {
            return Ok(());
        };
        for t in self.tombstones {
            let start = match &self.lo {
                Some(lo) if lo.as_slice() > t.start.as_slice() => lo.clone(),
                _ => t.start.clone(),
            };
            let end = match hi {
                Some(h) if h < t.end.as_slice() => h.to_vec(),
                _ => t.end.clone(),
            };
            if start < end {
                b.add_range_tombstone(&RangeTombstone {
                    start,
                    end,
                    seq: t.seq,
                });
            }
        }
        let info = b.finish()?;
        // Opened (so checked) through the table cache, which keeps it for the reads
        // to come, or closes it when idle: a compaction's many outputs do not all stay
        // open until its edit lands.
        self.tables.open_new(number, self.output_level)?;
        self.done.push(info.into_meta(number));
        self.lo = hi.map(<[u8]>::to_vec);
        Ok(())
    }

    /// Adds an entry, first cutting the file once it reaches `target_bytes`; cuts
    /// fall between user keys only, so all versions of a key stay in one file and
    /// files of a level never share a user key.
    fn add(
        &mut self,
        ik: &[u8],
        v: &[u8],
        target_bytes: u64,
        next_number: &(dyn Fn() -> u64 + Sync),
    ) -> Result<()> {
        let uk = key::user_key(ik);
        let roll = match &self.builder {
            None => true,
            Some((_, b)) => {
                b.estimated_size() >= target_bytes && self.last_user.as_deref() != Some(uk)
            }
        };
        if roll {
            if self.builder.is_some() {
                self.finish(Some(uk))?;
            }
            self.start(next_number())?;
        }
        if let Some((_, b)) = &mut self.builder {
            b.add(ik, v)?;
        }
        if self.last_user.as_deref() != Some(uk) {
            self.last_user = Some(uk.to_vec());
        }
        Ok(())
    }
}

/// Where and how a compaction writes its tables.
pub struct Target<'a> {
    /// The file system.
    pub fs: &'a dyn FileSystem,
    /// The table directory.
    pub dir: &'a Path,
    /// Table format options.
    pub opts: TableOptions,
    /// The table cache that opens (and checks) the new tables.
    pub tables: &'a TableCache,
    /// Output files are cut at about this size.
    pub target_file_bytes: u64,
    /// At most this many key ranges of the job are merged in parallel.
    pub max_subcompactions: usize,
    /// The keyspace's merge operator, which folds operands.
    pub merge_op: Option<Arc<dyn crate::merge::MergeOperator>>,
    /// The keyspace's compaction filters (expiry runs before them).
    pub filters: Vec<Arc<dyn crate::filter::CompactionFilter>>,
    /// The keyspace's name, for the filters.
    pub keyspace: String,
    /// The job's time by the database's clock, for expiry.
    pub now_ms: u64,
}

/// Up to `n - 1` user keys that cut `c` into key ranges of about equal input size.
/// Candidates are the largest keys of the input files of the sorted levels: between
/// two of them the work is known to be that of the files in between.
/// A job of less than `min_piece_bytes` per piece is split into fewer pieces: a piece
/// much smaller than an output file costs a thread and a small file for little gain.
pub fn split_points(c: &Compaction, n: usize, min_piece_bytes: u64) -> Vec<Vec<u8>> {
    let n = n.min(usize::try_from(c.input_bytes() / min_piece_bytes.max(1)).unwrap_or(n));
    if n <= 1 || c.trivial_move {
        return Vec::new();
    }
    let mut ends: Vec<(Vec<u8>, u64)> = c
        .inputs
        .iter()
        .filter(|(level, _)| *level > 0)
        .map(|(_, f)| (f.user_range().1.to_vec(), f.meta.size))
        .collect();
    ends.sort();
    let Some(((last, _), rest)) = ends.split_last() else {
        return Vec::new();
    };
    let total: u64 = ends.iter().map(|(_, b)| b).sum();
    let share = total / n as u64;
    let mut points: Vec<Vec<u8>> = Vec::new();
    let mut acc = 0u64;
    for (k, bytes) in rest {
        acc += bytes;
        // A piece starts just after its left boundary's key; the key itself belongs
        // to the piece on the left, so a point is the next possible key.
        if acc >= share * (points.len() as u64 + 1) && points.len() + 1 < n && k != last {
            let mut p = k.clone();
            p.push(0);
            if points.last() != Some(&p) {
                points.push(p);
            }
        }
    }
    points
}

/// Runs `c`, writing tables as `to` says. `snapshots` are the live snapshots
/// (sorted); `next_number` hands out file numbers; `should_stop` abandons the run.
/// A large job is split into up to `to.max_subcompactions` key ranges merged in
/// parallel; their outputs are disjoint, so together they are one result.
pub fn run(
    c: &Compaction,
    to: Target<'_>,
    snapshots: &[SeqNo],
    next_number: &(dyn Fn() -> u64 + Sync),
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<Outcome> {
    let points = split_points(c, to.max_subcompactions, to.target_file_bytes);
    let mut bounds: Vec<KeyRange> = Vec::new();
    let mut lo: Option<Vec<u8>> = None;
    for p in points {
        bounds.push((lo.take(), Some(p.clone())));
        lo = Some(p);
    }
    bounds.push((lo, None));
    let pieces: Vec<Result<Piece>> = if bounds.len() == 1 {
        vec![run_range(
            c,
            &to,
            snapshots,
            next_number,
            should_stop,
            None,
            None,
        )]
    } else {
        let to = &to;
        std::thread::scope(|scope| {
            let handles: Vec<_> = bounds
                .iter()
                .map(|(lo, hi)| {
                    scope.spawn(move || {
                        run_range(
                            c,
                            to,
                            snapshots,
                            next_number,
                            should_stop,
                            lo.as_deref(),
                            hi.as_deref(),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LsmError::io(
                            "subcompaction",
                            std::io::Error::other("a subcompaction thread panicked"),
                        ))
                    })
                })
                .collect()
        })
    };
    let mut done = Vec::new();
    let mut dropped = 0;
    for p in pieces {
        let p = p?;
        done.extend(p.done);
        dropped += p.dropped;
    }
    to.fs
        .sync_dir(to.dir)
        .map_err(|e| LsmError::io_at("sync directory", to.dir, e))?;

    let mut edit = VersionEdit::default();
    for (level, f) in &c.inputs {
        edit.deleted.push((*level as u32, f.meta.number));
    }
    let mut bytes_written = 0;
    for meta in done {
        bytes_written += meta.size;
        edit.added.push((c.output_level as u32, meta));
    }
    Ok(Outcome {
        edit,
        bytes_written,
        dropped,
        subcompactions: bounds.len(),
    })
}

/// A piece of a job: user keys in `[lo, hi)`, `None` unbounded.
type KeyRange = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What one key range of a job produced.
struct Piece {
    done: Vec<FileMeta>,
    dropped: u64,
}

/// Merges the entries of `c` whose user keys are in `[lo, hi)` (`None` unbounded) into
/// new tables, with the range deletions clipped to the same range.
fn run_range(
    c: &Compaction,
    to: &Target<'_>,
    snapshots: &[SeqNo],
    next_number: &(dyn Fn() -> u64 + Sync),
    should_stop: &(dyn Fn() -> bool + Sync),
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
) -> Result<Piece> {
    // Children: each level-0 table alone (they overlap), each deeper level as one
    // concatenation.
    let mut by_level: BTreeMap<usize, Vec<Arc<TableFile>>> = BTreeMap::new();
    let mut tombstones: Vec<RangeTombstone> = Vec::new();
    for (level, f) in &c.inputs {
        by_level.entry(*level).or_default().push(f.clone());
        tombstones.extend(f.range_tombstones()?.iter().cloned());
    }
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    for (level, mut files) in by_level {
        if level == 0 {
            for f in files {
                children.push(Box::new(f.table()?.iter()));
            }
        } else {
            files.sort_by(|a, b| key::compare(&a.meta.smallest, &b.meta.smallest));
            children.push(Box::new(LevelIterator::new(files)));
        }
    }
    let mut merge = MergingIterator::new(children);
    let all_tombstones = tombstones.clone();
    // At the bottom, with no snapshot, a range deletion has hidden everything it
    // covers (all dropped below) and nothing lies under it: it can go.
    let keep_tombstones = !(c.bottommost && snapshots.is_empty());
    if !keep_tombstones {
        tombstones.clear();
    } else {
        tombstones.sort_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)));
        tombstones.dedup();
        // Only this piece's share: those that reach into `[lo, hi)`.
        tombstones.retain(|t| {
            lo.is_none_or(|lo| t.end.as_slice() > lo) && hi.is_none_or(|hi| t.start.as_slice() < hi)
        });
    }

    let mut out = Output {
        fs: to.fs,
        dir: to.dir,
        opts: to.opts.clone(),
        tables: to.tables,
        output_level: c.output_level,
        tombstones: &tombstones,
        builder: None,
        lo: lo.map(<[u8]>::to_vec),
        last_user: None,
        done: Vec::new(),
    };
    let filtering = Filtering {
        filters: &to.filters,
        keyspace: &to.keyspace,
        level: c.output_level,
        now_ms: to.now_ms,
    };
    let mut folder = Folder::new(
        snapshots,
        to.merge_op.as_deref(),
        c.bottommost,
        &all_tombstones,
        filtering,
    );
    let target_bytes = to.target_file_bytes;
    let mut sink = |ik: &[u8], v: &[u8]| out.add(ik, v, target_bytes, next_number);
    match lo {
        Some(lo) => merge.seek(&key::lookup_key(lo, MAX_SEQ)),
        None => merge.seek_to_first(),
    }
    let mut steps = 0u32;
    while merge.valid() {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(4096) && should_stop() {
            return Err(LsmError::Closed);
        }
        let ik = merge.key();
        let uk = key::user_key(ik);
        if hi.is_some_and(|hi| uk >= hi) {
            break;
        }
        folder.push(ik, merge.value(), &mut sink)?;
        merge.next();
    }
    merge.status()?;
    folder.finish(&mut sink)?;
    let dropped = folder.dropped;
    if out.builder.is_none() && !tombstones.is_empty() {
        out.start(next_number())?;
    }
    out.finish(hi)?;
    Ok(Piece {
        done: out.done,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fold::stripe;

    #[test]
    fn stripes_split_at_snapshots() {
        let snaps = [10, 20];
        assert_eq!(stripe(&snaps, 5), 0);
        assert_eq!(stripe(&snaps, 10), 0);
        assert_eq!(stripe(&snaps, 11), 1);
        assert_eq!(stripe(&snaps, 25), 2);
        assert_eq!(stripe(&[], 7), 0);
    }
}
