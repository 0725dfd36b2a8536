//! openraft's state machine on lsm: a key-value map (keyspace `sm`) and the last
//! applied log id and membership (keyspace `sm_meta`) in a database of their own,
//! updated together by one `WriteBatch` per apply. Snapshots are checkpoints of that
//! database packed into an archive ([`crate::snapshot`]).

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use lsm::{Keyspace, Lsm, WriteBatch};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StoredMembership,
};
use parking_lot::RwLock;

use crate::snapshot::{self, unique, SnapshotFile};
use crate::store::{
    get_json, read_sm, read_snapshot, remove_any, write_sm, write_snapshot, Layout, StoreError,
    StoreOptions, KEY_APPLIED, KEY_MEMBERSHIP, KEY_SM_GENERATION, SM_DATA, SM_META, SYNC,
};
use crate::types::{Node, NodeId, Request, Response, TypeConfig};

type Membership = StoredMembership<NodeId, Node>;

/// One generation of the state machine's database.
pub(crate) struct SmDb {
    generation: u64,
    db: Lsm,
    data: Keyspace,
    meta: Keyspace,
}

impl SmDb {
    fn open(layout: &Layout, options: &StoreOptions, generation: u64) -> Result<SmDb, StoreError> {
        let db = options.open_db(&layout.sm(generation))?;
        let data = db.keyspace(SM_DATA)?;
        let meta = db.keyspace(SM_META)?;
        Ok(SmDb {
            generation,
            db,
            data,
            meta,
        })
    }

    fn applied_state(&self) -> Result<(Option<LogId<NodeId>>, Membership), io::Error> {
        applied_state(&self.meta)
    }
}

/// The last applied id and membership recorded in a state machine's `sm_meta`.
fn applied_state(meta: &Keyspace) -> Result<(Option<LogId<NodeId>>, Membership), io::Error> {
    let applied = get_json::<Option<LogId<NodeId>>>(meta, KEY_APPLIED)?.flatten();
    let membership = get_json(meta, KEY_MEMBERSHIP)?.unwrap_or_default();
    Ok((applied, membership))
}

struct Shared {
    layout: Layout,
    options: StoreOptions,
    /// `raft_meta` of the log database, where the current generation is recorded.
    raft_meta: Keyspace,
    current: RwLock<Arc<SmDb>>,
    /// Held by a snapshot build and by an install, which run on different tasks:
    /// an install must not close the database a build is checkpointing.
    snapshots: tokio::sync::Mutex<()>,
}

impl Shared {
    fn current(&self) -> Arc<SmDb> {
        self.current.read().clone()
    }
}

/// The replicated key-value map of one node. openraft drives it; [`KvReader`] reads it
/// for the HTTP API.
pub struct StateMachine {
    shared: Arc<Shared>,
}

/// Reads the state machine's map directly (stale reads, and linearizable ones once
/// openraft has confirmed the leadership and applied up to the read index).
#[derive(Clone)]
pub struct KvReader {
    shared: Arc<Shared>,
}

impl KvReader {
    /// The value of `key` in the local state machine.
    pub fn get(&self, key: &[u8]) -> lsm::Result<Option<Vec<u8>>> {
        self.shared.current().data.get(key)
    }

    /// The id of the last entry the local state machine applied.
    pub fn last_applied(&self) -> io::Result<Option<LogId<NodeId>>> {
        Ok(self.shared.current().applied_state()?.0)
    }

    /// The state machine's lsm database (its current generation).
    pub fn db(&self) -> Lsm {
        self.shared.current().db.clone()
    }

    /// Closes the state machine's database, for a clean shutdown.
    pub fn close(&self) -> lsm::Result<()> {
        self.shared.current().db.close()
    }
}

impl StateMachine {
    pub(crate) fn open(
        layout: Layout,
        options: StoreOptions,
        raft_meta: Keyspace,
        generation: u64,
    ) -> Result<StateMachine, StoreError> {
        let sm = SmDb::open(&layout, &options, generation)?;
        Ok(StateMachine {
            shared: Arc::new(Shared {
                layout,
                options,
                raft_meta,
                current: RwLock::new(Arc::new(sm)),
                snapshots: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// A reader of the map that stays valid across snapshot installs.
    pub fn reader(&self) -> KvReader {
        KvReader {
            shared: self.shared.clone(),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, Membership), StorageError<NodeId>> {
        self.shared.current().applied_state().map_err(read_sm)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let sm = self.shared.current();
        let mut batch = WriteBatch::new();
        let mut responses = Vec::new();
        let mut last = None;
        let mut membership = None;
        for entry in entries {
            last = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(req) => add_to_batch(&mut batch, &sm.data, req),
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m))
                }
            }
            responses.push(Response {});
        }
        let Some(last) = last else {
            return Ok(responses);
        };
        // The data, the applied id and the membership change in one atomic batch.
        // Not synced: after a crash the log (synced) re-applies what was lost.
        batch.put_in(
            &sm.meta,
            KEY_APPLIED,
            &serde_json::to_vec(&Some(last)).map_err(write_sm)?,
        );
        if let Some(m) = membership {
            batch.put_in(
                &sm.meta,
                KEY_MEMBERSHIP,
                &serde_json::to_vec(&m).map_err(write_sm)?,
            );
        }
        sm.db.write(batch).map_err(write_sm)?;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<SnapshotFile>, StorageError<NodeId>> {
        let file =
            SnapshotFile::create_in(&self.shared.layout.snapshots()).map_err(write_snapshot)?;
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<SnapshotFile>,
    ) -> Result<(), StorageError<NodeId>> {
        let _guard = self.shared.snapshots.lock().await;
        let shared = self.shared.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || install(&shared, &meta, *snapshot))
            .await
            .map_err(write_snapshot)?
            .map_err(write_snapshot)
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let dir = self.shared.layout.snapshots();
        let Some((path, meta)) = current_snapshot(&dir).map_err(read_snapshot)? else {
            return Ok(None);
        };
        let file = SnapshotFile::open(&path).map_err(read_snapshot)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}

fn add_to_batch(batch: &mut WriteBatch, data: &Keyspace, req: Request) {
    match req {
        Request::Put { key, value } => {
            batch.put_in(data, &key, &value);
        }
        Request::Delete { key } => {
            batch.delete_in(data, &key);
        }
        Request::Batch { ops } => {
            for op in ops {
                add_to_batch(batch, data, op);
            }
        }
    }
}

/// Builds snapshots of a node's state machine.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let _guard = self.shared.snapshots.lock().await;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || build(&shared))
            .await
            .map_err(write_snapshot)?
            .map_err(write_snapshot)
    }
}

/// The newest complete archive in `dir`, with its metadata.
fn current_snapshot(
    dir: &Path,
) -> io::Result<Option<(std::path::PathBuf, SnapshotMeta<NodeId, Node>)>> {
    let mut best: Option<(std::path::PathBuf, SnapshotMeta<NodeId, Node>)> = None;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("snap") {
            continue;
        }
        let meta = snapshot::read_meta(&path)?;
        if best
            .as_ref()
            .is_none_or(|(_, b)| meta.last_log_id > b.last_log_id)
        {
            best = Some((path, meta));
        }
    }
    Ok(best)
}

/// Removes every archive in `dir` but `keep`.
fn remove_other_snapshots(dir: &Path, keep: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path != keep && path.extension().and_then(|e| e.to_str()) == Some("snap") {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn store_err(e: StoreError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Checkpoints the state machine, reads the applied state from the checkpoint itself
/// (so the metadata describes exactly the data, however applies interleave), and packs
/// it.
fn build(shared: &Shared) -> io::Result<Snapshot<TypeConfig>> {
    let sm = shared.current();
    let dir = shared.layout.snapshots();
    let tag = unique();
    let tmp = dir.join(format!("build-{tag}.tmp"));
    // Flushing first makes the checkpoint hard links to tables with almost no WAL, so
    // the copy opens without replaying a memtable's worth of log.
    sm.db.flush().map_err(io::Error::other)?;
    sm.db.checkpoint(&tmp).map_err(io::Error::other)?;
    // Everything the checkpoint holds is now durable in the live database too (the
    // writes between the flush and the checkpoint included), so the log that the
    // snapshot lets openraft purge is never needed to rebuild it.
    sm.db.sync().map_err(io::Error::other)?;
    let (last_log_id, last_membership) = {
        let copy = Lsm::open_with_config(shared.options.config(&tmp).map_err(store_err)?)
            .map_err(io::Error::other)?;
        let state = applied_state(&copy.keyspace(SM_META).map_err(io::Error::other)?)?;
        copy.close().map_err(io::Error::other)?;
        state
    };
    let snapshot_id = match last_log_id {
        Some(l) => format!("{}-{}-{tag}", l.leader_id, l.index),
        None => format!("none-{tag}"),
    };
    let meta = SnapshotMeta {
        last_log_id,
        last_membership,
        snapshot_id,
    };
    let path = dir.join(format!("{tag}.snap"));
    snapshot::pack(&tmp, &meta, &path)?;
    remove_any(&tmp).map_err(store_err)?;
    remove_other_snapshots(&dir, &path)?;
    let file = SnapshotFile::open(&path)?;
    tracing::info!(last_log_id = ?meta.last_log_id, bytes = file.len()?, "built snapshot");
    Ok(Snapshot {
        meta,
        snapshot: Box::new(file),
    })
}

/// Replaces the state machine with the snapshot's: unpack into the next generation's
/// directory, check it, then switch with one synced write.
fn install(
    shared: &Shared,
    meta: &SnapshotMeta<NodeId, Node>,
    snap: SnapshotFile,
) -> io::Result<()> {
    tracing::info!(last_log_id = ?meta.last_log_id, "installing snapshot");
    let old = shared.current();
    let generation = old.generation + 1;
    let dest = shared.layout.sm(generation);
    remove_any(&dest).map_err(store_err)?;
    let archived = snapshot::unpack_from(&snap.file, &snap.path, &dest)?;
    if archived.last_log_id != meta.last_log_id || archived.last_membership != meta.last_membership
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot {} holds state up to {:?}, its metadata says {:?}",
                snap.path.display(),
                archived.last_log_id,
                meta.last_log_id
            ),
        ));
    }
    let new = SmDb::open(&shared.layout, &shared.options, generation).map_err(store_err)?;
    let (applied, _) = new.applied_state()?;
    if applied != meta.last_log_id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot database {} has applied {applied:?}, expected {:?}",
                dest.display(),
                meta.last_log_id
            ),
        ));
    }
    // The switch. Before it, a crash leaves the old generation current (and an open
    // removes the new directory); after it, the new one.
    shared
        .raft_meta
        .put_opt(KEY_SM_GENERATION, generation.to_string().as_bytes(), SYNC)
        .map_err(io::Error::other)?;
    *shared.current.write() = Arc::new(new);
    if let Err(e) = old.db.close() {
        tracing::warn!("closing the replaced state machine: {e}");
    }
    if let Err(e) = remove_any(&shared.layout.sm(old.generation)) {
        tracing::warn!("removing the replaced state machine: {e}");
    }
    keep_as_current(shared, &snap)?;
    tracing::info!(last_log_id = ?meta.last_log_id, generation, "installed snapshot");
    Ok(())
}

/// Keeps an installed archive as this node's current snapshot (a follower that becomes
/// leader can send it on without building one).
fn keep_as_current(shared: &Shared, snap: &SnapshotFile) -> io::Result<()> {
    let dir = shared.layout.snapshots();
    let path = dir.join(format!("{}.snap", unique()));
    let ours = snap.path.parent() == Some(dir.as_path())
        && snap.path.extension().and_then(|e| e.to_str()) == Some("tmp");
    // Our own received file is renamed into place. One from elsewhere (another
    // store's, in openraft's test suite), or one already unlinked, is copied from the
    // open handle.
    let renamed = ours && snap.file.sync_all().is_ok() && fs::rename(&snap.path, &path).is_ok();
    if !renamed {
        let tmp = path.with_extension("snap.tmp");
        let mut src = snap.reopen()?;
        let mut out = fs::File::create(&tmp)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
        io::copy(&mut src.file, &mut out)?;
        out.sync_all()?;
        fs::rename(&tmp, &path)?;
    }
    snapshot::sync_dir(&dir)?;
    remove_other_snapshots(&dir, &path)
}
