//! openraft's log storage on lsm: entries in keyspace `raft_log` under their index
//! (8 bytes, big-endian), and the vote, the committed id and the last purged id in
//! `raft_meta`.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

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
}

impl LogStore {
    pub(crate) fn new(db: Lsm, log: Keyspace, meta: Keyspace) -> LogStore {
        LogStore { db, log, meta }
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
        // The purged id and the deletion go in one batch, so the log state never has a
        // gap between them. Not synced: purged entries that come back are harmless.
        let mut batch = WriteBatch::new();
        batch.put_in(
            &self.meta,
            KEY_PURGED,
            &serde_json::to_vec(&log_id).map_err(write_logs)?,
        );
        match log_id.index.checked_add(1) {
            Some(end) => batch.delete_range_in(&self.log, &index_key(0), &index_key(end)),
            None => batch.delete_range_in(&self.log, &index_key(0), &[0xff; 9]),
        };
        self.db.write(batch).map_err(write_logs)
    }
}
