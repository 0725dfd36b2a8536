//! What [`crate::Lsm::verify`] reports: the files it read and checked.

use std::path::PathBuf;

/// What kind of file a [`FileReport`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An SSTable.
    Table,
    /// A WAL segment.
    Wal,
    /// The manifest.
    Manifest,
}

/// One checked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Where it is.
    pub path: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Its size.
    pub bytes: u64,
    /// Entries (tables) or records (WAL segments, manifest).
    pub entries: u64,
    /// For tables: the md5 of the file, in hex as `md5sum` prints it.
    pub md5: Option<String>,
}

/// The result of [`crate::Lsm::verify`]: every file read and every checksum checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Each checked file.
    pub files: Vec<FileReport>,
    /// Bytes read.
    pub total_bytes: u64,
}
