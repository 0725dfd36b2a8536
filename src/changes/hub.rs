//! Subscriptions: each commit group is handed to every live subscription as it is
//! written to the WAL (under the WAL lock, so in commit order), and a subscription
//! hands it on once the group is published, i.e. durable as `wal.sync` promises and
//! visible to reads.
//!
//! A subscription made with a starting sequence number (`Lsm::subscribe_since`)
//! first hands out the history from the WAL, then the queue: it registers before it
//! reads the history, so the two overlap rather than leave a gap, and the queue skips
//! the batches the history already gave.
//!
//! Waiting: a thread blocks on the subscription's condition variable
//! (`next_timeout`); an async task leaves a `Waker` (`poll_batch`). Both are woken by
//! `ChangeHub::notify`, after every publish, a failed write and close.

use super::{ChangeBatch, ChangeFeed, ChangeOp};
use crate::batch::WriteBatch;
use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::key::SeqNo;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
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
    queue: Mutex<Queue>,
    cv: Condvar,
}

/// What the hub hands a subscription, and who to wake for it.
#[derive(Default)]
struct Queue {
    batches: VecDeque<ChangeBatch>,
    /// The task of the last `poll_batch` that found nothing ready.
    waker: Option<Waker>,
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
                s.queue.lock().batches.push_back(b);
            }
        }
    }

    /// Wakes every subscription to look at the published sequence number again (after
    /// a publish, an error or close).
    pub fn notify(&self) {
        for s in self.subs.lock().iter().filter_map(Weak::upgrade) {
            let mut q = s.queue.lock();
            s.cv.notify_all();
            let waker = q.waker.take();
            drop(q);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn register(&self, prefix: &[u8]) -> Arc<SubShared> {
        let shared = Arc::new(SubShared {
            prefix: prefix.to_vec(),
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        });
        let mut subs = self.subs.lock();
        subs.retain(|w| w.strong_count() > 0);
        subs.push(Arc::downgrade(&shared));
        self.count.store(subs.len(), Ordering::Release);
        shared
    }
}

/// New changes under a key prefix, as they commit (see [`crate::Lsm::subscribe`]),
/// optionally preceded by the history from a sequence number on
/// ([`crate::Lsm::subscribe_since`]).
///
/// Every batch committed after the subscription was created that touches the prefix
/// arrives, with only its operations under the prefix, in commit order. Batches wait
/// in memory until taken: a subscription nobody reads grows without bound, so drop
/// the ones no longer read.
pub struct Subscription {
    db: Arc<DbInner>,
    shared: Arc<SubShared>,
    /// The history still to hand out (`subscribe_since`), before the queue.
    history: Option<ChangeFeed>,
    /// The history's failure: the subscription hands out nothing after it, since
    /// going on with the queue would skip the history's rest.
    failed: Option<LsmError>,
    /// Batches ending at or before this were handed out from the history (or come
    /// before the starting sequence number): the queue drops them.
    skip_upto: SeqNo,
}

impl Subscription {
    pub(crate) fn new(db: Arc<DbInner>, prefix: &[u8]) -> Result<Subscription> {
        db.check_open()?;
        // Registered under the WAL lock: every group after `start` is pushed to it.
        let (shared, start) =
            db.with_wal_locked(|last_seq| (db.changes.register(prefix), last_seq));
        let sub = Subscription {
            db,
            shared,
            history: None,
            failed: None,
            skip_upto: 0,
        };
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

    /// A subscription that first hands out every committed batch from `since` on
    /// (those whose last sequence number is `since` or later, as
    /// [`crate::Lsm::changes_since`]), then goes on with the ones committed later:
    /// each batch once, in commit order, none missed in between. `ChangesPurged`
    /// when the history from `since` is no longer kept.
    pub(crate) fn since(db: Arc<DbInner>, prefix: &[u8], since: SeqNo) -> Result<Subscription> {
        // Registered first: every group after the history's end reaches the queue.
        let mut sub = Subscription::new(db.clone(), prefix)?;
        sub.history = Some(ChangeFeed::new(db, since)?);
        sub.skip_upto = since.saturating_sub(1);
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
        if let Some(b) = self.next_from_history()? {
            return Ok(Some(b));
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut q = self.shared.queue.lock();
        loop {
            if let Some(b) = self.take_ready(&mut q) {
                return Ok(Some(b));
            }
            // A closed database or a failed write ends the subscription; the batches
            // already published are still delivered above.
            self.check_live()?;
            match deadline {
                Some(d) => {
                    if self.shared.cv.wait_until(&mut q, d).timed_out() {
                        return Ok(self.take_ready(&mut q));
                    }
                }
                None => self.shared.cv.wait(&mut q),
            }
        }
    }

    /// The next batch if one is ready; otherwise `Poll::Pending`, and the task of
    /// `cx` is woken when one may be (a spurious wake is possible: poll again). For
    /// async callers: it never waits, except that a subscription from
    /// `subscribe_since` reads its history from the WAL files first.
    pub fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Result<ChangeBatch>> {
        match self.next_from_history() {
            Ok(Some(b)) => return Poll::Ready(Ok(b)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        let mut q = self.shared.queue.lock();
        if let Some(b) = self.take_ready(&mut q) {
            return Poll::Ready(Ok(b));
        }
        if let Err(e) = self.check_live() {
            return Poll::Ready(Err(e));
        }
        // Under the queue lock, which `notify` takes after every publish: a batch
        // published after the check above wakes this waker.
        match &mut q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next batch of the history, until it is exhausted (`None` from then on).
    fn next_from_history(&mut self) -> Result<Option<ChangeBatch>> {
        if let Some(e) = &self.failed {
            return Err(e.duplicate());
        }
        while let Some(h) = &mut self.history {
            match h.next() {
                Some(Ok(b)) => {
                    self.skip_upto = self.skip_upto.max(b.last_seq());
                    if let Some(b) = b.under_prefix(&self.shared.prefix) {
                        return Ok(Some(b));
                    }
                }
                Some(Err(e)) => {
                    self.history = None;
                    self.failed = Some(e.duplicate());
                    return Err(e);
                }
                None => self.history = None,
            }
        }
        Ok(None)
    }

    /// The first published batch of the queue that the history did not hand out.
    fn take_ready(&self, q: &mut Queue) -> Option<ChangeBatch> {
        let visible = self.db.visible_seq();
        while q.batches.front().is_some_and(|f| f.last_seq() <= visible) {
            match q.batches.pop_front() {
                Some(b) if b.last_seq() > self.skip_upto => return Some(b),
                _ => {}
            }
        }
        None
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
