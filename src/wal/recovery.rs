//! `replay_segments`: hands the batches of the WAL segments left by the last run to the
//! engine at open, applying the [`RecoveryMode`] to whatever damage they hold.

use super::format::decode_segment_header;
use super::log_reader::LogContents;
use super::{read_log, segment_file_name};
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
/// crash while creating or appending to it leaves it; earlier segments were synced
/// when a later one was created, so any loss in them is damage — unless every later
/// segment is empty, which is what a power cut during the open that dropped the torn
/// tail leaves. What damage means
/// depends on `mode`; see [`RecoveryMode`] and `docs/FORMAT.md`.
///
/// On an error, `apply` may already have seen batches of the segments before it; the
/// caller discards what it built.
pub fn replay_segments(
    fs: &dyn FileSystem,
    dir: &Path,
    numbers: &[u64],
    mode: RecoveryMode,
    mut apply: impl FnMut(u64, &DecodedBatch<'_>, &[(u32, BatchOp<'_>)]) -> Result<()>,
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut logs = Vec::with_capacity(numbers.len());
    for &number in numbers {
        let path = dir.join(segment_file_name(number));
        let data = fs
            .read_all(&path)
            .map_err(|e| LsmError::io_at("read", &path, e))?;
        let contents = read_log(&data, &path, number);
        logs.push((number, path, contents));
    }
    // A segment may end torn when only segments without batches follow it: an open
    // creates its new segment before the manifest edit that retires the segments it
    // replayed lands, so a power cut in between leaves the torn segment followed by an
    // empty one. Damage may hide batches, so a damaged segment counts as holding some.
    let holds_batches = |c: &LogContents| c.records.len() > 1 || !c.damage.is_empty();
    let last_with_batches = logs.iter().rposition(|(_, _, c)| holds_batches(c));
    for (i, (number, path, contents)) in logs.into_iter().enumerate() {
        report.segments += 1;
        let mut seg = Segment {
            path: &path,
            number,
            last: last_with_batches.is_none_or(|l| i >= l),
            mode,
            report: &mut report,
        };
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
        apply: &mut impl FnMut(u64, &DecodedBatch<'_>, &[(u32, BatchOp<'_>)]) -> Result<()>,
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
                Ok(h) if h.number != self.number => {
                    let n = h.number;
                    self.damaged(*offset, &format!("segment header names segment {n}"))?;
                    records.next();
                }
                Ok(h) if h.framing() != contents.framing => {
                    let reason = format!(
                        "segment header says format version {} but the segment is framed as {:?}",
                        h.version, contents.framing
                    );
                    self.damaged(*offset, &reason)?;
                    records.next();
                }
                Ok(_) => {
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
                    apply(self.number, &batch, &ops)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::WriteBatch;
    use crate::fs::{CrashModel, MemFs};
    use crate::wal::format::{encode_segment_header_version, BLOCK_SIZE, HEADER_SIZE};
    use crate::wal::{encode_log_v1, LogWriter, WriteAheadLogger};

    const DIR: &str = "db";

    fn setup() -> MemFs {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new(DIR)).unwrap();
        fs
    }

    /// A batch with sequence number `seq` and one put whose value is `size` bytes.
    fn batch(seq: u64, size: usize) -> Vec<u8> {
        let mut b = WriteBatch::new();
        b.put(format!("key{seq}").as_bytes(), &vec![seq as u8; size]);
        b.set_sequence(seq);
        b.encoded().to_vec()
    }

    fn write_segment(fs: &MemFs, number: u64, batches: &[Vec<u8>]) -> PathBuf {
        let mut w = WriteAheadLogger::create(fs, Path::new(DIR), number).unwrap();
        for b in batches {
            w.append(&[b]).unwrap();
        }
        w.path().to_path_buf()
    }

    /// The sequence numbers replayed, in order.
    fn replay(fs: &MemFs, numbers: &[u64], mode: RecoveryMode) -> Result<(Vec<u64>, ReplayReport)> {
        let mut seqs = Vec::new();
        let report = replay_segments(fs, Path::new(DIR), numbers, mode, |_, b, ops| {
            assert_eq!(ops.len(), b.count as usize);
            seqs.push(b.seq);
            Ok(())
        })?;
        Ok((seqs, report))
    }

    fn corruption_at(r: Result<(Vec<u64>, ReplayReport)>) -> (PathBuf, u64) {
        match r {
            Err(LsmError::Corruption { file, offset, .. }) => (file, offset),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn replays_every_segment_in_order() {
        let fs = setup();
        write_segment(&fs, 1, &[batch(1, 10), batch(2, 50_000)]);
        write_segment(&fs, 2, &[]);
        write_segment(&fs, 3, &[batch(3, 0), batch(4, 70_000), batch(5, 5)]);
        for mode in [
            RecoveryMode::TolerateTail,
            RecoveryMode::Absolute,
            RecoveryMode::Salvage,
        ] {
            let (seqs, report) = replay(&fs, &[1, 2, 3], mode).unwrap();
            assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
            assert_eq!((report.segments, report.batches), (3, 5));
            assert!(report.bytes > 120_000);
            assert_eq!(report.dropped_tail, None);
            assert!(report.salvaged.is_empty());
        }
    }

    #[test]
    fn a_torn_last_record_is_dropped_in_tolerate_tail_and_fatal_in_absolute() {
        let fs = setup();
        // The last batch starts shortly before a block boundary and ends after it.
        let first = batch(1, BLOCK_SIZE - 600);
        let last = batch(2, 1200);
        let path = write_segment(&fs, 7, &[first, last]);
        let data = fs.read_all(&path).unwrap();
        let clean = read_log(&data, &path, 7);
        let last_start = clean.records[2].0;
        assert!(last_start < BLOCK_SIZE as u64 && data.len() > BLOCK_SIZE);
        for cut in last_start as usize + 1..data.len() {
            fs.write_raw(&path, data[..cut].to_vec()).unwrap();
            let (seqs, report) = replay(&fs, &[7], RecoveryMode::TolerateTail).unwrap();
            assert_eq!(seqs, vec![1], "cut {cut}");
            assert_eq!(
                report.dropped_tail,
                Some((path.clone(), last_start)),
                "cut {cut}"
            );
            let err = replay(&fs, &[7], RecoveryMode::Absolute);
            assert_eq!(corruption_at(err), (path.clone(), last_start), "cut {cut}");
        }
    }

    #[test]
    fn a_torn_tail_of_an_earlier_segment_is_corruption() {
        let fs = setup();
        let path = write_segment(&fs, 1, &[batch(1, 10), batch(2, 10)]);
        write_segment(&fs, 2, &[batch(3, 10)]);
        let data = fs.read_all(&path).unwrap();
        fs.write_raw(&path, data[..data.len() - 3].to_vec())
            .unwrap();
        let (file, _) = corruption_at(replay(&fs, &[1, 2], RecoveryMode::TolerateTail));
        assert_eq!(file, path);
        let (seqs, report) = replay(&fs, &[1, 2], RecoveryMode::Salvage).unwrap();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(report.salvaged.len(), 1);
    }

    #[test]
    fn damage_before_valid_records_is_corruption_unless_salvaging() {
        let fs = setup();
        let batches: Vec<Vec<u8>> = (1..=8).map(|s| batch(s, 20_000)).collect();
        let path = write_segment(&fs, 4, &batches);
        let mut data = fs.read_all(&path).unwrap();
        let clean = read_log(&data, &path, 4);
        // Batch 2 is record 2; flip a byte of its first fragment.
        let offset = clean.records[2].0;
        assert!((offset as usize % BLOCK_SIZE) + HEADER_SIZE + 100 < BLOCK_SIZE);
        data[offset as usize + HEADER_SIZE + 50] ^= 0x10;
        fs.write_raw(&path, data).unwrap();
        for mode in [RecoveryMode::TolerateTail, RecoveryMode::Absolute] {
            assert_eq!(
                corruption_at(replay(&fs, &[4], mode)),
                (path.clone(), offset)
            );
        }
        let (seqs, report) = replay(&fs, &[4], RecoveryMode::Salvage).unwrap();
        assert_eq!(seqs, vec![1, 3, 4, 5, 6, 7, 8]);
        assert_eq!(report.salvaged.len(), 1);
        assert!(report.salvaged[0].contains(&format!("offset {offset}")));
    }

    #[test]
    fn a_record_that_is_no_batch_is_corruption_unless_salvaging() {
        let fs = setup();
        let path = Path::new(DIR).join(segment_file_name(9));
        let mut log = LogWriter::new(fs.create(&path).unwrap(), path.clone(), 9);
        log.add_record(&super::super::format::encode_segment_header(9))
            .unwrap();
        let good = batch(1, 3);
        let mut bad = batch(2, 3);
        bad.push(0xff); // bytes after the last operation
        log.add_records(&[&good, &bad, &batch(3, 3)]).unwrap();
        let bad_offset = read_log(&fs.read_all(&path).unwrap(), &path, 9).records[2].0;
        let err = replay(&fs, &[9], RecoveryMode::TolerateTail);
        assert_eq!(corruption_at(err), (path.clone(), bad_offset));
        let (seqs, report) = replay(&fs, &[9], RecoveryMode::Salvage).unwrap();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(report.salvaged.len(), 1);
    }

    #[test]
    fn a_header_naming_another_segment_is_corruption() {
        let fs = setup();
        let five = write_segment(&fs, 5, &[batch(1, 1)]);
        let six = Path::new(DIR).join(segment_file_name(6));
        fs.rename(&five, &six).unwrap();
        for mode in [RecoveryMode::TolerateTail, RecoveryMode::Absolute] {
            assert_eq!(corruption_at(replay(&fs, &[6], mode)), (six.clone(), 0));
        }
        // v2 fragments name their log: salvage skips every record of the other one.
        let (seqs, report) = replay(&fs, &[6], RecoveryMode::Salvage).unwrap();
        assert_eq!((seqs, report.salvaged.len()), (vec![], 2));
    }

    #[test]
    fn an_empty_or_header_torn_last_segment_is_empty() {
        let fs = setup();
        write_segment(&fs, 1, &[batch(1, 1)]);
        let two = write_segment(&fs, 2, &[]);
        let header = fs.read_all(&two).unwrap();
        for cut in 0..header.len() {
            fs.write_raw(&two, header[..cut].to_vec()).unwrap();
            for mode in [
                RecoveryMode::TolerateTail,
                RecoveryMode::Absolute,
                RecoveryMode::Salvage,
            ] {
                let (seqs, _) = replay(&fs, &[1, 2], mode).unwrap();
                assert_eq!(seqs, vec![1], "cut {cut}");
            }
            // Followed by an empty segment only (an open that crashed before its
            // manifest edit), it still is the end of the log.
            write_segment(&fs, 3, &[]);
            let (seqs, _) = replay(&fs, &[1, 2, 3], RecoveryMode::TolerateTail).unwrap();
            assert_eq!(seqs, vec![1], "cut {cut}");
            // Not the last segment: it lost its header, which no crash explains.
            write_segment(&fs, 3, &[batch(2, 1)]);
            assert!(replay(&fs, &[1, 2, 3], RecoveryMode::TolerateTail)
                .unwrap_err()
                .is_corruption());
        }
    }

    /// Under both crash models: a torn prefix of the unsynced tail, and unsynced 4 KiB
    /// pages lost in any order (zeros where a later page persisted).
    #[test]
    fn a_power_cut_keeps_a_prefix_including_every_synced_batch() {
        for holes in [false, true] {
            a_power_cut_keeps_a_prefix(holes);
        }
    }

    fn a_power_cut_keeps_a_prefix(holes: bool) {
        let (mut torn, mut kept_unsynced) = (0, 0);
        for seed in 0..60u64 {
            let fs = setup();
            let mut w = WriteAheadLogger::create(&fs, Path::new(DIR), 1).unwrap();
            let mut seq = 0;
            let mut synced = 0;
            for round in 0..12u64 {
                let group: Vec<Vec<u8>> = (0..=round % 3)
                    .map(|i| {
                        seq += 1;
                        // Smaller under holes, so that whole groups survive often.
                        let max = if holes { 2500 } else { 9000 };
                        batch(
                            seq,
                            ((seed * 7919 + round * 104_729 + i * 31) % max) as usize,
                        )
                    })
                    .collect();
                let refs: Vec<&[u8]> = group.iter().map(|b| b.as_slice()).collect();
                w.append(&refs).unwrap();
                if (seed + round) % 4 == 0 {
                    w.sync_handle().sync().unwrap();
                    synced = seq;
                }
            }
            let after = fs.crash_with(if holes {
                CrashModel::Holes { seed }
            } else {
                CrashModel::Torn { seed }
            });
            let (seqs, report) = replay(&after, &[1], RecoveryMode::TolerateTail)
                .unwrap_or_else(|e| panic!("holes {holes}, seed {seed}: {e}"));
            let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
            assert_eq!(seqs, expected, "holes {holes}, seed {seed}: not a prefix");
            assert!(
                seqs.len() as u64 >= synced,
                "holes {holes}, seed {seed}: lost a synced batch"
            );
            torn += usize::from(report.dropped_tail.is_some());
            kept_unsynced += usize::from(seqs.len() as u64 > synced);
        }
        // The seeds reach both outcomes, so the checks above are not vacuous.
        assert!(
            torn > 10 && kept_unsynced > 10,
            "holes {holes}: {torn} torn, {kept_unsynced} kept"
        );
    }

    /// Batches 1..=n of ~3 KiB in segment 1, synced after batch `synced_through`.
    fn partly_synced(fs: &MemFs, n: u64, synced_through: u64) -> PathBuf {
        let mut w = WriteAheadLogger::create(fs, Path::new(DIR), 1).unwrap();
        for seq in 1..=n {
            w.append(&[&batch(seq, 3000)]).unwrap();
            if seq == synced_through {
                w.sync_handle().sync().unwrap();
            }
        }
        w.path().to_path_buf()
    }

    /// A lost (zeroed) unsynced page with valid records after it: the history up to
    /// the hole, nothing after it (point-in-time recovery), in `tolerate_tail`.
    #[test]
    fn a_hole_in_the_unsynced_tail_keeps_the_history_before_it() {
        let fs = setup();
        let path = partly_synced(&fs, 20, 5);
        let data = fs.read_all(&path).unwrap();
        let durable = read_log(&data, &path, 1).records[6].0 as usize;
        let page = durable.div_ceil(4096) + 3;
        let mut holed = data.clone();
        holed[page * 4096..(page + 1) * 4096].fill(0);
        fs.write_raw(&path, holed).unwrap();
        let (seqs, report) = replay(&fs, &[1], RecoveryMode::TolerateTail).unwrap();
        let k = seqs.len() as u64;
        assert!((5..20).contains(&k), "{k} batches");
        assert_eq!(seqs, (1..=k).collect::<Vec<_>>());
        let (_, tail) = report.dropped_tail.expect("a dropped tail");
        assert!(tail <= (page * 4096) as u64);
        // Absolute refuses any loss; salvage keeps the same prefix.
        assert!(replay(&fs, &[1], RecoveryMode::Absolute).is_err());
        let (salvaged, _) = replay(&fs, &[1], RecoveryMode::Salvage).unwrap();
        assert_eq!(salvaged, seqs);
    }

    /// Damage in synced data, with records framed after the sync that covered it
    /// (their synced length is past the damage): corruption, even when it looks like a
    /// lost page.
    #[test]
    fn damage_before_synced_data_is_corruption_even_when_it_looks_like_a_hole() {
        let fs = setup();
        let path = partly_synced(&fs, 20, 15);
        let data = fs.read_all(&path).unwrap();
        let offsets: Vec<u64> = read_log(&data, &path, 1)
            .records
            .iter()
            .map(|r| r.0)
            .collect();
        let flip = offsets[3] as usize + HEADER_SIZE + 100;
        let mut flipped = data.clone();
        flipped[flip] ^= 0x01;
        let mut zeroed = data.clone();
        zeroed[8192..12288].fill(0);
        for bad in [flipped, zeroed] {
            fs.write_raw(&path, bad).unwrap();
            for mode in [RecoveryMode::TolerateTail, RecoveryMode::Absolute] {
                let (file, _) = corruption_at(replay(&fs, &[1], mode));
                assert_eq!(file, path);
            }
            let (seqs, report) = replay(&fs, &[1], RecoveryMode::Salvage).unwrap();
            assert!(seqs.len() >= 17 && seqs.contains(&20), "{seqs:?}");
            assert!(!report.salvaged.is_empty());
        }
    }

    /// A segment an older build wrote (v1 framing, header version 1) replays.
    #[test]
    fn a_v1_segment_still_replays() {
        let fs = setup();
        let header = encode_segment_header_version(3, 1);
        let batches: Vec<Vec<u8>> = (1..=4).map(|s| batch(s, 20_000)).collect();
        let mut records: Vec<&[u8]> = vec![&header];
        records.extend(batches.iter().map(|b| b.as_slice()));
        let data = encode_log_v1(&records);
        let path = Path::new(DIR).join(segment_file_name(3));
        let f = fs.create(&path).unwrap();
        f.append(&data).unwrap();
        f.sync().unwrap();
        for mode in [
            RecoveryMode::TolerateTail,
            RecoveryMode::Absolute,
            RecoveryMode::Salvage,
        ] {
            let (seqs, report) = replay(&fs, &[3], mode).unwrap();
            assert_eq!((seqs, report.salvaged.len()), (vec![1, 2, 3, 4], 0));
        }
        // A v1 header on v2 framing (or the reverse) is no segment this build wrote.
        let mut w = LogWriter::new(fs.create(&path).unwrap(), path.clone(), 3);
        w.add_records(&[&header, &batches[0]]).unwrap();
        assert_eq!(
            corruption_at(replay(&fs, &[3], RecoveryMode::TolerateTail)).1,
            0
        );
    }

    /// An open that dropped a torn tail creates its new segment before its manifest
    /// edit retires the torn one; a power cut in between leaves both.
    #[test]
    fn a_torn_segment_followed_only_by_empty_segments_is_still_the_last() {
        let fs = setup();
        let path = write_segment(&fs, 1, &[batch(1, 10), batch(2, 10)]);
        let data = fs.read_all(&path).unwrap();
        fs.write_raw(&path, data[..data.len() - 3].to_vec())
            .unwrap();
        write_segment(&fs, 2, &[]);
        write_segment(&fs, 3, &[]);
        let (seqs, report) = replay(&fs, &[1, 2, 3], RecoveryMode::TolerateTail).unwrap();
        assert_eq!(seqs, vec![1]);
        assert_eq!(report.dropped_tail.map(|(p, _)| p), Some(path));
        assert!(replay(&fs, &[1, 2, 3], RecoveryMode::Absolute).is_err());
        // A batch in a later segment makes the torn one an earlier segment again.
        write_segment(&fs, 3, &[batch(3, 10)]);
        assert!(replay(&fs, &[1, 2, 3], RecoveryMode::TolerateTail)
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn an_error_from_apply_stops_the_replay() {
        let fs = setup();
        write_segment(&fs, 1, &[batch(1, 1), batch(2, 1)]);
        let mut seen = 0;
        let r = replay_segments(
            &fs,
            Path::new(DIR),
            &[1],
            RecoveryMode::TolerateTail,
            |_, _, _| {
                seen += 1;
                Err(LsmError::Closed)
            },
        );
        assert!(matches!(r, Err(LsmError::Closed)));
        assert_eq!(seen, 1);
    }
}
