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
use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::iterator::Iter;
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeBounds;
use std::sync::Arc;

/// `[lo, hi)`, `None` unbounded.
type KeyRange = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A buffered write: `None` deletes.
type OwnWrite = (Vec<u8>, Option<Vec<u8>>);

/// How many times [`crate::Lsm::transact`] runs its closure before it gives up with
/// [`LsmError::Conflict`].
pub const TRANSACT_ATTEMPTS: usize = 10;

/// An optimistic, serializable transaction (see the module docs). `Send`: it may move
/// between threads, one at a time. Dropping it uncommitted discards its writes.
pub struct Transaction {
    inner: Arc<DbInner>,
    snapshot: Snapshot,
    /// Buffered writes, by key: `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys read from the database (not from `writes`).
    reads: BTreeSet<Vec<u8>>,
    /// Ranges iterated.
    ranges: Vec<KeyRange>,
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
        }
    }

    /// The value of `key`: this transaction's own write if it made one, otherwise the
    /// database's at the transaction's snapshot. The key joins the read set.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        let v = self.snapshot.get(key)?;
        if !self.reads.contains(key) {
            self.reads.insert(key.to_vec());
        }
        Ok(v)
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }

    /// Every key and value, as this transaction sees them (its snapshot with its own
    /// writes applied), in key order. The whole key space joins the read set.
    pub fn iter(&mut self) -> TxIter {
        self.scan(None, None)
    }

    /// The keys in `range`, as this transaction sees them. The range joins the read
    /// set: a commit by someone else that writes anywhere in it makes this
    /// transaction's commit fail, even if no key read here changed.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, range: R) -> TxIter {
        let (lo, hi) = bounds(&range);
        self.scan(lo, hi)
    }

    /// The keys starting with `prefix`, as this transaction sees them (the prefix's
    /// range joins the read set).
    pub fn prefix(&mut self, prefix: &[u8]) -> TxIter {
        self.scan(Some(prefix.to_vec()), prefix_end(prefix))
    }

    fn scan(&mut self, lo: Option<Vec<u8>>, hi: Option<Vec<u8>>) -> TxIter {
        self.ranges.push((lo.clone(), hi.clone()));
        let in_range =
            |k: &Vec<u8>| lo.as_ref().is_none_or(|l| k >= l) && hi.as_ref().is_none_or(|h| k < h);
        // Own writes as they are now: later writes through this transaction do not
        // show up in an iterator already made (like a snapshot's).
        let own: Vec<OwnWrite> = self
            .writes
            .iter()
            .filter(|(k, _)| in_range(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let base = Iter::new(self.inner.clone(), Some(self.snapshot.sequence()), lo, hi);
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
        if self.writes.is_empty() {
            return self.inner.check_open();
        }
        let mut batch = WriteBatch::new();
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            };
        }
        let after = self.snapshot.sequence();
        let inner = &self.inner;
        let check = |sv: &crate::db::SuperVersion| -> Result<()> {
            for k in &self.reads {
                if inner.key_written_after(sv, k, after)? {
                    return Err(LsmError::Conflict);
                }
            }
            for (lo, hi) in &self.ranges {
                if inner.range_written_after(sv, lo.as_deref(), hi.as_deref(), after)? {
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
