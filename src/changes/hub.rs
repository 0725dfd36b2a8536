//! Subscriptions: each commit group is handed to every live subscription as it is
//! written to the WAL (under the WAL lock, so in commit order), and a subscription
//! hands it on once the group is published, i.e. durable as `wal.sync` promises and
//! visible to reads.

use super::{ChangeBatch, ChangeOp};
use crate::batch::WriteBatch;
use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::key::SeqNo;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The live subscriptions of one database.
#[derive(Default)]
pub(crate) struct ChangeHub {
    subs: Mutex<Vec<Weak<SubShared>>>,
    /// How many are registered, read without the lock on every write.
    count: AtomicUsize,
}

struct SubShared {
    prefix: Vec<u8>,
    queue: Mutex<VecDeque<ChangeBatch>>,
    cv: Condvar,
}

impl ChangeHub {
    /// True when some subscription may want the next group.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Hands the group starting at `first` to every subscription whose prefix it
    /// touches. Called with the WAL lock held, right after the group's WAL append.
    pub fn push(&self, first: SeqNo, group: &[&WriteBatch], name: impl Fn(u32) -> Arc<str>) {
        let mut ops = Vec::new();
        let mut seq = first;
        for b in group {
            for (ks, op) in b.iter() {
                ops.push(ChangeOp::from_batch_op(seq, ks, name(ks), op));
                seq += 1;
            }
        }
        if ops.is_empty() {
            return;
        }
        let batch = ChangeBatch::new(first, seq - 1, ops);
        let mut subs = self.subs.lock();
        subs.retain(|w| w.strong_count() > 0);
        self.count.store(subs.len(), Ordering::Release);
        for s in subs.iter().filter_map(Weak::upgrade) {
            if let Some(b) = batch.under_prefix(&s.prefix) {
                s.queue.lock().push_back(b);
            }
        }
    }

    /// Wakes every subscription to look at the published sequence number again (after
    /// a publish, an error or close).
    pub fn notify(&self) {
        for s in self.subs.lock().iter().filter_map(Weak::upgrade) {
            let _q = s.queue.lock();
            s.cv.notify_all();
        }
    }

    fn register(&self, prefix: &[u8]) -> Arc<SubShared> {
        let shared = Arc::new(SubShared {
            prefix: prefix.to_vec(),
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
        });
        let mut subs = self.subs.lock();
        subs.retain(|w| w.strong_count() > 0);
        subs.push(Arc::downgrade(&shared));
        self.count.store(subs.len(), Ordering::Release);
        shared
    }
}

/// New changes under a key prefix, as they commit (see [`crate::Lsm::subscribe`]).
///
/// Every batch committed after the subscription was created that touches the prefix
/// arrives, with only its operations under the prefix, in commit order. Batches wait
/// in memory until taken: a subscription nobody reads grows without bound, so drop
/// the ones no longer read.
pub struct Subscription {
    db: Arc<DbInner>,
    shared: Arc<SubShared>,
}

impl Subscription {
    pub(crate) fn new(db: Arc<DbInner>, prefix: &[u8]) -> Result<Subscription> {
        db.check_open()?;
        // Registered under the WAL lock: every group after `start` is pushed to it.
        let (shared, start) =
            db.with_wal_locked(|last_seq| (db.changes.register(prefix), last_seq));
        let sub = Subscription { db, shared };
        // Groups written before the registration but not yet published would be
        // acknowledged after `subscribe` returns without reaching it: wait them out.
        let mut q = sub.shared.queue.lock();
        while sub.db.visible_seq() < start {
            sub.check_live()?;
            sub.shared.cv.wait_for(&mut q, Duration::from_millis(50));
        }
        drop(q);
        Ok(sub)
    }

    fn check_live(&self) -> Result<()> {
        self.db.check_open()?;
        self.db.check_writable()
    }

    /// The next batch, waiting as long as it takes.
    pub fn next_batch(&mut self) -> Result<ChangeBatch> {
        loop {
            if let Some(b) = self.next_timeout(Duration::from_secs(3600))? {
                return Ok(b);
            }
        }
    }

    /// The next batch, or `None` if none committed within `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<ChangeBatch>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut q = self.shared.queue.lock();
        loop {
            if let Some(front) = q.front() {
                if front.last_seq() <= self.db.visible_seq() {
                    return Ok(q.pop_front());
                }
            }
            // A closed database or a failed write ends the subscription; the batches
            // already published are still delivered above.
            self.check_live()?;
            match deadline {
                Some(d) => {
                    if self.shared.cv.wait_until(&mut q, d).timed_out() {
                        let ready = q
                            .front()
                            .is_some_and(|f| f.last_seq() <= self.db.visible_seq());
                        if !ready {
                            return Ok(None);
                        }
                    }
                }
                None => self.shared.cv.wait(&mut q),
            }
        }
    }

    /// The next batch if one is ready now.
    pub fn try_next(&mut self) -> Result<Option<ChangeBatch>> {
        self.next_timeout(Duration::ZERO)
    }
}

impl Iterator for Subscription {
    type Item = Result<ChangeBatch>;

    /// Blocks for the next batch; ends after an error (a closed database).
    fn next(&mut self) -> Option<Result<ChangeBatch>> {
        match self.next_batch() {
            Ok(b) => Some(Ok(b)),
            Err(LsmError::Closed) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
