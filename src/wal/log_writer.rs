//! `LogWriter`: appends records to a log in the block framing of [`super::format`] (v2).
//! Generic over what a record holds, so the WAL and the MANIFEST share it.

use super::format::{log_tag, put_fragment, put_fragment_v1, FragmentType, Framing, BLOCK_SIZE};
use crate::fs::WritableFile;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Above this, the framing buffer is released after a call instead of kept: one huge
/// batch should not pin its size in memory for the life of the log.
const MAX_RETAINED_BUFFER: usize = 1 << 20;

/// Appends framed records to one log file.
///
/// After a failed append the writer refuses further records: part of the frames may
/// have reached the file, and appending after them would put valid records behind
/// damage, which recovery must report as corruption rather than a torn tail. The owner
/// starts a new log instead.
pub struct LogWriter {
    file: Arc<SyncTracked>,
    path: PathBuf,
    /// The low 32 bits of the file number, carried by every fragment.
    log: u32,
    /// Bytes in the file, as this writer framed them.
    len: u64,
    /// Reused between calls so framing does not allocate per write.
    buf: Vec<u8>,
    failed: bool,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("failed", &self.failed)
            .finish()
    }
}

impl LogWriter {
    /// A writer appending to `file`, a new empty file found at `path` (the path is only
    /// used in messages) whose file number is `number`. A non-empty file is continued
    /// at its end; nothing of it counts as synced until the first sync.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, number: u64) -> LogWriter {
        let file = Arc::new(SyncTracked {
            file: Arc::from(file),
            synced: AtomicU64::new(0),
        });
        LogWriter {
            len: file.len(),
            file,
            path,
            log: log_tag(number),
            buf: Vec::new(),
            failed: false,
        }
    }

    /// Frames every record of `records`, in order, and writes them all with one
    /// `append`, so a group of batches from many writers costs one write.
    pub fn add_records(&mut self, records: &[&[u8]]) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "an earlier append to {} failed; the log cannot be continued",
                self.path.display()
            )));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // Read once per call: every fragment of the group claims the same durable
        // length, one that a sync had completed before the group was framed.
        let synced = u32::try_from(self.file.synced.load(Ordering::Acquire)).unwrap_or(u32::MAX);
        let end = frame(&mut buf, self.len, records, Framing::V2, self.log, synced);
        let res = self.file.append(&buf);
        if buf.capacity() <= MAX_RETAINED_BUFFER {
            self.buf = buf;
        }
        match res {
            Ok(()) => {
                self.len = end;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Appends one record (one `append`).
    pub fn add_record(&mut self, record: &[u8]) -> io::Result<()> {
        self.add_records(&[record])
    }

    /// Makes every record added so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync()
    }

    /// Bytes in the log file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file, for a thread that syncs it while this writer keeps appending. A sync
    /// through it counts for the synced length later fragments carry.
    pub fn file_handle(&self) -> Arc<dyn WritableFile> {
        self.file.clone()
    }

    /// Bytes of the file known durable: the length before the last completed sync began.
    #[cfg(test)]
    pub fn synced_len(&self) -> u64 {
        self.file.synced.load(Ordering::Acquire)
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The log file, remembering how much of it a completed sync made durable, whichever
/// thread synced it.
struct SyncTracked {
    file: Arc<dyn WritableFile>,
    synced: AtomicU64,
}

impl WritableFile for SyncTracked {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.file.append(data)
    }

    fn sync(&self) -> io::Result<()> {
        // Only what was appended before the sync started is known durable after it; an
        // append racing the sync may or may not be covered.
        let len = self.file.len();
        self.file.sync()?;
        self.synced.fetch_max(len, Ordering::AcqRel);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.file.len()
    }

    fn finish(&self) -> io::Result<()> {
        let len = self.file.len();
        self.file.finish()?;
        self.synced.fetch_max(len, Ordering::AcqRel);
        Ok(())
    }
}

#[cfg(any(test, feature = "fuzzing"))]
/// The bytes of a whole log holding `records` in the v1 framing. The engine writes v2;
/// this is kept so tests and fuzz seeds can make the old files this build must read.
pub fn encode_log_v1(records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, 0, records, Framing::V1, 0, 0);
    out
}

/// Appends to `out` the frames of `records` for a log whose file is `start` bytes long;
/// returns the file length after them. `log` and `synced` fill the v2 header fields.
fn frame(
    out: &mut Vec<u8>,
    start: u64,
    records: &[&[u8]],
    framing: Framing,
    log: u32,
    synced: u32,
) -> u64 {
    let header_size = framing.header_size();
    let mut block_offset = (start % BLOCK_SIZE as u64) as usize;
    let begin = out.len();
    for record in records {
        let mut rest: &[u8] = record;
        let mut first = true;
        // Runs at least once so that an empty record still gets its FULL fragment.
        loop {
            let left = BLOCK_SIZE - block_offset;
            if left < header_size {
                out.resize(out.len() + left, 0);
                block_offset = 0;
            }
            let avail = BLOCK_SIZE - block_offset - header_size;
            let n = rest.len().min(avail);
            let last = n == rest.len();
            let ty = match (first, last) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
                (false, true) => FragmentType::Last,
            };
            // `n <= rest.len()` by its definition above.
            let (piece, after) = rest.split_at_checked(n).unwrap_or((rest, &[]));
            match framing {
                Framing::V1 => put_fragment_v1(out, ty, piece),
                Framing::V2 => put_fragment(out, ty, log, synced, piece),
            }
            block_offset += header_size + n;
            rest = after;
            first = false;
            if last {
                break;
            }
        }
    }
    start + (out.len() - begin) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::wal::format::{FragmentHeader, HEADER_SIZE, HEADER_SIZE_V1};
    use crate::wal::read_log;

    const NUMBER: u64 = 9;

    fn new_log(fs: &MemFs, name: &str) -> LogWriter {
        fs.create_dir_all(Path::new("d")).unwrap();
        let path = Path::new("d").join(name);
        LogWriter::new(fs.create(&path).unwrap(), path, NUMBER)
    }

    #[test]
    fn add_records_is_one_append() {
        let fs = MemFs::new();
        let mut w = new_log(&fs, "LOG");
        let big = vec![7u8; 3 * BLOCK_SIZE];
        let before = fs.ops();
        w.add_records(&[b"a", &big, b"", b"c"]).unwrap();
        assert_eq!(fs.ops() - before, 1);
        assert_eq!(w.len(), fs.read_all(w.path()).unwrap().len() as u64);
    }

    #[test]
    fn fragments_never_cross_blocks_and_trailers_are_zero() {
        // Records sized so that block tails of every length 0..HEADER_SIZE occur.
        let fs = MemFs::new();
        let mut w = new_log(&fs, "LOG");
        let mut recs = Vec::new();
        for i in 0..40usize {
            recs.push(vec![i as u8; BLOCK_SIZE - HEADER_SIZE - i]);
        }
        for r in &recs {
            w.add_record(r).unwrap();
        }
        let data = fs.read_all(w.path()).unwrap();
        // Records 1..=6 each start a block and leave a trailer of `i` bytes.
        for i in 1..HEADER_SIZE {
            let end = (i + 1) * BLOCK_SIZE;
            assert!(data[end - i..end].iter().all(|&b| b == 0), "trailer {i}");
        }
        let got = read_log(&data, w.path(), NUMBER);
        assert!(got.damage.is_empty() && got.torn_tail.is_none());
        let payloads: Vec<_> = got.records.into_iter().map(|(_, p)| p).collect();
        assert_eq!(payloads, recs);
    }

    #[test]
    fn a_failed_append_stops_the_writer() {
        let fs = MemFs::new();
        let mut w = new_log(&fs, "LOG");
        w.add_record(b"ok").unwrap();
        fs.fail_after(1, true);
        assert!(w.add_record(b"lost").is_err());
        assert!(w.add_record(b"after").is_err());
        let data = fs.read_all(w.path()).unwrap();
        assert_eq!(read_log(&data, w.path(), NUMBER).records.len(), 1);
    }

    #[test]
    fn fragments_carry_the_log_number_and_the_length_synced_before_they_were_framed() {
        let fs = MemFs::new();
        let mut w = new_log(&fs, "LOG");
        w.add_record(b"one").unwrap();
        let one = w.len();
        // A sync through the handle (the interval syncer's way) counts too.
        w.file_handle().sync().unwrap();
        assert_eq!(w.synced_len(), one);
        w.add_records(&[b"two", b"three"]).unwrap();
        let data = fs.read_all(w.path()).unwrap();
        let at = |o: usize| FragmentHeader::parse(Framing::V2, &data[o..]).unwrap();
        assert_eq!((at(0).log, at(0).synced), (NUMBER as u32, 0));
        let two = one as usize;
        let three = two + HEADER_SIZE + 3;
        assert_eq!((at(two).log, at(two).synced), (NUMBER as u32, one as u32));
        assert_eq!(at(three).synced, one as u32);
    }

    #[test]
    fn the_v1_encoder_writes_7_byte_headers_that_read_back() {
        let recs: Vec<Vec<u8>> = vec![vec![1; 10], vec![2; 2 * BLOCK_SIZE], vec![]];
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        let data = encode_log_v1(&refs);
        assert_eq!(&data[HEADER_SIZE_V1..HEADER_SIZE_V1 + 10], &[1; 10]);
        let got = read_log(&data, Path::new("LOG"), 0);
        assert_eq!(got.framing, Framing::V1);
        let payloads: Vec<_> = got.records.into_iter().map(|(_, p)| p).collect();
        assert_eq!(payloads, recs);
    }
}
