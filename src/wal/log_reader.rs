//! `read_log`: recovers the records of a log written by [`super::LogWriter`], telling
//! damage in the middle of the log from a torn tail left by a crash.

use super::format::{fragment_crc, FragmentType, BLOCK_SIZE, HEADER_SIZE};
use std::path::Path;

/// A region of a log that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset in the file where the damage was found.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

/// Everything [`read_log`] found in a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogContents {
    /// The complete records in log order: the offset of the record's first fragment,
    /// and the record.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Damage followed by at least one complete record: data lost in the middle of the
    /// log, which a crash cannot explain.
    pub damage: Vec<Damage>,
    /// Where the unreadable end of the log begins, when it has one: damage or an
    /// incomplete record after which no complete record follows, which is what a crash
    /// in the middle of an append leaves.
    pub torn_tail: Option<u64>,
}

/// Reads every record of the log `data`, the contents of the file at `path` (used in
/// log messages only). Never panics: any byte string is a log with some records, some
/// damage and maybe a torn tail.
///
/// A fragment with a bad CRC, a length running past its block or a zeroed header is
/// damage, and reading resumes at the next block boundary, the next place a fragment is
/// known to start. A fragment with a good CRC but an unknown type or out of order (a
/// MIDDLE or LAST without FIRST, a FIRST without LAST) is damage too, but only the
/// fragment and the broken record are dropped: its framing is trustworthy, so the
/// fragments after it in the same block are still read.
pub fn read_log(data: &[u8], path: &Path) -> LogContents {
    let mut r = Reader::default();
    let mut pos = 0usize;
    while pos < data.len() {
        let block_end = (pos / BLOCK_SIZE + 1) * BLOCK_SIZE;
        if block_end - pos < HEADER_SIZE {
            // The writer's zero padding; its bytes carry nothing worth checking.
            pos = block_end;
            continue;
        }
        let Some(h) = data.get(pos..pos + HEADER_SIZE) else {
            r.lose(pos as u64);
            break;
        };
        let crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let n = usize::from(u16::from_le_bytes([h[4], h[5]]));
        let type_byte = h[6];
        let frag_end = pos + HEADER_SIZE + n;
        if crc == 0 && n == 0 && type_byte == 0 {
            r.damage(pos, "zeroed fragment header".into());
            pos = resync(data, pos + 1);
            continue;
        }
        if frag_end > block_end {
            r.damage(
                pos,
                format!("fragment length {n} runs past the end of its block"),
            );
            pos = resync(data, pos + 1);
            continue;
        }
        let Some(payload) = data.get(pos + HEADER_SIZE..frag_end) else {
            // Cut by the end of the file: a torn append, unless damage is what made the
            // length too long, which a torn tail reports just as well.
            r.lose(pos as u64);
            break;
        };
        if crc != fragment_crc(type_byte, payload) {
            r.damage(pos, "fragment checksum mismatch".into());
            pos = resync(data, pos + 1);
            continue;
        }
        r.fragment(pos as u64, type_byte, payload);
        pos = frag_end;
    }
    let contents = r.finish();
    if !contents.damage.is_empty() || contents.torn_tail.is_some() {
        log::debug!(
            "log {}: {} damaged region(s), torn tail at {:?}",
            path.display(),
            contents.damage.len(),
            contents.torn_tail
        );
    }
    contents
}

/// The first offset at or after `from` where a whole fragment with a good checksum
/// starts (the end of `data` when there is none).
///
/// After damage the framing cannot be trusted, so every offset is tried, not just the
/// next block boundary: a valid record anywhere after the damage proves the damage was
/// not a torn tail. Zeroed or garbage bytes fail the cheap type and length checks, so
/// the scan costs a checksum only where a plausible header stands.
fn resync(data: &[u8], from: usize) -> usize {
    let mut p = from;
    while p + HEADER_SIZE <= data.len() {
        let block_end = (p / BLOCK_SIZE + 1) * BLOCK_SIZE;
        if block_end - p < HEADER_SIZE {
            p = block_end;
            continue;
        }
        if let Some(h) = data.get(p..p + HEADER_SIZE) {
            let type_byte = h[6];
            if FragmentType::from_u8(type_byte).is_some() {
                let n = usize::from(u16::from_le_bytes([h[4], h[5]]));
                let end = p + HEADER_SIZE + n;
                if end <= block_end {
                    if let Some(payload) = data.get(p + HEADER_SIZE..end) {
                        let crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                        if crc == fragment_crc(type_byte, payload) {
                            return p;
                        }
                    }
                }
            }
        }
        p += 1;
    }
    data.len()
}

/// True when a complete fragment (header and the whole payload its header declares)
/// starts at `offset`: a damaged fragment that is complete was written whole, so it is
/// not the cut-off end of an interrupted append.
pub fn complete_fragment_at(data: &[u8], offset: u64) -> bool {
    let Ok(at) = usize::try_from(offset) else {
        return false;
    };
    match data.get(at..at.saturating_add(HEADER_SIZE)) {
        Some(h) if h.len() == HEADER_SIZE => {
            let n = usize::from(u16::from_le_bytes([h[4], h[5]]));
            at + HEADER_SIZE + n <= data.len() && h.iter().any(|&b| b != 0)
        }
        _ => false,
    }
}

/// Reassembles records from fragments and sorts losses into damage and torn tail.
#[derive(Default)]
struct Reader {
    out: LogContents,
    /// Damage since the last complete record: becomes mid-log damage when a record
    /// follows, part of the torn tail otherwise.
    pending: Vec<Damage>,
    /// The first offset lost since the last complete record.
    lost_from: Option<u64>,
    /// The record being reassembled: offset of its FIRST fragment and bytes so far.
    partial: Option<(u64, Vec<u8>)>,
    /// After damage, the MIDDLE and LAST fragments of the record it broke are expected
    /// and dropped without a second report.
    resyncing: bool,
}

impl Reader {
    fn lose(&mut self, offset: u64) {
        let start = match self.partial.take() {
            Some((start, _)) => start.min(offset),
            None => offset,
        };
        self.lost_from = Some(self.lost_from.map_or(start, |l| l.min(start)));
    }

    fn damage(&mut self, offset: usize, reason: String) {
        let offset = offset as u64;
        let reason = match &self.partial {
            Some((start, _)) => format!("{reason} (record starting at {start} lost)"),
            None => reason,
        };
        self.lose(offset);
        self.pending.push(Damage { offset, reason });
        self.resyncing = true;
    }

    fn fragment(&mut self, offset: u64, type_byte: u8, payload: &[u8]) {
        let Some(ty) = FragmentType::from_u8(type_byte) else {
            self.damage(
                offset as usize,
                format!("unknown fragment type {type_byte}"),
            );
            return;
        };
        match ty {
            FragmentType::Full | FragmentType::First => {
                if let Some((start, _)) = self.partial.take() {
                    self.lose(start);
                    self.pending.push(Damage {
                        offset: start,
                        reason: "fragmented record has no LAST fragment".into(),
                    });
                }
                self.resyncing = false;
                if ty == FragmentType::Full {
                    self.complete(offset, payload.to_vec());
                } else {
                    self.partial = Some((offset, payload.to_vec()));
                }
            }
            FragmentType::Middle | FragmentType::Last => match self.partial.take() {
                Some((start, mut rec)) => {
                    rec.extend_from_slice(payload);
                    if ty == FragmentType::Last {
                        self.complete(start, rec);
                    } else {
                        self.partial = Some((start, rec));
                    }
                }
                None if self.resyncing => {}
                None => self.damage(
                    offset as usize,
                    format!("{ty:?} fragment without a FIRST fragment"),
                ),
            },
        }
    }

    fn complete(&mut self, offset: u64, record: Vec<u8>) {
        self.out.records.push((offset, record));
        self.out.damage.append(&mut self.pending);
        self.lost_from = None;
    }

    fn finish(mut self) -> LogContents {
        if let Some((start, _)) = self.partial.take() {
            self.lose(start);
        }
        self.out.torn_tail = self.lost_from;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::wal::LogWriter;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn write(records: &[Vec<u8>]) -> Vec<u8> {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("d")).unwrap();
        let path = Path::new("d/LOG");
        let mut w = LogWriter::new(fs.create(path).unwrap(), path.into());
        for r in records {
            w.add_record(r).unwrap();
        }
        fs.read_all(path).unwrap()
    }

    fn random_records(rng: &mut StdRng, n: usize, max: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let mut r = vec![0u8; rng.random_range(0..max)];
                rng.fill(&mut r[..]);
                r
            })
            .collect()
    }

    fn payloads(c: &LogContents) -> Vec<Vec<u8>> {
        c.records.iter().map(|(_, p)| p.clone()).collect()
    }

    #[test]
    fn round_trips_records_of_random_sizes_across_blocks() {
        let mut rng = StdRng::seed_from_u64(1);
        let recs = random_records(&mut rng, 200, 100 << 10);
        let data = write(&recs);
        assert!(data.len() > 100 * BLOCK_SIZE);
        let got = read_log(&data, Path::new("LOG"));
        assert_eq!(got.damage, vec![]);
        assert_eq!(got.torn_tail, None);
        assert_eq!(payloads(&got), recs);
        let offsets: Vec<u64> = got.records.iter().map(|(o, _)| *o).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_cut_of_the_last_record_is_a_torn_tail() {
        let mut rng = StdRng::seed_from_u64(2);
        // The last record spans three blocks so that cuts fall in every kind of place.
        let mut recs = random_records(&mut rng, 5, 1000);
        recs.push(vec![9u8; 2 * BLOCK_SIZE + 100]);
        let data = write(&recs);
        let prefix = write(&recs[..5]);
        for cut in prefix.len()..data.len() {
            let got = read_log(&data[..cut], Path::new("LOG"));
            assert_eq!(payloads(&got), &recs[..5], "cut {cut}");
            assert!(got.damage.is_empty(), "cut {cut}: {:?}", got.damage);
            // A cut inside the padding before the next record loses nothing.
            if cut > prefix.len() {
                assert_eq!(got.torn_tail, Some(prefix.len() as u64), "cut {cut}");
            }
        }
    }

    #[test]
    fn damage_in_the_middle_is_reported_and_only_the_damaged_record_is_lost() {
        let recs: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 10_000]).collect();
        let mut data = write(&recs);
        data[HEADER_SIZE + 5] ^= 0x40; // the payload of record 0
        let got = read_log(&data, Path::new("LOG"));
        assert_eq!(got.damage.len(), 1);
        assert_eq!(got.damage[0].offset, 0);
        assert_eq!(got.torn_tail, None);
        // Reading resumes at the next valid fragment, record 1, in the same block.
        assert!(payloads(&got) == recs[1..], "only record 0 is lost");
    }

    /// Regression: a flipped bit early in a small last segment used to send the reader
    /// to the next block boundary (past the end of the file), so the damage looked like
    /// a torn tail and every record after it was dropped silently.
    #[test]
    fn regression_damage_followed_by_records_in_the_same_block_is_not_a_torn_tail() {
        let recs: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i; 50]).collect();
        let mut data = write(&recs);
        let at = data.len() / 4;
        data[at] ^= 0x10;
        let got = read_log(&data, Path::new("LOG"));
        assert_eq!(
            got.torn_tail, None,
            "damage with records after it is not a tail"
        );
        assert_eq!(got.damage.len(), 1);
        assert_eq!(got.records.len(), recs.len() - 1);
    }

    #[test]
    fn damage_near_the_end_without_a_record_after_it_is_a_torn_tail() {
        let recs: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 100]).collect();
        let mut data = write(&recs);
        let last = data.len() - 10;
        data[last] ^= 1;
        let got = read_log(&data, Path::new("LOG"));
        assert_eq!(payloads(&got), &recs[..2]);
        assert!(got.damage.is_empty());
        assert_eq!(got.torn_tail, Some(2 * (HEADER_SIZE as u64 + 100)));
    }

    #[test]
    fn an_orphan_fragment_drops_only_itself() {
        let mut data = Vec::new();
        super::super::format::put_fragment(&mut data, FragmentType::Last, b"orphan");
        super::super::format::put_fragment(&mut data, FragmentType::Full, b"ok");
        let got = read_log(&data, Path::new("LOG"));
        assert_eq!(payloads(&got), vec![b"ok".to_vec()]);
        assert_eq!(got.damage.len(), 1);
        assert_eq!(got.damage[0].offset, 0);
    }

    #[test]
    fn garbage_and_mutated_logs_never_panic() {
        let mut rng = StdRng::seed_from_u64(3);
        let recs = random_records(&mut rng, 30, 40_000);
        let valid = write(&recs);
        for round in 0..2000 {
            let data: Vec<u8> = match round % 3 {
                0 => {
                    let mut d = vec![0u8; rng.random_range(0..3 * BLOCK_SIZE)];
                    rng.fill(&mut d[..]);
                    d
                }
                1 => {
                    let mut d = valid.clone();
                    for _ in 0..rng.random_range(1..8) {
                        let i = rng.random_range(0..d.len());
                        d[i] = rng.random();
                    }
                    d.truncate(rng.random_range(0..=d.len()));
                    d
                }
                _ => {
                    // Valid fragments shuffled, so CRCs pass but order is broken.
                    let mut d = valid.clone();
                    let a = rng.random_range(0..d.len());
                    let b = rng.random_range(0..d.len());
                    let n = rng.random_range(0..2000).min(d.len() - a.max(b));
                    let chunk = d[a..a + n].to_vec();
                    d[b..b + n].copy_from_slice(&chunk);
                    d
                }
            };
            let got = read_log(&data, Path::new("LOG"));
            let len = data.len() as u64;
            assert!(got.records.iter().all(|(o, _)| *o < len));
            assert!(got.damage.iter().all(|d| d.offset < len));
            if let (Some(t), Some((o, _))) = (got.torn_tail, got.records.last()) {
                assert!(t > *o, "torn tail {t} before the last record at {o}");
            }
        }
    }
}
