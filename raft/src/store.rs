//! A node's directory, and opening its log store and state machine from it.
//!
//! ```text
//! DIR/raft/           lsm database: keyspaces raft_log (entries) and raft_meta
//!                     (vote, committed, last purged, the state machine's generation)
//! DIR/sm/<gen>/       lsm database of the state machine: keyspaces sm (the map) and
//!                     sm_meta (last applied log id, membership)
//! DIR/snapshots/      the current snapshot archive, <snapshot id>.snap
//! ```
//!
//! Installing a snapshot unpacks it into `sm/<gen + 1>`, then records the new
//! generation in `raft_meta` with a synced write: that write is the one atomic step, so
//! a crash leaves either the old state machine or the new one. An open removes every
//! other generation and every half-written `*.tmp`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lsm::{Config, Keyspace, Lsm, LsmError, WriteOptions};
use openraft::{AnyError, StorageError, StorageIOError};

use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::types::NodeId;

/// The version of the key layout in `raft_meta`, `raft_log`, `sm` and `sm_meta`
/// (`docs/FORMAT.md`, "lsm-raft keys").
pub const LAYOUT_VERSION: u32 = 1;

pub(crate) const RAFT_LOG: &str = "raft_log";
pub(crate) const RAFT_META: &str = "raft_meta";
pub(crate) const SM_DATA: &str = "sm";
pub(crate) const SM_META: &str = "sm_meta";

pub(crate) const KEY_LAYOUT: &[u8] = b"layout";
pub(crate) const KEY_VOTE: &[u8] = b"vote";
pub(crate) const KEY_COMMITTED: &[u8] = b"committed";
pub(crate) const KEY_PURGED: &[u8] = b"last_purged";
pub(crate) const KEY_SM_GENERATION: &[u8] = b"sm_generation";
pub(crate) const KEY_APPLIED: &[u8] = b"last_applied";
pub(crate) const KEY_MEMBERSHIP: &[u8] = b"membership";

pub(crate) const SYNC: WriteOptions = WriteOptions { sync: true };

/// What opening a node's store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The lsm engine refused (a corrupt file, a locked directory, ...).
    #[error(transparent)]
    Lsm(#[from] LsmError),
    /// A file outside the databases (a snapshot, a directory) failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The directory was written by a layout this build does not know.
    #[error("{0}")]
    Layout(String),
}

pub(crate) fn io_at<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The paths of a node's directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn raft(&self) -> PathBuf {
        self.root.join("raft")
    }
    pub fn sm_dir(&self) -> PathBuf {
        self.root.join("sm")
    }
    pub fn sm(&self, generation: u64) -> PathBuf {
        self.sm_dir().join(generation.to_string())
    }
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
}

/// Options for the node's two kinds of database.
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// `config.toml`-style settings applied to both the log database and the state
    /// machine's (`("memtable.max_bytes", "8MiB")`, ...). `wal.sync` is not needed:
    /// log appends and votes are written with a synced write whatever it says.
    pub settings: Vec<(String, String)>,
    /// With the `sim` feature: the file system the databases live on (lsm's `MemFs`
    /// with power cuts, for tests). Snapshot archives always use the OS's, so a store
    /// on a `MemFs` cannot build or install snapshots.
    #[cfg(feature = "sim")]
    pub fs: Option<std::sync::Arc<dyn lsm::fs::FileSystem>>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl StoreOptions {
    pub(crate) fn config(&self, dir: &Path) -> Result<Config, StoreError> {
        let mut config = Config::with_root(dir);
        for (k, v) in &self.settings {
            config.set(k, v)?;
        }
        Ok(config)
    }

    /// Opens the lsm database in `dir` with these options.
    pub(crate) fn open_db(&self, dir: &Path) -> Result<Lsm, StoreError> {
        let config = self.config(dir)?;
        #[cfg(feature = "sim")]
        if let Some(fs) = &self.fs {
            return Ok(Lsm::open_on(config, fs.clone())?);
        }
        Ok(Lsm::open_with_config(config)?)
    }
}

/// Opens (creating if needed) the node directory `dir`: its log store and its state
/// machine, ready for `openraft::Raft::new`.
pub fn open(
    dir: impl AsRef<Path>,
    options: StoreOptions,
) -> Result<(LogStore, StateMachine), StoreError> {
    let layout = Layout {
        root: dir.as_ref().to_path_buf(),
    };
    for d in [layout.root.clone(), layout.sm_dir(), layout.snapshots()] {
        fs::create_dir_all(&d).map_err(io_at("create directory", &d))?;
    }
    let db = options.open_db(&layout.raft())?;
    let meta = db.keyspace(RAFT_META)?;
    let log = db.keyspace(RAFT_LOG)?;
    match meta.get(KEY_LAYOUT)? {
        None => meta.put_opt(KEY_LAYOUT, LAYOUT_VERSION.to_string().as_bytes(), SYNC)?,
        Some(v) if v == LAYOUT_VERSION.to_string().as_bytes() => {}
        Some(v) => {
            return Err(StoreError::Layout(format!(
                "{} has lsm-raft layout {}, this build reads {LAYOUT_VERSION}",
                layout.root.display(),
                String::from_utf8_lossy(&v)
            )))
        }
    }
    let generation = read_generation(&meta)?;
    remove_leftovers(&layout, generation)?;
    let log_store = LogStore::new(db.clone(), log, meta.clone());
    let sm = StateMachine::open(layout, options, meta, generation)?;
    Ok((log_store, sm))
}

fn read_generation(meta: &Keyspace) -> Result<u64, StoreError> {
    match meta.get(KEY_SM_GENERATION)? {
        None => Ok(0),
        Some(v) => std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                StoreError::Layout(format!("raft_meta/sm_generation is not a number: {v:?}"))
            }),
    }
}

/// Removes what a crash can leave behind: state machines of other generations (an
/// install that did not reach its switch, or an old one not yet deleted) and `.tmp`
/// files and directories of snapshots being built or received.
fn remove_leftovers(layout: &Layout, generation: u64) -> Result<(), StoreError> {
    let sm_dir = layout.sm_dir();
    for entry in fs::read_dir(&sm_dir).map_err(io_at("read directory", &sm_dir))? {
        let entry = entry.map_err(io_at("read directory", &sm_dir))?;
        if entry.file_name().to_str() != Some(&generation.to_string()) {
            remove_any(&entry.path())?;
        }
    }
    let snaps = layout.snapshots();
    for entry in fs::read_dir(&snaps).map_err(io_at("read directory", &snaps))? {
        let entry = entry.map_err(io_at("read directory", &snaps))?;
        if entry.file_name().to_string_lossy().ends_with(".tmp") {
            remove_any(&entry.path())?;
        }
    }
    Ok(())
}

pub(crate) fn remove_any(path: &Path) -> Result<(), StoreError> {
    let r = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io {
            what: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The 8-byte key of log index `index`: big-endian, so keys sort as indexes do.
pub(crate) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn key_index(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

// openraft's errors carry a subject (logs, vote, state machine) and a source.
pub(crate) fn read_logs(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}
pub(crate) fn write_logs(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}
pub(crate) fn read_vote(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_vote(AnyError::new(&e)).into()
}
pub(crate) fn write_vote(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_vote(AnyError::new(&e)).into()
}
pub(crate) fn read_sm(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(AnyError::new(&e)).into()
}
pub(crate) fn write_sm(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}
pub(crate) fn read_snapshot(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_snapshot(None, AnyError::new(&e)).into()
}
pub(crate) fn write_snapshot(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

/// Decodes a JSON value stored under `key`; a value that does not parse is corruption
/// and says where it was.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    ks: &Keyspace,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, io::Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: keyspace {} key {}: {e}",
                ks.db().path().display(),
                ks.name(),
                crate::hex::encode(key)
            ),
        )
    })
}

/// Reads and decodes `key`, `None` when absent.
pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    ks: &Keyspace,
    key: &[u8],
) -> Result<Option<T>, io::Error> {
    match ks.get(key).map_err(io::Error::other)? {
        None => Ok(None),
        Some(v) => decode(ks, key, &v).map(Some),
    }
}
