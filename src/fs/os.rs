//! The real file system.

use super::{FileLock, FileSystem, RandomAccessFile, WritableFile};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The operating system's file system (std::fs, unbuffered: every append is one
/// `write(2)`, so an acknowledged write is in the kernel before the call returns).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

struct OsWritable {
    file: File,
    len: AtomicU64,
    /// The file's size as set ahead of the appends (0: never set, the file is as long
    /// as what was appended).
    reserved: AtomicU64,
    /// The step of `reserved` (0 for a file that reserves nothing).
    reserve: u64,
}

impl OsWritable {
    fn new(file: File, reserve: u64) -> OsWritable {
        OsWritable {
            file,
            len: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            reserve,
        }
    }
}

impl WritableFile for OsWritable {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let end = self.len.load(Ordering::Acquire) + data.len() as u64;
        if self.reserve > 0 && end > self.reserved.load(Ordering::Acquire) {
            // A sparse extension (no blocks allocated): the bytes past `len` read as
            // zeros, which the log reader takes for the end of the log. Appends keep
            // writing at the file position, which the extension does not move.
            let size = end.div_ceil(self.reserve) * self.reserve;
            self.file.set_len(size)?;
            self.reserved.store(size, Ordering::Release);
        }
        (&self.file).write_all(data)?;
        self.len.fetch_add(data.len() as u64, Ordering::Release);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn finish(&self) -> io::Result<()> {
        let len = self.len.load(Ordering::Acquire);
        if self.reserved.load(Ordering::Acquire) > len {
            self.file.set_len(len)?;
            self.reserved.store(len, Ordering::Release);
        }
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
}

struct OsReadable {
    file: File,
    len: u64,
}

impl RandomAccessFile for OsReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// Holds the open file; the kernel releases the `flock` when it is closed, and also
/// when the process dies, so `kill -9` frees the database. std opens files with
/// `O_CLOEXEC`, so exec'd children do not inherit the lock.
struct OsLock {
    _file: File,
}

impl FileLock for OsLock {}

/// `path` created, or truncated when it exists, for writing.
fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

impl FileSystem for OsFs {
    fn modified(&self, path: &Path) -> io::Result<std::time::SystemTime> {
        fs::metadata(path)?.modified()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(OsWritable::new(create_truncated(path)?, 0)))
    }

    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(OsWritable::new(
            create_truncated(path)?,
            super::LOG_RESERVE_BYTES,
        )))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        // To the end of the file as it is while being read, not as long as it was when
        // opened: a live WAL segment shrinks when `finish` gives back its reserved end.
        fs::read(path)
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Arc::new(OsReadable { file, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(path)? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another handle",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        if fs::hard_link(from, to).is_err() {
            fs::copy(from, to)?;
        }
        File::open(to)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::LOG_RESERVE_BYTES;

    /// A log file's size runs ahead of its appends in reserve steps (zeros past the
    /// data), `finish` cuts it back to the data, and appends go on after it.
    #[test]
    fn a_log_file_reserves_its_size_ahead_and_finish_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        let f = OsFs.create_log(&path).unwrap();
        let size = || fs::metadata(&path).unwrap().len();
        f.append(b"hello").unwrap();
        f.sync().unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(size(), LOG_RESERVE_BYTES, "reserved ahead");
        let big = vec![7u8; LOG_RESERVE_BYTES as usize];
        f.append(&big).unwrap();
        assert_eq!(size(), 2 * LOG_RESERVE_BYTES, "grows by whole steps");
        let data = OsFs.read_all(&path).unwrap();
        assert_eq!(&data[..5], b"hello");
        assert_eq!(&data[5..5 + big.len()], &big[..]);
        assert!(
            data[5 + big.len()..].iter().all(|&b| b == 0),
            "reserved bytes are zeros"
        );
        f.finish().unwrap();
        assert_eq!(size(), f.len());
        f.append(b"!").unwrap();
        f.finish().unwrap();
        let data = OsFs.read_all(&path).unwrap();
        assert_eq!(data.len() as u64, 5 + LOG_RESERVE_BYTES + 1);
        assert_eq!(data.last(), Some(&b'!'));
        // An ordinary file reserves nothing.
        let plain = dir.path().join("plain");
        let p = OsFs.create(&plain).unwrap();
        p.append(b"abc").unwrap();
        assert_eq!(fs::metadata(&plain).unwrap().len(), 3);
    }
}
