//! `WriteAheadLogger`: one WAL segment being written.

use super::format::encode_segment_header;
use super::{segment_file_name, LogWriter};
use crate::error::{LsmError, Result};
use crate::fs::{FileSystem, WritableFile};
use std::path::Path;
use std::sync::Arc;

/// Appends encoded write batches to one WAL segment.
#[derive(Debug)]
pub struct WriteAheadLogger {
    log: LogWriter,
    number: u64,
}

impl WriteAheadLogger {
    /// Creates segment `number` in `dir`, writes its header record and makes both the
    /// file and its directory entry durable, so that after a power cut the segment
    /// either exists with its header or a later open finds it empty or absent, never
    /// with a header that disagrees with its name.
    pub fn create(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<WriteAheadLogger> {
        let path = dir.join(segment_file_name(number));
        // A log file: its size may be reserved ahead of the appends (zeros the reader
        // takes for the end of the log), so a synced append commits no size change.
        let file = fs
            .create_log(&path)
            .map_err(|e| LsmError::io_at("create", &path, e))?;
        let mut log = LogWriter::new(file, path, number);
        log.add_record(&encode_segment_header(number))
            .map_err(|e| LsmError::io_at("write the header of", log.path(), e))?;
        log.sync()
            .map_err(|e| LsmError::io_at("sync", log.path(), e))?;
        fs.sync_dir(dir)
            .map_err(|e| LsmError::io_at("sync directory", dir, e))?;
        Ok(WriteAheadLogger { log, number })
    }

    /// Appends the encoded batches `batches`, in order, with one write. They survive a
    /// process crash on return, a power cut only after [`WriteAheadLogger::sync`].
    pub fn append(&mut self, batches: &[&[u8]]) -> Result<()> {
        self.log
            .add_records(batches)
            .map_err(|e| LsmError::io_at("append to", self.log.path(), e))
    }

    /// The segment number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The segment file.
    #[cfg_attr(not(test), expect(dead_code, reason = "kept for the dump tool"))]
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Bytes in the segment, header included; what the engine compares to the segment
    /// size limit.
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    /// The file, for the background thread that syncs it on an interval while writers
    /// keep appending.
    pub fn sync_handle(&self) -> Arc<dyn WritableFile> {
        self.log.file_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::wal::format::decode_segment_header;
    use crate::wal::read_log;

    #[test]
    fn a_created_segment_survives_a_power_cut_with_its_header() {
        let fs = MemFs::new();
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        let w = WriteAheadLogger::create(&fs, dir, 12).unwrap();
        assert_eq!(w.path(), dir.join("000012.log"));
        assert_eq!(w.number(), 12);
        let after = fs.crash(None);
        let data = after.read_all(w.path()).unwrap();
        assert_eq!(data.len() as u64, w.len());
        let got = read_log(&data, w.path(), 12);
        assert_eq!(got.records.len(), 1);
        assert_eq!(
            decode_segment_header(&got.records[0].1).map(|h| h.number),
            Ok(12)
        );
    }

    #[test]
    fn append_is_one_write_and_sync_makes_it_durable() {
        let fs = MemFs::new();
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        let mut w = WriteAheadLogger::create(&fs, dir, 1).unwrap();
        let before = fs.ops();
        w.append(&[b"one", b"two", b"three"]).unwrap();
        assert_eq!(fs.ops() - before, 1);
        w.sync_handle().sync().unwrap();
        let got = read_log(&fs.crash(None).read_all(w.path()).unwrap(), w.path(), 1);
        assert_eq!(got.records.len(), 4);
    }

    #[test]
    fn errors_name_the_segment() {
        let fs = MemFs::new();
        let dir = Path::new("db");
        fs.create_dir_all(dir).unwrap();
        let mut w = WriteAheadLogger::create(&fs, dir, 3).unwrap();
        fs.fail_after(1, false);
        let e = w.append(&[b"x"]).unwrap_err().to_string();
        assert!(e.contains("append to") && e.contains("000003.log"), "{e}");
        assert!(WriteAheadLogger::create(&fs, dir, 4).is_err());
    }
}
