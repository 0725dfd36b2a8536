//! openraft's log storage on lsm: entries in keyspace `raft_log` under their index
//! (8 bytes, big-endian), and the vote, the committed id and the last purged id in
//! `raft_meta`.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use parking_lot::Mutex;

use lsm::{Keyspace, Lsm, WriteBatch};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogId, StorageError, Vote};

use crate::store::{
    decode, get_json, index_key, key_index, read_logs, read_vote, write_logs, write_vote,
    KEY_COMMITTED, KEY_PURGED, KEY_VOTE, SYNC,
};
use crate::types::{NodeId, TypeConfig};

/// The raft log of one node, in its lsm database. Cloning gives another handle on
/// the same log (openraft's log reader is one).
#[derive(Clone)]
pub struct LogStore {
    db: Lsm,
    log: Keyspace,
    meta: Keyspace,
    gate: Arc<PurgeGate>,
}

/// Holds back the purges openraft asks for while a received snapshot is being
/// installed.
///
/// openraft 0.9 queues a follower's install and, right after it, the purge of the log
/// the snapshot covers; the purge runs at once while the install is still under way on
/// the state machine's task. A crash in between would leave the log purged past what
/// the state machine and the current snapshot hold: entries this node acknowledged
/// would be gone, and openraft refuses to start on such a state (purged > snapshot).
/// So the snapshot receiver opens the gate around an install ([`PurgeGate::begin_install`]);
/// a purge that arrives meanwhile is recorded and carried out when the install ends,
/// by which time openraft has seen the snapshot durably installed.
pub struct PurgeGate {
    state: Mutex<GateState>,
    db: Lsm,
    log: Keyspace,
    meta: Keyspace,
}

#[derive(Default)]
struct GateState {
    installing: usize,
    deferred: Option<LogId<NodeId>>,
}

/// An install in progress; the deferred purge, if any, runs when it is dropped.
pub struct InstallGuard(Arc<PurgeGate>);

impl Drop for InstallGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.end_install() {
            tracing::warn!("purging the log after a snapshot install: {e}");
        }
    }
}

impl PurgeGate {
    /// Marks an install as begun, until the guard is dropped.
    pub fn begin_install(self: &Arc<Self>) -> InstallGuard {
        self.state.lock().installing += 1;
        InstallGuard(self.clone())
    }

    fn end_install(&self) -> lsm::Result<()> {
        let mut st = self.state.lock();
        st.installing -= 1;
        match (st.installing, st.deferred) {
            (0, Some(upto)) => {
                st.deferred = None;
                self.write_purge(upto)
            }
            _ => Ok(()),
        }
    }

    fn purge(&self, upto: LogId<NodeId>) -> lsm::Result<()> {
        let mut st = self.state.lock();
        if st.installing > 0 {
            st.deferred = st.deferred.max(Some(upto));
            return Ok(());
        }
        self.write_purge(upto)
    }

    fn write_purge(&self, upto: LogId<NodeId>) -> lsm::Result<()> {
        // The purged id and the deletion go in one batch, so the log state never has a
        // gap between them. Not synced: purged entries that come back are harmless.
        let mut batch = WriteBatch::new();
        let id =
            serde_json::to_vec(&upto).map_err(|e| lsm::LsmError::InvalidArgument(e.to_string()))?;
        batch.put_in(&self.meta, KEY_PURGED, &id);
        match upto.index.checked_add(1) {
            Some(end) => batch.delete_range_in(&self.log, &index_key(0), &index_key(end)),
            None => batch.delete_range_in(&self.log, &index_key(0), &[0xff; 9]),
        };
        self.db.write(batch)
    }
}

impl LogStore {
    pub(crate) fn new(db: Lsm, log: Keyspace, meta: Keyspace) -> LogStore {
        let gate = Arc::new(PurgeGate {
            state: Mutex::new(GateState::default()),
            db: db.clone(),
            log: log.clone(),
            meta: meta.clone(),
        });
        LogStore {
            db,
            log,
            meta,
            gate,
        }
    }

    /// The gate a snapshot receiver holds open around an install.
    pub fn purge_gate(&self) -> Arc<PurgeGate> {
        self.gate.clone()
    }

    /// The lsm database holding the log (for `verify`, stats and closing).
    pub fn db(&self) -> &Lsm {
        &self.db
    }

    fn last_purged(&self) -> Result<Option<LogId<NodeId>>, io::Error> {
        get_json(&self.meta, KEY_PURGED)
    }

    /// Runs a write that must be durable before openraft hears of it, off the async
    /// worker threads: a synced write waits for an fsync.
    async fn write_synced(&self, batch: WriteBatch) -> Result<(), io::Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.write_opt(batch, SYNC))
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)
    }
}

fn start_of(b: Bound<&u64>) -> Option<u64> {
    match b {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => Some(0),
    }
}

/// The exclusive end key, `None` for "to the end of the log".
fn end_of(b: Bound<&u64>) -> Option<u64> {
    match b {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let Some(start) = start_of(range.start_bound()) else {
            return Ok(Vec::new());
        };
        let end = end_of(range.end_bound());
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let start_key = index_key(start);
        let iter = match end {
            Some(e) => self.log.range(start_key..index_key(e)),
            None => self.log.range(start_key..),
        };
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(read_logs)?;
            let entry: Entry<TypeConfig> = decode(&self.log, &k, &v).map_err(read_logs)?;
            if key_index(&k) != Some(entry.log_id.index) {
                let e = io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "raft_log key {} holds the entry of index {}",
                        crate::hex::encode(&k),
                        entry.log_id.index
                    ),
                );
                return Err(read_logs(e));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.last_purged().map_err(read_logs)?;
        let last = match self.log.iter().next_back() {
            None => None,
            Some(item) => {
                let (k, v) = item.map_err(read_logs)?;
                let entry: Entry<TypeConfig> = decode(&self.log, &k, &v).map_err(read_logs)?;
                Some(*entry.get_log_id())
            }
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        // A vote must survive power loss: a node that forgets it can vote twice in a term.
        let mut batch = WriteBatch::new();
        batch.put_in(
            &self.meta,
            KEY_VOTE,
            &serde_json::to_vec(vote).map_err(write_vote)?,
        );
        self.write_synced(batch).await.map_err(write_vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        get_json(&self.meta, KEY_VOTE).map_err(read_vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        // Not synced: openraft allows the committed id to go back after a crash (it is
        // found again from a quorum); it only spares re-applying on restart.
        let v = serde_json::to_vec(&committed).map_err(write_logs)?;
        self.meta.put(KEY_COMMITTED, &v).map_err(write_logs)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(get_json::<Option<LogId<NodeId>>>(&self.meta, KEY_COMMITTED)
            .map_err(read_logs)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        for entry in entries {
            let v = serde_json::to_vec(&entry).map_err(write_logs)?;
            batch.put_in(&self.log, &index_key(entry.log_id.index), &v);
        }
        // One synced write per append: concurrent client writes reach here as one
        // append of many entries, so they share the fsync.
        let result = self.write_synced(batch).await;
        let failed = result
            .as_ref()
            .err()
            .map(|e| io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        match failed {
            Some(e) => Err(write_logs(e)),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        // Synced: entries removed for a conflict must not come back after power loss.
        let mut batch = WriteBatch::new();
        batch.delete_range_in(&self.log, &index_key(log_id.index), &[0xff; 9]);
        self.write_synced(batch).await.map_err(write_logs)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.gate.purge(log_id).map_err(write_logs)
    }
}
