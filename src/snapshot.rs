//! `Snapshot`: a consistent read-only view of the database at one sequence number.

use crate::bounds::{bounds, prefix_end};
use crate::db::DbInner;
use crate::error::Result;
use crate::iterator::Iter;
use crate::key::SeqNo;
use crate::keyspace::Keyspace;
use crate::pinned::PinnedValue;
use crate::raw_iterator::RawIterator;
use crate::ttl::ReadPoint;
use std::ops::RangeBounds;
use std::sync::Arc;

/// A consistent read-only view: reads through it see the database, every keyspace,
/// as it was when it was taken (`get_in`, `iter_in` and the like read a keyspace). Dropping it lets the engine discard versions kept for it.
pub struct Snapshot {
    inner: Arc<DbInner>,
    seq: SeqNo,
    /// When it was taken: entries expire for it by this time.
    now_ms: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.inner.release_snapshot(self.seq);
    }
}

impl Snapshot {
    /// Wraps the snapshot `seq`, already registered with `inner`; released on drop.
    pub(crate) fn new(inner: Arc<DbInner>, seq: SeqNo) -> Snapshot {
        let now_ms = inner.config.clock.now_ms();
        Snapshot { inner, seq, now_ms }
    }

    /// Where reads through it are made.
    pub(crate) fn read_point(&self) -> ReadPoint {
        ReadPoint {
            seq: self.seq,
            now_ms: self.now_ms,
        }
    }

    /// The value of `key` in this view.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner
            .get(self.inner.default_tree(), key, Some(self.read_point()))
    }

    /// The value of `key` in this view, without a copy (see [`crate::Lsm::get_pinned`]).
    pub fn get_pinned(&self, key: &[u8]) -> Result<Option<PinnedValue>> {
        self.inner
            .get_pinned(self.inner.default_tree(), key, Some(self.read_point()))
    }

    /// The values of `keys` in this view, in the order given.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(crate::lsm::into_vecs(self.multi_get_pinned(keys)?))
    }

    /// [`Snapshot::multi_get`] without copying the values.
    pub fn multi_get_pinned<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<PinnedValue>>> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        self.inner
            .multi_get(self.inner.default_tree(), &keys, Some(self.read_point()))
    }

    /// The values of `keys` in keyspace `ks` in this view, in the order given.
    pub fn multi_get_in<K: AsRef<[u8]>>(
        &self,
        ks: &Keyspace,
        keys: &[K],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(crate::lsm::into_vecs(self.multi_get_pinned_in(ks, keys)?))
    }

    /// [`Snapshot::multi_get_in`] without copying the values.
    pub fn multi_get_pinned_in<K: AsRef<[u8]>>(
        &self,
        ks: &Keyspace,
        keys: &[K],
    ) -> Result<Vec<Option<PinnedValue>>> {
        ks.tree().check_live()?;
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        self.inner
            .multi_get(ks.tree(), &keys, Some(self.read_point()))
    }

    /// The value of `key` in keyspace `ks` in this view.
    pub fn get_in(&self, ks: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        ks.tree().check_live()?;
        self.inner.get(ks.tree(), key, Some(self.read_point()))
    }

    /// Every key and value of keyspace `ks` in this view.
    pub fn iter_in(&self, ks: &Keyspace) -> Iter {
        Iter::new(
            self.inner.clone(),
            Some(ks.tree()),
            Some(self.read_point()),
            None,
            None,
        )
    }

    /// The keys in `range` of keyspace `ks` in this view.
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, ks: &Keyspace, range: R) -> Iter {
        let (lo, hi) = bounds(&range);
        Iter::new(
            self.inner.clone(),
            Some(ks.tree()),
            Some(self.read_point()),
            lo,
            hi,
        )
    }

    /// The keys of keyspace `ks` starting with `prefix` in this view.
    pub fn prefix_in(&self, ks: &Keyspace, prefix: &[u8]) -> Iter {
        Iter::new(
            self.inner.clone(),
            Some(ks.tree()),
            Some(self.read_point()),
            Some(prefix.to_vec()),
            prefix_end(prefix),
        )
    }

    /// A seekable cursor over keyspace `ks` in this view.
    pub fn raw_iter_in(&self, ks: &Keyspace) -> RawIterator {
        RawIterator::new(
            self.inner.clone(),
            Some(ks.tree()),
            Some(self.read_point()),
            None,
            None,
        )
    }

    /// Every key and value in this view.
    pub fn iter(&self) -> Iter {
        Iter::new(
            self.inner.clone(),
            None,
            Some(self.read_point()),
            None,
            None,
        )
    }

    /// The keys in `range` in this view.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let (lo, hi) = bounds(&range);
        Iter::new(self.inner.clone(), None, Some(self.read_point()), lo, hi)
    }

    /// The keys starting with `prefix` in this view.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        Iter::new(
            self.inner.clone(),
            None,
            Some(self.read_point()),
            Some(prefix.to_vec()),
            prefix_end(prefix),
        )
    }

    /// A seekable cursor over this view.
    pub fn raw_iter(&self) -> RawIterator {
        RawIterator::new(
            self.inner.clone(),
            None,
            Some(self.read_point()),
            None,
            None,
        )
    }

    /// The sequence number this view reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// The engine it reads (the C API checks that a keyspace belongs to it).
    pub(crate) fn engine(&self) -> &Arc<DbInner> {
        &self.inner
    }
}
