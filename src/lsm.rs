//! `Lsm`: the public handle to an open database.

use crate::batch::WriteBatch;
use crate::bounds::{bounds, prefix_end};
use crate::config::Config;
use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::fs::{FileSystem, OsFs};
use crate::iterator::Iter;
use crate::keyspace::{Keyspace, KeyspaceOptions};
use crate::pinned::PinnedValue;
use crate::raw_iterator::RawIterator;
use crate::report::VerifyReport;
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::transaction::Transaction;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

/// An open database. Cheap to clone: clones share one engine, and any of them may be
/// used from many threads at once. The database closes when [`Lsm::close`] is called
/// on any clone, or when the last clone is dropped.
#[derive(Clone)]
pub struct Lsm {
    handle: Arc<Handle>,
}

/// Closes the engine when the last `Lsm` clone goes away. Snapshots and iterators hold
/// the engine, not the handle, so they do not keep the database open.
struct Handle {
    inner: Arc<DbInner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.inner.close() {
            log::error!("closing {} on drop: {e}", self.inner.paths.root.display());
        }
    }
}

impl std::fmt::Debug for Lsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lsm")
            .field("root", &self.inner().paths.root)
            .finish()
    }
}

/// Per-write options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// fsync the WAL before acknowledging, whatever `wal.sync` says.
    pub sync: bool,
}

impl Lsm {
    /// Opens (creating if needed) the database in directory `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Lsm> {
        Lsm::open_with_config(Config::with_root(path))
    }

    /// Opens the database `config` describes.
    pub fn open_with_config(config: Config) -> Result<Lsm> {
        Lsm::open_on(config, Arc::new(OsFs))
    }

    /// Opens the database on a custom file system, such as `lsm::fs::MemFs` (feature `sim`) for
    /// power-cut and fault-injection tests.
    pub fn open_on(config: Config, fs: Arc<dyn FileSystem>) -> Result<Lsm> {
        let inner = DbInner::open(config, fs)?;
        Ok(Lsm {
            handle: Arc::new(Handle { inner }),
        })
    }

    fn inner(&self) -> &Arc<DbInner> {
        &self.handle.inner
    }

    pub(crate) fn engine(&self) -> &Arc<DbInner> {
        &self.handle.inner
    }

    /// The keyspace `name`, created with the database's options if it does not exist
    /// (see [`Keyspace`]). Names are 1-64 bytes of `[A-Za-z0-9_.-]`; anything else is
    /// `InvalidArgument`. `"default"` is the handle's own keyspace.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        let tree = self.inner().open_keyspace(name, &[])?;
        Ok(Keyspace::new(self.clone(), tree))
    }

    /// The keyspace `name`, created with its own options if it does not exist: `f`
    /// sets them over the database's (`|o| o.set("sstable.compression", "lz4")`).
    /// They are persisted and apply at every later open. For an existing keyspace the
    /// options must be those it was created with, else `InvalidArgument`.
    pub fn keyspace_with(
        &self,
        name: &str,
        f: impl FnOnce(&mut KeyspaceOptions) -> Result<()>,
    ) -> Result<Keyspace> {
        let mut o = KeyspaceOptions::new(&self.inner().config);
        f(&mut o)?;
        let tree = self.inner().open_keyspace(name, &o.into_pairs())?;
        Ok(Keyspace::new(self.clone(), tree))
    }

    /// The names of the keyspaces, `"default"` first, then in creation order.
    pub fn keyspaces(&self) -> Vec<String> {
        self.inner().keyspace_names()
    }

    /// Drops the keyspace `name` and all its data, durably: it does not come back
    /// after a crash. Its files are deleted once no iterator or read needs them.
    /// `InvalidArgument` for `"default"` or a name that does not exist.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.inner().drop_keyspace(name)
    }

    /// Test hook (feature `sim`): `hook` is called at the start of every compaction,
    /// background or manual, on the thread that runs it, before it reads anything.
    /// Blocking in it holds that compaction (and its slot) while the rest of the
    /// engine goes on, which is how tests run two compactions at once or keep level 0
    /// at its stop limit. `None` removes the hook. Release a blocked hook before
    /// closing: close waits for running jobs.
    #[cfg(feature = "sim")]
    pub fn set_compaction_hook(&self, hook: Option<crate::CompactionHook>) {
        self.inner().set_compaction_hook(hook);
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 11);
        b.put(key, value);
        self.write(b)
    }

    /// Sets `key` to `value` until `ttl` from now (by the database's clock): from then
    /// on `get` and iterators do not see it (a snapshot taken before still does), and
    /// compaction removes it. See [`crate::ttl`].
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: std::time::Duration) -> Result<()> {
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 19);
        b.put_with_ttl(key, value, ttl);
        self.write(b)
    }

    /// Merges `operand` into `key` with the configured merge operator
    /// (`merge.operator`, or [`crate::Config::with_merge_operator`]): a
    /// read-modify-write without the read. `InvalidArgument` without an operator.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut config = lsm::Config::with_root(dir.path());
    /// config.set("merge.operator", "append").unwrap();
    /// let db = lsm::Lsm::open_with_config(config).unwrap();
    /// db.put(b"log", b"a").unwrap();
    /// db.merge(b"log", b"b").unwrap();
    /// assert_eq!(db.get(b"log").unwrap(), Some(b"ab".to_vec()));
    /// ```
    pub fn merge(&self, key: &[u8], operand: &[u8]) -> Result<()> {
        let mut b = WriteBatch::with_capacity(key.len() + operand.len() + 11);
        b.merge(key, operand);
        self.write(b)
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = self.inner();
        inner.get(inner.default_tree(), key, None)
    }

    /// The value of `key` without a copy: borrowed from the block cache, the memtable
    /// or the key cache, and kept valid by the returned value (see [`PinnedValue`]
    /// for what holding one keeps in memory).
    pub fn get_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>> {
        let inner = self.inner();
        inner.get_pinned(inner.default_tree(), key, None)
    }

    /// The values of `keys`, in the order given, all read at one point in time (a
    /// batch written meanwhile is seen whole or not at all). Cheaper than a loop of
    /// [`Lsm::get`]: the keys are probed in sorted order under one view.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = lsm::Lsm::open_with_config(lsm::Config::with_root(dir.path())).unwrap();
    /// db.put(b"a", b"1").unwrap();
    /// db.put(b"c", b"3").unwrap();
    /// let got = db.multi_get(&[&b"c"[..], b"b", b"a"]).unwrap();
    /// assert_eq!(got, vec![Some(b"3".to_vec()), None, Some(b"1".to_vec())]);
    /// ```
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(into_vecs(self.multi_get_pinned(keys)?))
    }

    /// [`Lsm::multi_get`] without copying the values (see [`Lsm::get_pinned`]).
    pub fn multi_get_pinned<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<PinnedValue>>> {
        let inner = self.inner();
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        inner.multi_get(inner.default_tree(), &keys, None)
    }

    /// Deletes `key` (deleting a missing key is not an error).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b)
    }

    /// Deletes every key in `[start, end)`.
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        if start > end {
            return Err(LsmError::InvalidArgument(
                "delete_range: start is after end".into(),
            ));
        }
        let mut b = WriteBatch::new();
        b.delete_range(start, end);
        self.write(b)
    }

    /// Applies `batch` atomically: all of it or none of it, also across a crash.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.inner().write(batch, false)
    }

    /// Applies `batch` atomically with per-write options.
    pub fn write_opt(&self, batch: WriteBatch, opts: WriteOptions) -> Result<()> {
        self.inner().write(batch, opts.sync)
    }

    /// Begins an optimistic, serializable transaction reading at the database as it
    /// is now (see [`Transaction`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lsm::Lsm::open(dir.path().join("db")).unwrap();
    /// db.put(b"alice", b"10").unwrap();
    /// let mut tx = db.transaction();
    /// let n: u64 = String::from_utf8(tx.get(b"alice").unwrap().unwrap()).unwrap().parse().unwrap();
    /// tx.put(b"alice", (n - 3).to_string().as_bytes());
    /// tx.put(b"bob", b"3");
    /// tx.commit().unwrap(); // or Err(LsmError::Conflict) if "alice" changed meanwhile
    /// assert_eq!(db.get(b"bob").unwrap().as_deref(), Some(&b"3"[..]));
    /// ```
    pub fn transaction(&self) -> Transaction {
        Transaction::new(self.inner().clone())
    }

    /// Runs `f` in a new transaction and commits it, again (up to
    /// [`crate::transaction::TRANSACT_ATTEMPTS`] times in all) while the commit fails
    /// with [`LsmError::Conflict`]. `f` must be safe to run more than once: only the
    /// run whose commit succeeds has any effect on the database. Any other error from
    /// `f` or the commit is returned at once.
    pub fn transact<T>(&self, mut f: impl FnMut(&mut Transaction) -> Result<T>) -> Result<T> {
        for _ in 0..crate::transaction::TRANSACT_ATTEMPTS {
            let mut tx = self.transaction();
            let out = match f(&mut tx) {
                Ok(out) => out,
                Err(LsmError::Conflict) => continue,
                Err(e) => return Err(e),
            };
            match tx.commit() {
                Ok(()) => return Ok(out),
                Err(LsmError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(LsmError::Conflict)
    }

    /// A consistent read-only view of the database as it is now.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner().clone();
        let seq = inner.acquire_snapshot();
        Snapshot::new(inner, seq)
    }

    /// Every key and value, in key order (`.rev()` for descending).
    pub fn iter(&self) -> Iter {
        Iter::new(self.inner().clone(), None, None, None, None)
    }

    /// The keys in `range`, e.g. `db.range(b"a".as_slice()..b"m".as_slice())`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let (lo, hi) = bounds(&range);
        Iter::new(self.inner().clone(), None, None, lo, hi)
    }

    /// The keys that start with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        Iter::new(
            self.inner().clone(),
            None,
            None,
            Some(prefix.to_vec()),
            prefix_end(prefix),
        )
    }

    /// A cursor with seek, next and prev (what the C API and bindings build on).
    pub fn raw_iter(&self) -> RawIterator {
        RawIterator::new(self.inner().clone(), None, None, None, None)
    }

    /// Compacts the whole database, every keyspace, into its deepest level and
    /// waits: overwritten versions and deletions that no snapshot needs are dropped,
    /// so the files hold just the live data.
    pub fn compact(&self) -> Result<()> {
        self.inner().compact_range(None, None, None)
    }

    /// Compacts the files holding keys in `[start, end]` (inclusive; `None` is
    /// unbounded) in every keyspace and waits.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.inner().compact_range(None, start, end)
    }

    /// The sequence number of the last committed (published) write; 0 for a database
    /// never written. `changes_since(latest_sequence() + 1)` yields what commits next.
    pub fn latest_sequence(&self) -> u64 {
        self.inner().visible_seq()
    }

    /// Every committed batch whose sequence numbers reach `seq` or later, oldest
    /// first, up to the last one committed now: the change feed, read from the WAL.
    /// History goes back as far as `wal.retention` keeps flushed segments (by default
    /// only what is not yet in tables). An older `seq` is
    /// [`LsmError::ChangesPurged`] with the oldest one still served, never a silent
    /// skip.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = lsm::Lsm::open(dir.path()).unwrap();
    /// let from = db.latest_sequence() + 1;
    /// db.put(b"k", b"v").unwrap();
    /// let changes: Vec<_> = db.changes_since(from).unwrap().collect::<Result<_, _>>().unwrap();
    /// assert_eq!(changes.len(), 1);
    /// assert_eq!(changes[0].ops()[0].key(), b"k");
    /// assert_eq!(changes[0].ops()[0].value(), Some(&b"v"[..]));
    /// ```
    pub fn changes_since(&self, seq: u64) -> Result<crate::ChangeFeed> {
        crate::ChangeFeed::new(self.inner().clone(), seq)
    }

    /// Subscribes to changes under `prefix` (of any keyspace; empty: every change):
    /// every batch committed after this returns that touches the prefix, with its
    /// operations under the prefix, in commit order. See [`crate::Subscription`].
    pub fn subscribe(&self, prefix: &[u8]) -> Result<crate::Subscription> {
        crate::Subscription::new(self.inner().clone(), prefix)
    }

    /// [`Lsm::changes_since`] and then [`Lsm::subscribe`] in one: a subscription that
    /// first hands out the history from `seq` on (the batches under `prefix`), then
    /// every batch committed later, each once and in commit order, with none missed
    /// between the two. [`LsmError::ChangesPurged`] when the history from `seq` is no
    /// longer kept; `latest_sequence() + 1` (or later) starts with what commits next.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = lsm::Lsm::open(dir.path()).unwrap();
    /// db.put(b"k", b"old").unwrap();
    /// let mut sub = db.subscribe_since(b"", 1).unwrap();
    /// db.put(b"k", b"new").unwrap();
    /// let wait = std::time::Duration::from_secs(5);
    /// assert_eq!(sub.next_timeout(wait).unwrap().unwrap().ops()[0].value(), Some(&b"old"[..]));
    /// assert_eq!(sub.next_timeout(wait).unwrap().unwrap().ops()[0].value(), Some(&b"new"[..]));
    /// ```
    pub fn subscribe_since(&self, prefix: &[u8], seq: u64) -> Result<crate::Subscription> {
        crate::Subscription::since(self.inner().clone(), prefix, seq)
    }

    /// The first sequence number the change feed can still serve: `changes_since`
    /// of anything older is [`LsmError::ChangesPurged`] with this number.
    /// `latest_sequence() + 1` when no history is kept at all.
    pub fn oldest_change(&self) -> Result<u64> {
        crate::ChangeFeed::oldest(self.inner())
    }

    /// Makes every acknowledged write durable (fsync).
    pub fn sync(&self) -> Result<()> {
        self.inner().sync()
    }

    /// Writes the memtables of every keyspace to SSTables and waits for them; every
    /// write acknowledged before the call is durable when it returns.
    pub fn flush(&self) -> Result<()> {
        self.inner().flush()
    }

    /// Closes the database: flushes the memtable, stops background work and releases
    /// the lock. Later calls on any clone return `Closed`; closing twice is fine.
    pub fn close(&self) -> Result<()> {
        self.inner().close()
    }

    /// Makes a consistent, openable copy in `dir` (which must not exist) while the
    /// database stays in use. Tables are hard-linked where possible.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.inner().checkpoint(dir.as_ref())
    }

    /// Reads every live file and checks every checksum.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner().verify()
    }

    /// Counters and the shape of the tree.
    pub fn stats(&self) -> Stats {
        self.inner().stats()
    }

    /// A named property: `"lsm.stats"` (the statistics as text) or
    /// `"lsm.stats.json"` (as JSON); `None` for an unknown name.
    pub fn property(&self, name: &str) -> Option<String> {
        match name {
            "lsm.stats" => Some(self.stats().to_string()),
            "lsm.stats.json" => Some(self.stats().to_json()),
            _ => None,
        }
    }

    /// About how many entries the database holds, from metadata alone (no I/O): the
    /// point entries of every table per the manifest plus those of the memtables.
    /// Overwritten versions and deletions are counted until a compaction drops them,
    /// so it can exceed the number of live keys; counting those exactly takes a scan.
    /// Of the keyspace `"default"`.
    pub fn approximate_len(&self) -> u64 {
        approximate_len(&self.inner().super_version())
    }

    /// About how many bytes of tables hold keys in `[start, end)` (`None` is
    /// unbounded), from metadata alone: the sizes of the tables whose key range
    /// overlaps it, whole (not prorated). Data still in the memtables is not counted,
    /// so it is 0 for an empty range or before the first flush. Of the keyspace
    /// `"default"`.
    pub fn approximate_size(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> u64 {
        self.inner()
            .super_version()
            .version
            .bytes_overlapping(start, end)
    }

    /// Runs `job` on the engine's runtime (its blocking pool) and returns at once;
    /// bindings use it to complete asynchronous calls from the engine's own threads.
    /// `Closed` once the database is closed.
    pub fn spawn_blocking(&self, job: impl FnOnce() + Send + 'static) -> Result<()> {
        self.inner().runtime.spawn_detached(job)
    }

    pub(crate) fn runtime(&self) -> &crate::runtime::Runtime {
        &self.inner().runtime
    }

    /// The directory holding `CURRENT`, `MANIFEST-*` and `LOCK`.
    pub fn path(&self) -> &Path {
        &self.inner().paths.root
    }
}

/// See [`Lsm::approximate_len`].
pub(crate) fn approximate_len(sv: &crate::db::SuperVersion) -> u64 {
    let mems: u64 = std::iter::once(&sv.mem)
        .chain(&sv.imms)
        .map(|m| m.len() as u64)
        .sum();
    sv.version.entries() + mems
}

/// Pinned values as owned ones.
pub(crate) fn into_vecs(values: Vec<Option<PinnedValue>>) -> Vec<Option<Vec<u8>>> {
    values
        .into_iter()
        .map(|v| v.map(PinnedValue::into_vec))
        .collect()
}
