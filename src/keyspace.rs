//! `Keyspace`: a named, separately configured key space inside one database.

use crate::batch::WriteBatch;
use crate::bounds::{bounds, prefix_end};
use crate::config::Config;
use crate::db::{DbInner, Tree, KEYSPACE_KEYS};
use crate::error::{LsmError, Result};
use crate::iterator::Iter;
use crate::lsm::{Lsm, WriteOptions};
use crate::pinned::PinnedValue;
use crate::raw_iterator::RawIterator;
use std::ops::RangeBounds;
use std::sync::Arc;

/// A keyspace of a database (RocksDB's column family, fjall's keyspace): its own
/// memtables, levels, compactions and options, sharing the database's WAL, sequence
/// numbers and manifest. So a [`WriteBatch`] across keyspaces (`put_in`,
/// `delete_in`) is atomic, also across a crash, and a [`crate::Snapshot`] sees every
/// keyspace at one point in time.
///
/// Cheap to clone; it keeps the database open while it lives (as an [`Lsm`] clone
/// does). After [`Lsm::drop_keyspace`] every operation on it fails with
/// `InvalidArgument`; iterators made before the drop go on reading what they saw.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let db = lsm::Lsm::open(dir.path().join("db")).unwrap();
/// let users = db.keyspace("users").unwrap();
/// let logs = db.keyspace_with("logs", |o| o.set("sstable.compression", "lz4")).unwrap();
/// users.put(b"ada", b"1").unwrap();
/// let mut b = lsm::WriteBatch::new();
/// b.put_in(&users, b"grace", b"2").put_in(&logs, b"0001", b"grace joined");
/// db.write(b).unwrap(); // both or neither
/// assert_eq!(users.get(b"grace").unwrap().as_deref(), Some(&b"2"[..]));
/// assert_eq!(db.get(b"grace").unwrap(), None); // "default" is another keyspace
/// assert_eq!(db.keyspaces(), ["default", "users", "logs"]);
/// ```
#[derive(Clone)]
pub struct Keyspace {
    db: Lsm,
    tree: Arc<Tree>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.tree.name)
            .field("id", &self.tree.id)
            .finish()
    }
}

/// The options of a keyspace being created (see [`Lsm::keyspace_with`]): the
/// database's, with what [`KeyspaceOptions::set`] changes.
#[derive(Debug, Clone)]
pub struct KeyspaceOptions {
    config: Config,
    set: Vec<(String, String)>,
}

impl KeyspaceOptions {
    pub(crate) fn new(base: &Config) -> KeyspaceOptions {
        KeyspaceOptions {
            config: base.clone(),
            set: Vec::new(),
        }
    }

    /// Sets option `key` (a dotted name of `config.toml`) to `value` for this
    /// keyspace. Keyspaces may set the memtable, table and level-shape options
    /// ([`KEYSPACE_KEYS`]); any other key, or a bad value, is a `Config` error that
    /// names the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if !KEYSPACE_KEYS.contains(&key) {
            return Err(LsmError::config(
                key,
                format!(
                    "not a per-keyspace option (those are: {})",
                    KEYSPACE_KEYS.join(", ")
                ),
            ));
        }
        self.config.set(key, value)?;
        self.set.retain(|(k, _)| k != key);
        self.set.push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// The options as they would apply.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn into_pairs(self) -> Vec<(String, String)> {
        self.set
    }
}

impl Keyspace {
    pub(crate) fn new(db: Lsm, tree: Arc<Tree>) -> Keyspace {
        Keyspace { db, tree }
    }

    fn inner(&self) -> &Arc<DbInner> {
        self.db.engine()
    }

    pub(crate) fn tree(&self) -> &Arc<Tree> {
        &self.tree
    }

    /// The instance number of its database (see `DbInner::instance`).
    pub(crate) fn instance(&self) -> u64 {
        self.inner().instance
    }

    /// The id the database's files know the keyspace by (0 for `"default"`; ids are
    /// never reused).
    pub fn id(&self) -> u32 {
        self.tree.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.tree.name
    }

    /// The options it runs with (the database's, with its own applied).
    pub fn config(&self) -> &Config {
        &self.tree.config
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree.check_live()?;
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 16);
        b.put_in(self, key, value);
        self.db.write(b)
    }

    /// Sets `key` to `value` until `ttl` from now (see [`crate::Lsm::put_with_ttl`]).
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: std::time::Duration) -> Result<()> {
        self.tree.check_live()?;
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 24);
        b.put_with_ttl_in(self, key, value, ttl);
        self.db.write(b)
    }

    /// Merges `operand` into `key` with the keyspace's merge operator (see
    /// [`crate::Lsm::merge`]).
    pub fn merge(&self, key: &[u8], operand: &[u8]) -> Result<()> {
        self.tree.check_live()?;
        let mut b = WriteBatch::with_capacity(key.len() + operand.len() + 16);
        b.merge_in(self, key, operand);
        self.db.write(b)
    }

    /// Sets `key` to `value` with per-write options.
    pub fn put_opt(&self, key: &[u8], value: &[u8], opts: WriteOptions) -> Result<()> {
        self.tree.check_live()?;
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 16);
        b.put_in(self, key, value);
        self.db.write_opt(b, opts)
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.tree.check_live()?;
        self.inner().get(&self.tree, key, None)
    }

    /// The value of `key` without a copy (see [`Lsm::get_pinned`]).
    pub fn get_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>> {
        self.tree.check_live()?;
        self.inner().get_pinned(&self.tree, key, None)
    }

    /// The values of `keys`, in order, read at one point in time (see
    /// [`Lsm::multi_get`]).
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(crate::lsm::into_vecs(self.multi_get_pinned(keys)?))
    }

    /// [`Keyspace::multi_get`] without copying the values.
    pub fn multi_get_pinned<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<PinnedValue>>> {
        self.tree.check_live()?;
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        self.inner().multi_get(&self.tree, &keys, None)
    }

    /// Deletes `key` (deleting a missing key is not an error).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.tree.check_live()?;
        let mut b = WriteBatch::new();
        b.delete_in(self, key);
        self.db.write(b)
    }

    /// Deletes every key in `[start, end)`.
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        self.tree.check_live()?;
        if start > end {
            return Err(LsmError::InvalidArgument(
                "delete_range: start is after end".into(),
            ));
        }
        let mut b = WriteBatch::new();
        b.delete_range_in(self, start, end);
        self.db.write(b)
    }

    /// Every key and value, in key order (`.rev()` for descending).
    pub fn iter(&self) -> Iter {
        Iter::new(self.inner().clone(), Some(&self.tree), None, None, None)
    }

    /// The keys in `range`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let (lo, hi) = bounds(&range);
        Iter::new(self.inner().clone(), Some(&self.tree), None, lo, hi)
    }

    /// The keys that start with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        Iter::new(
            self.inner().clone(),
            Some(&self.tree),
            None,
            Some(prefix.to_vec()),
            prefix_end(prefix),
        )
    }

    /// A cursor with seek, next and prev.
    pub fn raw_iter(&self) -> RawIterator {
        RawIterator::new(self.inner().clone(), Some(&self.tree), None, None, None)
    }

    /// Compacts the whole keyspace into its deepest level and waits.
    pub fn compact(&self) -> Result<()> {
        self.compact_range(None, None)
    }

    /// Compacts the keyspace's files holding keys in `[start, end]` (inclusive;
    /// `None` is unbounded) and waits.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.tree.check_live()?;
        self.inner().compact_range(Some(&self.tree), start, end)
    }

    /// About how many entries the keyspace holds, from metadata alone (see
    /// [`Lsm::approximate_len`]).
    pub fn approximate_len(&self) -> u64 {
        crate::lsm::approximate_len(&self.tree.sv.load())
    }

    /// True once the keyspace was dropped.
    pub fn is_dropped(&self) -> bool {
        self.tree.is_dropped()
    }

    /// The database it belongs to.
    pub fn db(&self) -> &Lsm {
        &self.db
    }
}
