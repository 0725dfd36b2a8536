//! `LsmError`: the one error type of the crate.
//!
//! Errors are values. Those about data carry the file and the byte offset where the
//! problem was found, so a user can look at the file with `lsm dump` or a hex editor.

use std::path::{Path, PathBuf};

/// Every failure `lsm` reports.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// An operating-system I/O failure (or a database that refuses writes after one).
    #[error("I/O error: {context}: {source}")]
    Io {
        /// What the engine was doing, with the file name when there is one.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not match their checksum or their format.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in `file` where the damage was detected.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A configuration key or value is not acceptable.
    #[error("config error: {key}: {reason}")]
    Config {
        /// The dotted key, e.g. `memtable.max_entries`.
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The key cache could not be used.
    #[error("cache error: {0}")]
    Cache(String),
    /// A value could not be encoded or decoded.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// The caller passed something the engine cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another handle, in this process or another, holds the database.
    #[error("database is locked by another handle or process: {}", .0.display())]
    Locked(PathBuf),
    /// The database (or the handle the iterator or snapshot came from) was closed.
    #[error("database is closed")]
    Closed,
    /// A transaction's commit found that something it read (a key, or a range it
    /// iterated) was written by another commit after the transaction began. Nothing
    /// of the transaction was applied; run it again (`Lsm::transact` does).
    #[error("transaction conflict: something it read was written after it began")]
    Conflict,
    /// The change feed was asked for history older than what `wal.retention` kept:
    /// `oldest` is the first sequence number it can still serve.
    #[error("changes before sequence {oldest} are no longer kept (see wal.retention)")]
    ChangesPurged {
        /// The oldest sequence number still served.
        oldest: u64,
    },
}

/// `Result` with [`LsmError`].
pub type Result<T, E = LsmError> = std::result::Result<T, E>;

impl LsmError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LsmError::Io {
            context: context.into(),
            source,
        }
    }

    /// An I/O error about one file.
    pub fn io_at(what: &str, path: &Path, source: std::io::Error) -> Self {
        LsmError::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }

    /// Damage found in `file` at `offset`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        LsmError::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// A rejected configuration key.
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        LsmError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// True for [`LsmError::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, LsmError::Corruption { .. })
    }

    /// A copy of this error, for reporting one failure to many callers (group commit,
    /// the sticky background error). `io::Error` is not `Clone`, so its kind and text
    /// are carried over.
    pub fn duplicate(&self) -> LsmError {
        match self {
            LsmError::Io { context, source } => LsmError::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            LsmError::Corruption {
                file,
                offset,
                reason,
            } => LsmError::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            LsmError::Config { key, reason } => LsmError::Config {
                key: key.clone(),
                reason: reason.clone(),
            },
            LsmError::Cache(s) => LsmError::Cache(s.clone()),
            LsmError::Serialization(s) => LsmError::Serialization(s.clone()),
            LsmError::InvalidArgument(s) => LsmError::InvalidArgument(s.clone()),
            LsmError::Locked(p) => LsmError::Locked(p.clone()),
            LsmError::Closed => LsmError::Closed,
            LsmError::Conflict => LsmError::Conflict,
            LsmError::ChangesPurged { oldest } => LsmError::ChangesPurged { oldest: *oldest },
        }
    }
}
