//! The file-system seam: every byte the engine reads or writes goes through
//! [`FileSystem`], so tests can swap the operating system for `MemFs` (feature `sim`), which drops
//! unsynced data on a simulated power cut and fails chosen operations on demand.
//!
//! The engine only ever creates files, appends to them, reads them at offsets, syncs
//! them, renames and deletes them. That small vocabulary is what makes the power-cut
//! model in `MemFs` exact.

#[cfg(any(test, feature = "sim"))]
mod mem;
mod os;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(any(test, feature = "sim"))]
pub use mem::{CrashModel, MemFs, CRASH_PAGE_SIZE};
pub use os::OsFs;

/// The step in which [`FileSystem::create_log`] files of the OS file system grow:
/// one size change per MiB of log instead of one per append. On Linux this made a
/// synced 128-byte append about 1.4x faster here (scripts/fsync_probe.c: 3.4-3.8k
/// against 4.0-6.0k fdatasync/s).
pub const LOG_RESERVE_BYTES: u64 = 1 << 20;

/// A file opened for appending.
///
/// REQUIRES: `append` is called by one thread at a time; `sync` may run concurrently
/// with `append` from another thread (the WAL's interval syncer does).
pub trait WritableFile: Send + Sync {
    /// Appends all of `data`. On return the bytes are in the OS (a crash of the process
    /// keeps them); only [`WritableFile::sync`] makes them survive a power cut.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Bytes appended so far.
    fn len(&self) -> u64;
    /// True when nothing was appended yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Gives back the space reserved past the appended bytes (a file from
    /// [`FileSystem::create_log`]), so the file ends at its last append, then syncs.
    fn finish(&self) -> io::Result<()> {
        self.sync()
    }
}

/// A file opened for reading at offsets. Safe to share between threads.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` from `offset`; an `UnexpectedEof` error when the file is shorter.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's size when it was opened.
    fn len(&self) -> u64;
    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An exclusive lock on a file, held until dropped.
pub trait FileLock: Send + Sync {}

/// The operations the engine needs from a file system.
pub trait FileSystem: Send + Sync + 'static {
    /// Creates `path` and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates a new empty file (truncating one that exists) for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Creates a new empty file for a log: small appends, each maybe synced. A file
    /// system may reserve its size ahead of the appends (the OS one does, in steps of
    /// [`LOG_RESERVE_BYTES`]), so that a sync after an append makes the data durable
    /// without a change of the file's size to commit too. The reserved bytes read as
    /// zeros until written; [`WritableFile::finish`] gives them back.
    fn create_log(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.create(path)
    }
    /// Opens an existing file for reading.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not full paths), in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creates, renames, deletes) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// True when `path` names an existing file or directory.
    fn exists(&self, path: &Path) -> bool;
    /// When `path` was last written, where the file system keeps that (the default:
    /// `Unsupported`, and an age-based `wal.retention` then keeps the file).
    fn modified(&self, path: &Path) -> io::Result<std::time::SystemTime> {
        let _ = path;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    /// Takes an exclusive lock on `path` (created if missing). Fails at once with
    /// `io::ErrorKind::WouldBlock` when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Makes `to` a second name of `from` (a hard link), or copies it where links are
    /// not possible. `to` is synced either way.
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let f = self.open(path)?;
        let len = usize::try_from(f.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }
}

/// The parent directory of `path` (`.` for a bare file name), the one to sync after
/// creating, renaming or deleting `path`.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
