//! `lsm`: an embedded key-value storage engine built as a log-structured merge tree.
//!
//! ```
//! use lsm::{Lsm, WriteBatch};
//!
//! # fn main() -> lsm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Lsm::open(dir.path().join("data"))?;
//! db.put(b"user:1", b"ada")?;
//! db.put(b"user:2", b"grace")?;
//! assert_eq!(db.get(b"user:1")?, Some(b"ada".to_vec()));
//!
//! let mut batch = WriteBatch::new();
//! batch.put(b"user:3", b"edsger").delete(b"user:2");
//! db.write(batch)?;                       // all or nothing, also across a crash
//!
//! let keys: Vec<Vec<u8>> = db.prefix(b"user:").map(|kv| kv.map(|(k, _)| k)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, vec![b"user:1".to_vec(), b"user:3".to_vec()]);
//! db.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! Writes go to a write-ahead log and an in-memory table; full tables are flushed to
//! sorted, checksummed files in the background. See `docs/FORMAT.md` for every byte on
//! disk and the README for the durability contract.
//!
//! ## Features
//!
//! - `cli` (default): the `lsm` command-line tool (`src/bin/lsm`) and what only it
//!   needs (clap, rustyline, indicatif, hdrhistogram, serde_json). A library user
//!   turns it off with `lsm = { version = "0.1", default-features = false }`; the C
//!   library (`make install`) and the Python package are built without it.
//!
//! - `sim` (off): `fs::MemFs`, the in-memory file system that simulates power cuts
//!   (a synced prefix, a torn tail, or unsynced pages lost in any order) and injects
//!   failures, for testing code built on `lsm` the way its own tests do.
//! - `fuzzing` (off, implies `sim`): the entry points of the fuzz targets in `fuzz/`.
//!
//! Neither is in the default build, so `liblsm.so` and `liblsm.a` carry no test
//! machinery (`scripts/test_c.sh` checks with `nm`). Every engine capability
//! (compression, caches, the C ABI in `liblsm.so`/`liblsm.a`) is always built in; there
//! is no feature to enable for it.

#![deny(missing_docs)]
// `unsafe` is allowed only where a module says why (the C ABI).
#![deny(unsafe_code)]

mod async_lsm;
pub mod batch;
mod bounds;
pub(crate) mod cache;
pub mod changes;
pub(crate) mod coding;
pub(crate) mod compaction;
pub mod config;
mod db;
pub mod error;
#[expect(
    unsafe_code,
    reason = "the C ABI takes raw pointers from C and exports unmangled symbols"
)]
mod ffi;
pub(crate) mod filename;
pub mod filter;
pub mod fs;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_api;
pub(crate) mod gate;
mod histogram;
pub(crate) mod iter;
mod iterator;
pub(crate) mod key;
mod keyspace;
mod logging;
mod lsm;
pub(crate) mod manifest;
pub(crate) mod memtable;
pub mod merge;
mod pinned;
pub(crate) mod range_del;
mod raw_iterator;
mod report;
mod runtime;
mod snapshot;
pub(crate) mod sstable;
mod stats;
pub mod tools;
pub mod transaction;
pub mod ttl;
mod view;
pub(crate) mod wal;
pub mod workload;

pub use crate::lsm::{Lsm, WriteOptions};
pub use async_lsm::AsyncLsm;
pub use batch::{WriteBatch, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use bounds::prefix_end;
pub use changes::{ChangeBatch, ChangeFeed, ChangeKind, ChangeOp, ChangeStream, Subscription};
pub use config::{
    CacheConfig, CompactionConfig, Compression, Config, Directories, MemTableConfig, RecoveryMode,
    SSTableConfig, SyncMode, WALConfig, WalRetention,
};
pub use db::KEYSPACE_KEYS;
#[cfg(feature = "sim")]
pub use db::{CompactionHook, CompactionJobInfo};
pub use error::{LsmError, Result};
pub use iterator::Iter;
pub use keyspace::{Keyspace, KeyspaceOptions};
pub use merge::MergeOperator;
pub use pinned::PinnedValue;
pub use raw_iterator::RawIterator;
pub use report::{FileKind, FileReport, VerifyReport};
pub use snapshot::Snapshot;
pub use stats::{LevelStats, Percentiles, Stats};
pub use transaction::{Transaction, TxIter};
