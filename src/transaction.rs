//! `Transaction`: optimistic, serializable transactions.
//!
//! A transaction reads at a snapshot taken when it begins, and buffers its writes.
//! It records what it read: every key it looked up and every range it iterated. Its
//! commit applies the buffered writes as one atomic batch, unless something it read
//! was written after it began; then it fails with [`LsmError::Conflict`] and applies
//! nothing. The check and the write happen together under the WAL lock, so no write
//! can come between them (see `DbInner::write_checked`).
//!
//! That is serializable: a committed transaction behaves as if it ran alone at its
//! commit point, since everything it read was still current there. Write skew (two
//! transactions that each read what the other writes) is impossible: the second to
//! commit finds the first one's write in its read set. Blind writes (keys written but
//! never read) are not checked: whichever commit comes last wins, as in a serial run.
//!
//! This is the optimistic scheme of RocksDB's `OptimisticTransactionDB` and fjall's
//! `OptimisticTxDatabase`. The conflict check looks at sequence numbers in the
//! memtables and tables (not at an in-memory log of recent commits), so it also sees
//! plain writes made outside any transaction, and needs no history to be kept.

use crate::batch::WriteBatch;
use crate::bounds::{bounds, prefix_end};
use crate::db::{DbInner, SuperVersion, Tree};
use crate::error::{LsmError, Result};
use crate::iterator::Iter;
use crate::keyspace::Keyspace;
use crate::manifest::DEFAULT_KEYSPACE;
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeBounds;
use std::sync::Arc;

/// `[lo, hi)`, `None` unbounded.
type KeyRange = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A buffered write: `None` deletes.
type OwnWrite = (Vec<u8>, Option<Vec<u8>>);

/// A key of some keyspace, by id.
type KsKey = (u32, Vec<u8>);

/// How many times [`crate::Lsm::transact`] runs its closure before it gives up with
/// [`LsmError::Conflict`].
pub const TRANSACT_ATTEMPTS: usize = 10;

/// An optimistic, serializable transaction (see the module docs). `Send`: it may move
/// between threads, one at a time. Dropping it uncommitted discards its writes.
pub struct Transaction {
    inner: Arc<DbInner>,
    snapshot: Snapshot,
    /// Buffered writes, by keyspace and key: `None` deletes.
    writes: BTreeMap<KsKey, Option<Vec<u8>>>,
    /// Keys read from the database (not from `writes`).
    reads: BTreeSet<KsKey>,
    /// Ranges iterated, by keyspace.
    ranges: Vec<(u32, KeyRange)>,
    /// A keyspace of another database was written through it: its commit fails.
    foreign: bool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("sequence", &self.snapshot.sequence())
            .field("writes", &self.writes.len())
            .field("reads", &self.reads.len())
            .field("ranges", &self.ranges.len())
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(inner: Arc<DbInner>) -> Transaction {
        let seq = inner.acquire_snapshot();
        Transaction {
            snapshot: Snapshot::new(inner.clone(), seq),
            inner,
            writes: BTreeMap::new(),
            reads: BTreeSet::new(),
            ranges: Vec::new(),
            foreign: false,
        }
    }

    /// The engine it runs on (the C API checks that a keyspace belongs to it).
    pub(crate) fn engine(&self) -> &Arc<DbInner> {
        &self.inner
    }

    /// The value of `key`: this transaction's own write if it made one, otherwise the
    /// database's at the transaction's snapshot. The key joins the read set.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tree = self.inner.default_tree().clone();
        self.get_tree(&tree, key)
    }

    /// [`Transaction::get`] in keyspace `ks`.
    pub fn get_in(&mut self, ks: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        ks.tree().check_live()?;
        self.get_tree(ks.tree(), key)
    }

    fn get_tree(&mut self, tree: &Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = (tree.id, key.to_vec());
        if let Some(w) = self.writes.get(&k) {
            return Ok(w.clone());
        }
        let v = self
            .inner
            .get(tree, key, Some(self.snapshot.read_point()))?;
        self.reads.insert(k);
        Ok(v)
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.writes
            .insert((DEFAULT_KEYSPACE, key.to_vec()), Some(value.to_vec()));
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(&mut self, key: &[u8]) {
        self.writes.insert((DEFAULT_KEYSPACE, key.to_vec()), None);
    }

    /// Sets `key` to `value` in keyspace `ks` when the transaction commits.
    pub fn put_in(&mut self, ks: &Keyspace, key: &[u8], value: &[u8]) {
        self.foreign |= ks.instance() != self.inner.instance;
        self.writes
            .insert((ks.id(), key.to_vec()), Some(value.to_vec()));
    }

    /// Deletes `key` in keyspace `ks` when the transaction commits.
    pub fn delete_in(&mut self, ks: &Keyspace, key: &[u8]) {
        self.foreign |= ks.instance() != self.inner.instance;
        self.writes.insert((ks.id(), key.to_vec()), None);
    }

    /// Every key and value, as this transaction sees them (its snapshot with its own
    /// writes applied), in key order. The whole key space joins the read set.
    pub fn iter(&mut self) -> TxIter {
        self.scan(None, None, None)
    }

    /// The keys in `range`, as this transaction sees them. The range joins the read
    /// set: a commit by someone else that writes anywhere in it makes this
    /// transaction's commit fail, even if no key read here changed.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, range: R) -> TxIter {
        let (lo, hi) = bounds(&range);
        self.scan(None, lo, hi)
    }

    /// The keys starting with `prefix`, as this transaction sees them (the prefix's
    /// range joins the read set).
    pub fn prefix(&mut self, prefix: &[u8]) -> TxIter {
        self.scan(None, Some(prefix.to_vec()), prefix_end(prefix))
    }

    /// [`Transaction::iter`] over keyspace `ks`.
    pub fn iter_in(&mut self, ks: &Keyspace) -> TxIter {
        self.scan(Some(ks.tree()), None, None)
    }

    /// [`Transaction::range`] in keyspace `ks`.
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &mut self,
        ks: &Keyspace,
        range: R,
    ) -> TxIter {
        let (lo, hi) = bounds(&range);
        self.scan(Some(ks.tree()), lo, hi)
    }

    /// [`Transaction::prefix`] in keyspace `ks`.
    pub fn prefix_in(&mut self, ks: &Keyspace, prefix: &[u8]) -> TxIter {
        self.scan(Some(ks.tree()), Some(prefix.to_vec()), prefix_end(prefix))
    }

    fn scan(
        &mut self,
        tree: Option<&Arc<Tree>>,
        lo: Option<Vec<u8>>,
        hi: Option<Vec<u8>>,
    ) -> TxIter {
        let id = tree.map_or(DEFAULT_KEYSPACE, |t| t.id);
        self.ranges.push((id, (lo.clone(), hi.clone())));
        let in_range =
            |k: &Vec<u8>| lo.as_ref().is_none_or(|l| k >= l) && hi.as_ref().is_none_or(|h| k < h);
        // Own writes as they are now: later writes through this transaction do not
        // show up in an iterator already made (like a snapshot's).
        let own: Vec<OwnWrite> = self
            .writes
            .range((id, Vec::new())..)
            .take_while(|((ks, _), _)| *ks == id)
            .filter(|((_, k), _)| in_range(k))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        let base = Iter::new(
            self.inner.clone(),
            tree.map(|t| &**t),
            Some(self.snapshot.read_point()),
            lo,
            hi,
        );
        TxIter {
            base,
            base_next: None,
            own: own.into_iter().peekable(),
            done: false,
        }
    }

    /// The sequence number the transaction reads at.
    pub fn sequence(&self) -> u64 {
        self.snapshot.sequence()
    }

    /// Writes buffered so far.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True when nothing was written through the transaction.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Applies every write of the transaction as one atomic batch, or fails with
    /// [`LsmError::Conflict`] and applies nothing when something it read was written
    /// after it began. A transaction that wrote nothing commits without a check: it
    /// saw one consistent snapshot, which is all a reader needs.
    pub fn commit(self) -> Result<()> {
        self.commit_opt(false)
    }

    /// [`Transaction::commit`], with an fsync of the WAL before it returns when
    /// `sync` (as `WriteOptions::sync`).
    pub fn commit_opt(self, sync: bool) -> Result<()> {
        if self.foreign {
            return Err(LsmError::InvalidArgument(
                "the transaction writes into a keyspace of another database".into(),
            ));
        }
        if self.writes.is_empty() {
            return self.inner.check_open();
        }
        let mut batch = WriteBatch::new();
        for ((ks, k), v) in &self.writes {
            match v {
                Some(v) => batch.put_ks(*ks, k, v),
                None => batch.delete_ks(*ks, k),
            };
        }
        let after = self.snapshot.sequence();
        let inner = &self.inner;
        let check = |view_of: &dyn Fn(u32) -> Result<Arc<SuperVersion>>| -> Result<()> {
            // One view per keyspace for the whole check.
            let mut views: BTreeMap<u32, Arc<SuperVersion>> = BTreeMap::new();
            let mut view = |id: u32| -> Result<Arc<SuperVersion>> {
                if let Some(v) = views.get(&id) {
                    return Ok(v.clone());
                }
                let v = view_of(id)?;
                views.insert(id, v.clone());
                Ok(v)
            };
            for (ks, k) in &self.reads {
                if inner.key_written_after(&*view(*ks)?, k, after)? {
                    return Err(LsmError::Conflict);
                }
            }
            for (ks, (lo, hi)) in &self.ranges {
                if inner.range_written_after(&*view(*ks)?, lo.as_deref(), hi.as_deref(), after)? {
                    return Err(LsmError::Conflict);
                }
            }
            Ok(())
        };
        inner.write_checked(batch, sync, &check)
    }

    /// Discards the transaction (as dropping it does).
    pub fn rollback(self) {}
}

/// An iterator over a transaction's view: its snapshot with its own writes merged in
/// (a deleted key is skipped), in key order.
pub struct TxIter {
    base: Iter,
    /// The base's next item, read ahead to merge.
    base_next: Option<(Vec<u8>, Vec<u8>)>,
    own: std::iter::Peekable<std::vec::IntoIter<OwnWrite>>,
    done: bool,
}

impl Iterator for TxIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.base_next.is_none() {
                match self.base.next() {
                    Some(Ok(kv)) => self.base_next = Some(kv),
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => {}
                }
            }
            let (take_own, replaces) = match (&self.base_next, self.own.peek()) {
                (None, None) => {
                    self.done = true;
                    return None;
                }
                (None, Some(_)) => (true, false),
                (Some(_), None) => (false, false),
                // The transaction's write of a key replaces the snapshot's version.
                (Some((bk, _)), Some((ok, _))) => (ok <= bk, ok == bk),
            };
            if replaces {
                self.base_next = None;
            }
            if !take_own {
                return self.base_next.take().map(Ok);
            }
            match self.own.next() {
                Some((k, Some(v))) => return Some(Ok((k, v))),
                // Deleted by the transaction.
                Some((_, None)) => continue,
                None => continue,
            }
        }
    }
}
