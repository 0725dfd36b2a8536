//! `replay_segments`: hands the batches of the WAL segments left by the last run to the
//! engine at open, applying the [`RecoveryMode`] to whatever damage they hold.

use super::format::decode_segment_header;
use super::{read_log, segment_file_name, LogContents};
use crate::batch::{BatchOp, DecodedBatch};
use crate::config::RecoveryMode;
use crate::error::{LsmError, Result};
use crate::fs::FileSystem;
use std::path::{Path, PathBuf};

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: usize,
    /// Batches handed to `apply`.
    pub batches: u64,
    /// Encoded bytes of those batches.
    pub bytes: u64,
    /// The torn tail dropped from the last segment: its file and the offset where the
    /// tail begins. The engine must not append to that segment again, nor keep it
    /// behind a newer one, or the next open would see the tail as mid-log damage.
    pub dropped_tail: Option<(PathBuf, u64)>,
    /// One line per region or batch skipped in [`RecoveryMode::Salvage`].
    pub salvaged: Vec<String>,
}

/// Reads the segments `numbers` (ascending) of `dir` and hands every batch to `apply`
/// in log order, with its decoded operations.
///
/// The last segment may end torn, or even be empty or hold only a torn header, as a
/// crash while creating or appending to it leaves it; earlier segments were complete
/// when a later one was created, so any loss in them is damage. What damage means
/// depends on `mode`; see [`RecoveryMode`] and `docs/FORMAT-wal.md`.
///
/// On an error, `apply` may already have seen batches of the segments before it; the
/// caller discards what it built.
pub fn replay_segments(
    fs: &dyn FileSystem,
    dir: &Path,
    numbers: &[u64],
    mode: RecoveryMode,
    mut apply: impl FnMut(&DecodedBatch<'_>, &[BatchOp<'_>]) -> Result<()>,
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    for (i, &number) in numbers.iter().enumerate() {
        let path = dir.join(segment_file_name(number));
        let data = fs
            .read_all(&path)
            .map_err(|e| LsmError::io_at("read", &path, e))?;
        report.segments += 1;
        let mut seg = Segment {
            path: &path,
            number,
            last: i + 1 == numbers.len(),
            mode,
            report: &mut report,
        };
        let contents = read_log(&data, &path);
        seg.replay(contents, &mut apply)?;
    }
    Ok(report)
}

/// One segment being replayed.
struct Segment<'a> {
    path: &'a Path,
    number: u64,
    last: bool,
    mode: RecoveryMode,
    report: &'a mut ReplayReport,
}

impl Segment<'_> {
    fn replay(
        &mut self,
        contents: LogContents,
        apply: &mut impl FnMut(&DecodedBatch<'_>, &[BatchOp<'_>]) -> Result<()>,
    ) -> Result<()> {
        for d in &contents.damage {
            self.damaged(d.offset, &d.reason)?;
        }
        let mut records = contents.records.iter().peekable();
        match records.peek() {
            None => {
                // No header: a 0-byte file, a torn header, or a header lost to damage
                // (reported above).
                if !self.last {
                    let offset = contents.torn_tail.unwrap_or(0);
                    return self
                        .damaged(offset, "segment has no header but a later segment exists");
                }
                if contents.torn_tail.is_some() {
                    log::warn!(
                        "WAL segment {}: header torn by a crash; treated as empty",
                        self.path.display()
                    );
                }
                return Ok(());
            }
            Some((offset, header)) => match decode_segment_header(header) {
                Ok(n) if n == self.number => {
                    records.next();
                }
                Ok(n) => {
                    self.damaged(*offset, &format!("segment header names segment {n}"))?;
                    records.next();
                }
                Err(reason) => self.damaged(*offset, &reason)?,
            },
        }
        if let Some(offset) = contents.torn_tail {
            self.torn_tail(offset)?;
        }
        for (offset, rec) in records {
            let parsed = DecodedBatch::parse(rec).and_then(|b| {
                let ops = b.ops()?;
                Ok((b, ops))
            });
            match parsed {
                Ok((batch, ops)) => {
                    apply(&batch, &ops)?;
                    self.report.batches += 1;
                    self.report.bytes += rec.len() as u64;
                }
                Err(reason) => self.damaged(*offset, &format!("malformed batch: {reason}"))?,
            }
        }
        Ok(())
    }

    /// Damage at `offset`: an error, or in salvage mode a warning and a skipped region.
    fn damaged(&mut self, offset: u64, reason: &str) -> Result<()> {
        if self.mode != RecoveryMode::Salvage {
            return Err(LsmError::corruption(self.path, offset, reason));
        }
        log::warn!(
            "WAL segment {} at offset {offset}: {reason}; skipped (salvage)",
            self.path.display()
        );
        self.report.salvaged.push(format!(
            "{} at offset {offset}: {reason}",
            self.path.display()
        ));
        Ok(())
    }

    fn torn_tail(&mut self, offset: u64) -> Result<()> {
        let reason = "record torn at the end of the segment";
        match self.mode {
            RecoveryMode::Absolute => Err(LsmError::corruption(self.path, offset, reason)),
            _ if self.last => {
                log::warn!(
                    "WAL segment {}: dropping a torn tail from offset {offset} (a crash during a write)",
                    self.path.display()
                );
                self.report.dropped_tail = Some((self.path.to_path_buf(), offset));
                Ok(())
            }
            _ => self.damaged(
                offset,
                "record torn at the end of a segment that is not the last",
            ),
        }
    }
}
