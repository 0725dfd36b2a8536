//! The read path: point lookups and cursors over a consistent view.

use super::{DbInner, SuperVersion, Tree};
use crate::error::Result;
use crate::iter::{DbCursor, FailedIterator, InternalIterator, LevelIterator, MergingIterator};
use crate::key::{self, SeqNo, ValueKind};
use crate::manifest::TableFile;
use crate::pinned::PinnedValue;
use crate::range_del::{FragmentedTombstones, RangeTombstone};
use crate::ttl::ReadPoint;
use std::sync::Arc;

/// The error for a keyspace handle used with another database.
pub(crate) fn foreign() -> crate::error::LsmError {
    crate::error::LsmError::InvalidArgument("a keyspace of another database".into())
}

/// How a lookup hands its value over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handover {
    /// The caller copies it out at once (`get`): a memtable value is copied directly.
    Copy,
    /// The caller keeps it (`get_pinned`, `multi_get`): borrowed where it lies.
    Pin,
}

/// Where a test may stop a get between its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadPause {
    /// After the view is loaded, before the sequence number is read.
    AfterView,
}

#[cfg(not(test))]
#[inline(always)]
fn pause_point(_: ReadPause) {}

#[cfg(test)]
fn pause_point(at: ReadPause) {
    tests::pause_point(at)
}

impl DbInner {
    /// The value of `user_key` in keyspace `tree` as of `snapshot` (now when `None`).
    pub fn get(
        &self,
        tree: &Tree,
        user_key: &[u8],
        snapshot: Option<ReadPoint>,
    ) -> Result<Option<Vec<u8>>> {
        // Copied straight out of the memtable: pinning it first would cost a reference
        // count taken and dropped for nothing.
        Ok(self
            .lookup(tree, user_key, snapshot, Handover::Copy)?
            .map(PinnedValue::into_vec))
    }

    /// [`DbInner::get`] without copying the value out of the cache, block or
    /// memtable that holds it.
    pub fn get_pinned(
        &self,
        tree: &Tree,
        user_key: &[u8],
        snapshot: Option<ReadPoint>,
    ) -> Result<Option<PinnedValue>> {
        self.lookup(tree, user_key, snapshot, Handover::Pin)
    }

    /// The sequence number a read at `at` sees: the snapshot's, or (`None`) the
    /// newest published one.
    pub(crate) fn seq_at(&self, at: Option<ReadPoint>) -> SeqNo {
        at.map_or_else(|| self.visible_seq(), |p| p.seq)
    }

    /// The time a read at `at` expires entries by: the snapshot's, or (`None`) the
    /// clock's now.
    pub(crate) fn now_at(&self, at: Option<ReadPoint>) -> u64 {
        at.map_or_else(|| self.config.clock.now_ms(), |p| p.now_ms)
    }

    /// [`DbInner::enter`] for an operation on keyspace `tree`, which must be one of
    /// this database's.
    fn enter_for(&self, tree: &Tree) -> Result<super::OpGuard<'_>> {
        let op = self.enter()?;
        if !self.owns(tree) {
            return Err(foreign());
        }
        Ok(op)
    }

    fn lookup(
        &self,
        tree: &Tree,
        user_key: &[u8],
        snapshot: Option<ReadPoint>,
        handover: Handover,
    ) -> Result<Option<PinnedValue>> {
        let _op = self.enter_for(tree)?;
        if !crate::histogram::sample() {
            return self.get_inner(tree, user_key, snapshot, handover);
        }
        let started = std::time::Instant::now();
        let r = self.get_inner(tree, user_key, snapshot, handover);
        self.counters
            .get_latency
            .record(started.elapsed().as_nanos() as u64);
        r
    }

    /// The values of `keys` in keyspace `tree`, in the order given, all read at one
    /// point: `snapshot`, or now when `None` (one view and one sequence number for
    /// every key, so a batch written meanwhile is seen whole or not at all). The keys
    /// are probed in sorted order, so neighbours share the blocks and index
    /// partitions just read.
    pub fn multi_get(
        &self,
        tree: &Tree,
        keys: &[&[u8]],
        snapshot: Option<ReadPoint>,
    ) -> Result<Vec<Option<PinnedValue>>> {
        let _op = self.enter_for(tree)?;
        let sv = tree.sv.load();
        let snap = self.seq_at(snapshot);
        let now = || self.now_at(snapshot);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
        let mut out: Vec<Option<PinnedValue>> = vec![None; keys.len()];
        let mut last: Option<usize> = None;
        for i in order {
            let k = keys[i];
            // A repeated key is read once.
            if let Some(j) = last.filter(|&j| keys[j] == k) {
                out[i] = out[j].clone();
                continue;
            }
            let (value, _) =
                self.get_from_tree(tree, &sv, k, key::hash(k), snap, now, Handover::Pin)?;
            out[i] = value;
            last = Some(i);
        }
        Ok(out)
    }

    fn get_inner(
        &self,
        tree: &Tree,
        user_key: &[u8],
        snapshot: Option<ReadPoint>,
        handover: Handover,
    ) -> Result<Option<PinnedValue>> {
        let cache = match snapshot {
            // The cache holds current values of the keyspace "default" only, so
            // snapshot reads and other keyspaces bypass it.
            None if tree.id == self.default.id => self.key_cache.as_deref(),
            _ => None,
        };
        if let Some(v) = cache.and_then(|kc| kc.get(user_key)) {
            return Ok(Some(PinnedValue::shared(v)));
        }
        // The view first, then the sequence number: the view then holds every version
        // up to that number. Taken the other way round, a flush and a compaction
        // between the two steps could drop the version the number needs (nothing
        // registers it as a snapshot), and a key present all along would read as
        // missing.
        let sv = tree.sv.load();
        pause_point(ReadPause::AfterView);
        let snap = self.seq_at(snapshot);
        // Now only when an entry that expires or merges needs it.
        let now = || self.now_at(snapshot);
        // One hash of the key serves the memtable filters, the bloom filters of the
        // tables and the key cache.
        let hash = key::hash(user_key);
        let (value, timeless) =
            self.get_from_tree(tree, &sv, user_key, hash, snap, now, handover)?;
        // A value that depends on the time (it expires, or merges onto one that does)
        // is not cached: the cache cannot tell when it stops being true.
        if let (Some(kc), Some(v), true) = (cache, &value, timeless) {
            kc.insert(user_key, hash, v, snap);
        }
        Ok(value)
    }

    /// The value of `user_key` (whose [`key::hash`] is `hash`) at `snap`, from the
    /// memtables and tables.
    /// With the value, true when it is plainly stored (no expiry, no merge).
    #[allow(clippy::too_many_arguments)]
    fn get_from_tree(
        &self,
        tree: &Tree,
        sv: &SuperVersion,
        user_key: &[u8],
        hash: u64,
        snap: SeqNo,
        now: impl Fn() -> u64,
        handover: Handover,
    ) -> Result<(Option<PinnedValue>, bool)> {
        // Sources are searched newest first; the first one holding the key has its
        // newest version. A range deletion can only hide that version if it is newer,
        // and newer deletions live in the same or a newer source, so tombstones are
        // only collected from the sources searched so far.
        let mut tomb: SeqNo = 0;
        let mut found = None;
        for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
            tomb = tomb.max(m.max_covering_tombstone(user_key, snap));
            let hit = match handover {
                Handover::Copy => m
                    .get_hashed(user_key, hash, snap)
                    .map(|(seq, kind, v)| (seq, kind, PinnedValue::owned(v))),
                Handover::Pin => m
                    .get_pinned(user_key, hash, snap)
                    .map(|(seq, kind, v)| (seq, kind, PinnedValue::mem(v))),
            };
            if hit.is_some() {
                found = hit;
                break;
            }
        }
        if found.is_none() {
            let lookup = key::lookup_key(user_key, snap);
            // Level 0 newest first (its files overlap), then in each deeper level the
            // one file whose range holds the key. Newer data sits in higher levels.
            let level0 = sv.version.levels.first().into_iter().flatten();
            let deeper = (1..sv.version.levels.len())
                .filter_map(|l| sv.version.file_for_key(l, user_key, &lookup));
            for f in level0.chain(deeper) {
                // A file's range deletions lie within its range, so a file that
                // cannot hold the key has none covering it either.
                let (lo, hi) = f.user_range();
                if user_key < lo || user_key > hi {
                    continue;
                }
                let index = f.tombstone_index()?;
                if !index.is_empty() {
                    tomb = tomb.max(index.max_covering(user_key, snap));
                }
                if let Some(e) = f.table()?.get_pinned_at(user_key, &lookup, hash)? {
                    found = Some(e);
                    break;
                }
            }
        }
        match found {
            Some((seq, ValueKind::Put, v)) if seq > tomb => Ok((Some(v), true)),
            Some((seq, ValueKind::PutExpiring, raw)) if seq > tomb => {
                let (at, _) = crate::ttl::split(&raw).ok_or_else(crate::ttl::malformed)?;
                let live = at > now();
                let value = if live {
                    raw.skip(crate::ttl::EXPIRY_LEN)
                } else {
                    None
                };
                Ok((value, false))
            }
            Some((seq, ValueKind::Merge, _)) if seq > tomb => {
                let merged = self.get_merged(tree, sv, user_key, snap, now())?;
                Ok((merged.map(PinnedValue::owned), false))
            }
            _ => Ok((None, true)),
        }
    }

    /// The value of `user_key` at `snap` when its newest version is a merge operand:
    /// folded by a cursor over just that key, which walks its versions down to the
    /// value under the operands exactly as iterators do, so the two always agree.
    fn get_merged(
        &self,
        tree: &Tree,
        sv: &SuperVersion,
        user_key: &[u8],
        snap: SeqNo,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>> {
        let mut upper = user_key.to_vec();
        upper.push(0);
        let mut c = self
            .cursor(sv, snap, Some(user_key.to_vec()), Some(upper))
            .with_merge_operator(tree.config.merge.operator.clone())
            .at_time(now_ms);
        c.seek_to_first();
        c.status()?;
        Ok((c.valid() && c.key() == user_key).then(|| c.value().to_vec()))
    }

    /// A cursor over `[lower, upper)` as of `snapshot`, reading the sources of `sv`.
    /// A table that cannot be opened (missing, damaged) makes it fail with that
    /// error at its first positioning.
    pub fn cursor(
        &self,
        sv: &SuperVersion,
        snapshot: SeqNo,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> DbCursor {
        let (children, tombstones) =
            match Self::cursor_sources(sv, lower.as_deref(), upper.as_deref()) {
                Ok(parts) => parts,
                Err(e) => {
                    let failed: Box<dyn InternalIterator> = Box::new(FailedIterator::new(e));
                    (vec![failed], Vec::new())
                }
            };
        let tombs = FragmentedTombstones::new(&tombstones, snapshot);
        DbCursor::new(
            MergingIterator::by_age(children),
            snapshot,
            tombs,
            lower,
            upper,
        )
    }

    /// A cursor that fails with `e` at its first positioning.
    pub fn failed_cursor(&self, e: crate::error::LsmError, snapshot: SeqNo) -> DbCursor {
        let failed: Box<dyn InternalIterator> = Box::new(FailedIterator::new(e));
        DbCursor::new(
            MergingIterator::new(vec![failed]),
            snapshot,
            FragmentedTombstones::new(&[], snapshot),
            None,
            None,
        )
    }

    /// The cursors over the sources of `sv` that may hold keys in `[lower, upper)`,
    /// and their range deletions. Level-0 tables are opened now; deeper levels open
    /// one table at a time as the walk reaches it.
    #[allow(clippy::type_complexity)]
    fn cursor_sources(
        sv: &SuperVersion,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
    ) -> Result<(Vec<Box<dyn InternalIterator>>, Vec<RangeTombstone>)> {
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        let mut tombstones = Vec::new();
        for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
            children.push(Box::new(m.iter()));
            tombstones.extend(m.range_tombstones());
        }
        let in_bounds = |f: &&Arc<TableFile>| {
            let (s, l) = f.user_range();
            !(upper.is_some_and(|u| s >= u) || lower.is_some_and(|lo| l < lo))
        };
        for (level, files) in sv.version.levels.iter().enumerate() {
            let files: Vec<Arc<TableFile>> = files.iter().filter(in_bounds).cloned().collect();
            for f in &files {
                tombstones.extend(f.range_tombstones()?.iter().cloned());
            }
            if level == 0 {
                for f in &files {
                    children.push(Box::new(f.table()?.iter()));
                }
            } else if !files.is_empty() {
                children.push(Box::new(LevelIterator::new(files)));
            }
        }
        Ok((children, tombstones))
    }
}

#[cfg(test)]
mod tests {
    //! Interleavings of a get with flushes and compactions, forced through the pause
    //! point.
    use super::ReadPause;
    use crate::config::Config;
    use crate::fs::MemFs;
    use crate::Lsm;
    use parking_lot::Mutex;
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::sync::Arc;

    type Hook = (std::thread::ThreadId, ReadPause, Sender<()>, Receiver<()>);

    /// The one thread that stops at a pause point: it says it arrived, then waits.
    static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

    pub(super) fn pause_point(at: ReadPause) {
        let mut hook = HOOK.lock();
        let stop =
            matches!(&*hook, Some((t, p, _, _)) if *t == std::thread::current().id() && *p == at);
        if stop {
            if let Some((_, _, arrived, resume)) = hook.take() {
                drop(hook);
                let _ = arrived.send(());
                let _ = resume.recv();
            }
        }
    }

    fn small_levels() -> Config {
        let mut c = Config::with_root("db");
        c.cache.key_cache_entries = 0;
        c.compaction.background_threads = 1;
        c
    }

    /// Regression: `get` read the sequence number before loading its view. Stopped
    /// between the two, it missed an overwrite that was then flushed and compacted
    /// (which dropped the version its old number needed) and returned `None` for a
    /// key present the whole time. Taking the view first makes it read a version that
    /// existed.
    #[test]
    fn regression_get_never_misses_a_key_overwritten_and_compacted_meanwhile() {
        let fs = Arc::new(MemFs::new());
        let db = Lsm::open_on(small_levels(), fs).unwrap();
        db.put(b"k", b"v1").unwrap();
        db.flush().unwrap();
        db.compact().unwrap();

        let (arrived_tx, arrived_rx) = channel();
        let (resume_tx, resume_rx) = channel();
        let reader = {
            let db = db.clone();
            std::thread::spawn(move || {
                *HOOK.lock() = Some((
                    std::thread::current().id(),
                    ReadPause::AfterView,
                    arrived_tx,
                    resume_rx,
                ));
                db.get(b"k").unwrap()
            })
        };
        arrived_rx.recv().unwrap();
        // While the reader is stopped: overwrite, flush and compact everything to the
        // bottom, where the old version (no snapshot holds it) is dropped.
        db.put(b"k", b"v2").unwrap();
        db.flush().unwrap();
        db.compact().unwrap();
        resume_tx.send(()).unwrap();
        let got = reader.join().unwrap();
        assert!(
            got.as_deref() == Some(b"v1") || got.as_deref() == Some(b"v2"),
            "a key present all along read as {got:?}"
        );
    }
}
