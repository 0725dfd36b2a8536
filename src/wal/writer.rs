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
        let file = fs
            .create(&path)
            .map_err(|e| LsmError::io_at("create", &path, e))?;
        let mut log = LogWriter::new(file, path);
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

    /// Makes every batch appended so far durable.
    pub fn sync(&self) -> Result<()> {
        self.log
            .sync()
            .map_err(|e| LsmError::io_at("sync", self.log.path(), e))
    }

    /// The segment number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Bytes in the segment, header included; what the engine compares to the segment
    /// size limit.
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    /// True when the segment holds nothing, which never happens after `create`.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// The file, for the background thread that syncs it on an interval while writers
    /// keep appending.
    pub fn sync_handle(&self) -> Arc<dyn WritableFile> {
        self.log.file_handle()
    }
}
