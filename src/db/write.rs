//! The write path: group commit into the WAL, then the memtable; memtable switches.
//!
//! Writers that need an fsync queue up; the one at the front becomes the leader, takes
//! the queue's current members as its group, appends all their batches to the WAL in
//! one write and one fsync, inserts them into the memtable, publishes the new sequence
//! number and wakes the others. Writers that need no fsync go straight to the WAL lock
//! (a handoff to a leader would cost a sleep and a wake-up and save nothing).
//!
//! The WAL lock covers only the append and the sequence numbers. The memtable insert
//! comes after it, so one writer's insert overlaps the next one's append, and several
//! writers insert at once. Publishing is what keeps this invisible: a group's sequence
//! numbers become visible only after its own inserts and every earlier group's
//! (`publish`), so readers never see part of a write nor a write ahead of an earlier
//! one. Whatever must see every sequenced write in the memtables (a switch sealing
//! one, a transaction's conflict check) first waits for the inserts in flight
//! (`wait_for_inserts`); the count it waits on only rises under the WAL lock.

use super::{DbInner, SuperVersion, Tree, WalState, Writer};
use crate::batch::{self, BatchOp};
use crate::config::SyncMode;
use crate::error::{LsmError, Result};
use crate::key::SeqNo;
use crate::key::ValueKind;
use crate::manifest::VersionEdit;
use crate::memtable::MemTable;
use crate::stats::Counters;
use crate::wal::WriteAheadLogger;
use crate::WriteBatch;
use parking_lot::{Condvar, Mutex, MutexGuard};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a transaction's commit runs under the WAL lock before its write (see
/// [`DbInner::write_checked`]), given the current view of a keyspace by id: an
/// error, a conflict, stops the write.
pub(crate) type ConflictCheck<'a> =
    dyn Fn(&dyn Fn(u32) -> Result<Arc<SuperVersion>>) -> Result<()> + 'a;

/// A leader stops adding followers to its group past this many bytes, so one huge
/// group does not delay the small writes queued behind it for long.
const MAX_GROUP_BYTES: usize = 1 << 20;

/// A keyspace whose memtable holds writes from this many WAL rotations ago is
/// flushed at the next rotation, so a rarely written keyspace does not keep old WAL
/// segments (and a long replay) alive forever.
const STALE_ROTATIONS: u64 = 8;

/// How long a writer waiting for other writers' inserts (to publish after them, or
/// to seal a memtable) spins, in `spin_loop` hints, before it yields its core...
const SPIN_ROUNDS: u32 = 64;
/// ... and how many times it yields before it sleeps.
const YIELD_ROUNDS: u32 = 16;

/// One round of waiting for other writers' inserts, which take microseconds: a spin
/// hint for the first rounds, then a yield of the core (on two cores with more
/// writers than cores, the writer waited for may need it). False once both are used
/// up, when the caller should sleep instead.
fn spin_or_yield(round: u32) -> bool {
    if round < SPIN_ROUNDS {
        std::hint::spin_loop();
    } else if round < SPIN_ROUNDS + YIELD_ROUNDS {
        std::thread::yield_now();
    } else {
        return false;
    }
    true
}

impl DbInner {
    /// Applies `batch` atomically; with `sync`, durably (fsync) before returning.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let _op = self.enter()?;
        batch::check_sizes(&batch)?;
        batch.check_origin(self.instance)?;
        if batch.is_empty() {
            return Ok(());
        }
        if batch.has_merges() {
            self.check_merge_operators(&batch)?;
        }
        let batch = self.resolve_ttls(batch);
        if !crate::histogram::sample() {
            return self.write_queued(batch, sync);
        }
        let started = Instant::now();
        let r = self.write_queued(batch, sync);
        self.counters
            .write_latency
            .record(started.elapsed().as_nanos() as u64);
        r
    }

    /// `InvalidArgument` for a merge into a keyspace without a merge operator: its
    /// operand could never be read back.
    fn check_merge_operators(&self, batch: &WriteBatch) -> Result<()> {
        let trees = self.trees.load();
        for (ks, op) in batch.iter() {
            if let BatchOp::Merge(..) = op {
                let tree = if ks == self.default.id {
                    Some(&self.default)
                } else {
                    trees.get(&ks)
                };
                let ok = tree.is_none_or(|t| t.config.merge.operator.is_some());
                if !ok {
                    return Err(LsmError::InvalidArgument(
                        "merge needs a merge operator: set merge.operator (\"u64_add\", \"append\", \"max\", \"min\") or Config::with_merge_operator".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `batch` with expiries: each expiring put's time to live, and the default `ttl`
    /// of the keyspaces its plain puts go to, become expiry times by the database's
    /// clock. A batch with neither is returned as it is.
    fn resolve_ttls(&self, mut batch: WriteBatch) -> WriteBatch {
        // One load of the keyspace map, read by reference: no `Arc` of a keyspace is
        // cloned (a shared counter bumped by every writer) per operation.
        let trees = batch.spans_keyspaces().then(|| self.trees.load());
        let default_ttl = |ks: u32| match &trees {
            Some(trees) if ks != self.default.id => trees.get(&ks).and_then(|t| t.config.ttl),
            _ => self.default.config.ttl,
        };
        let defaults = match &trees {
            // Per operation only when some keyspace has a default TTL at all: a batch
            // over keyspaces without one costs a scan of the keyspaces, not a map
            // lookup per operation.
            Some(map) => {
                (self.default.config.ttl.is_some() || map.values().any(|t| t.config.ttl.is_some()))
                    && batch
                        .iter()
                        .any(|(ks, op)| matches!(op, BatchOp::Put(..)) && default_ttl(ks).is_some())
            }
            None => self.default.config.ttl.is_some(),
        };
        if !batch.has_ttls() && !defaults {
            return batch;
        }
        if !defaults {
            batch.resolve_in_place(self.config.clock.now_ms());
            return batch;
        }
        batch.resolved(self.config.clock.now_ms(), default_ttl)
    }

    fn write_queued(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let sync = sync || self.config.wal.sync == SyncMode::Always;
        if !sync {
            // Without an fsync there is nothing to share: queueing behind a leader would
            // only add a sleep and a wake-up. The WAL lock orders these writes with the
            // groups of synced ones.
            return self.write_group(&[&batch], false, None);
        }
        let me = Arc::new(Writer {
            batch,
            result: Mutex::new(None),
            cv: Condvar::new(),
        });
        let mut q = self.writers.lock();
        q.push_back(me.clone());
        loop {
            if let Some(r) = me.result.lock().take() {
                return r;
            }
            if q.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            me.cv.wait(&mut q);
        }
        let mut group = Vec::new();
        let mut bytes = 0;
        for w in q.iter() {
            bytes += w.batch.approximate_size();
            if !group.is_empty() && bytes > MAX_GROUP_BYTES {
                break;
            }
            group.push(w.clone());
        }
        drop(q);

        let batches: Vec<&WriteBatch> = group.iter().map(|w| &w.batch).collect();
        let r = self.write_group(&batches, true, None);

        let mut q = self.writers.lock();
        for w in &group {
            let popped = q.pop_front();
            debug_assert!(popped.is_some_and(|p| Arc::ptr_eq(&p, w)));
            if !Arc::ptr_eq(w, &me) {
                *w.result.lock() = Some(match &r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                });
                w.cv.notify_one();
            }
        }
        if let Some(next) = q.front() {
            next.cv.notify_one();
        }
        r
    }

    /// Applies `batch` (a transaction's writes) only if `check` passes, with nothing
    /// written in between: `check` runs under the WAL lock, when every write
    /// sequenced before this one is in the memtables or tables of the super version it
    /// is given and no later one can be sequenced until this one is. Its error (a
    /// conflict) is returned and nothing is written. A checked write is its own group.
    ///
    /// REQUIRES: `batch` is not empty (a transaction that wrote nothing commits
    /// without a check, see `Transaction::commit_opt`).
    pub fn write_checked(
        &self,
        batch: WriteBatch,
        sync: bool,
        check: &ConflictCheck,
    ) -> Result<()> {
        debug_assert!(
            !batch.is_empty(),
            "a transaction without writes needs no check"
        );
        let _op = self.enter()?;
        batch::check_sizes(&batch)?;
        // A transaction's puts into a keyspace with a default TTL expire too.
        let batch = self.resolve_ttls(batch);
        let sync = sync || self.config.wal.sync == SyncMode::Always;
        self.write_group(&[&batch], sync, Some(check))
    }

    /// Appends `group` to the WAL as one record (fsynced when `sync`), applies it to
    /// the memtable and publishes it. With `check`, first runs it (see
    /// [`DbInner::write_checked`]).
    ///
    /// The WAL lock is held only to append and insert: flow-control waits happen
    /// before it is taken, a memtable switch releases it for its fsync and file
    /// creation, and the fsync of a synced group runs after it is released. Groups
    /// are published in WAL order all the same (see [`DbInner::publish`]).
    fn write_group(
        &self,
        group: &[&WriteBatch],
        sync: bool,
        check: Option<&ConflictCheck>,
    ) -> Result<()> {
        let bytes: usize = group.iter().map(|b| b.approximate_size()).sum();
        let touched = self.touched_trees(group)?;
        self.throttle(bytes, &touched)?;
        let mut wal = self.wal.lock();
        loop {
            self.check_open()?;
            self.check_bg_error()?;
            if wal.rotating {
                self.rotated_cv.wait(&mut wal);
                continue;
            }
            // A drop takes the WAL lock: once checked here, the keyspaces stay live
            // until this group is in their memtables.
            for t in touched.iter() {
                t.check_live()?;
            }
            let mut full: Vec<Arc<Tree>> =
                touched.iter().filter(|t| t.mem_full()).cloned().collect();
            if full.is_empty() {
                if let Some(t) = self.over_write_budget() {
                    full.push(t);
                }
            }
            if full.is_empty() {
                if self.memory_at_stop() {
                    let r = MutexGuard::unlocked(&mut wal, || {
                        self.stall_for_background(StallCause::Memtables, || self.memory_at_stop())
                    });
                    r?;
                    continue;
                }
                break;
            }
            let waiting = |t: &Tree| t.sv.load().imms.len() >= t.config.memtable.max_immutable;
            if let Some(t) = full.iter().find(|t| waiting(t)).cloned() {
                let r = MutexGuard::unlocked(&mut wal, || {
                    self.stall_for_background(StallCause::Memtables, || {
                        waiting(&t) && !t.is_dropped()
                    })
                });
                r?;
                continue;
            }
            self.switch_memtables(&mut wal, &full)?;
        }
        if let Some(check) = check {
            self.wait_for_inserts(&wal);
            check(&|id| {
                self.tree(id).map(|t| t.sv.load_full()).ok_or_else(|| {
                    LsmError::InvalidArgument(format!("keyspace {id} does not exist"))
                })
            })?;
        }

        // The group's batches take consecutive sequence numbers, so together they are
        // one batch: one WAL record, all or nothing. That is exactly as atomic as
        // needed, since none of them is acknowledged before the whole record is written.
        let first = wal.last_seq + 1;
        let count: u64 = group.iter().map(|b| b.len() as u64).sum();
        let count32 = u32::try_from(count).map_err(|_| {
            LsmError::InvalidArgument(format!("a write of {count} operations is too large"))
        })?;
        let mut record = std::mem::take(&mut wal.scratch);
        record.clear();
        record.extend_from_slice(&WriteBatch::header(first, count32));
        for b in group {
            record.extend_from_slice(b.body());
        }
        let appended = wal.logger.append(&[&record]);
        let record_bytes = record.len();
        wal.scratch = record;
        if let Err(e) = appended {
            return Err(self.set_bg_error(e));
        }
        let last = first + count - 1;
        if self.changes.active() {
            let name = |id| {
                touched
                    .iter()
                    .find(|t| t.id == id)
                    .map_or_else(|| Arc::from(""), |t| Arc::from(t.name.as_str()))
            };
            self.changes.push(first, group, name);
        }
        Counters::add(&self.counters.wal_bytes, record_bytes as u64);
        Counters::add(&self.counters.write_groups, 1);
        Counters::add(&self.counters.writes, group.len() as u64);

        // The memtables the group's sequence numbers belong to: taken under the lock,
        // so a switch cannot come between. Inline for the usual one or two keyspaces:
        // no allocation per write.
        let mems: SmallVec<[(u32, Arc<MemTable>); 2]> = touched
            .iter()
            .map(|t| (t.id, t.sv.load().mem.clone()))
            .collect();
        wal.last_seq = last;
        let handle = if sync {
            Some(wal.logger.sync_handle())
        } else {
            wal.unsynced = true;
            None
        };
        // Counted under the lock, so whoever holds it and sees no insert running
        // (`wait_for_inserts`) knows none can start until it lets go.
        self.inserting.fetch_add(1, Ordering::Relaxed);
        drop(wal);

        // Into the memtables after the lock, so the next writer appends to the WAL
        // while this one inserts: on two cores the two halves of consecutive writes
        // overlap. Visible only once published: a reader's sequence number stays below
        // `first` until then.
        self.insert_group(group, first, &mems);
        self.inserting.fetch_sub(1, Ordering::Release);

        if let Some(handle) = handle {
            if let Err(e) = handle.sync() {
                let path = self.paths.wal_dir.clone();
                let e = self.set_bg_error(LsmError::io_at("sync WAL in", &path, e));
                self.wake_publish_waiters();
                return Err(e);
            }
            Counters::add(&self.counters.wal_syncs, 1);
        }
        self.publish(first, last)
    }

    /// Inserts the batches of `group`, whose first operation has sequence number
    /// `first`, into `mems` (the memtable of each keyspace the group writes), and
    /// adds what they grew by to the write buffer's total. Several writers run this
    /// at once, each with its own sequence numbers.
    fn insert_group(&self, group: &[&WriteBatch], first: SeqNo, mems: &[(u32, Arc<MemTable>)]) {
        let mut s = first;
        for b in group {
            for (ks, op) in b.iter() {
                let Some(mem) = mems.iter().find(|(id, _)| *id == ks).map(|(_, m)| m) else {
                    // `touched` holds every keyspace of the group.
                    debug_assert!(false, "keyspace {ks} of a batch is not touched");
                    continue;
                };
                // The key cache holds the keyspace "default" only.
                let kc = self.key_cache.as_ref().filter(|_| ks == self.default.id);
                match op {
                    BatchOp::Put(k, _)
                    | BatchOp::Delete(k)
                    | BatchOp::Merge(k, _)
                    | BatchOp::PutExpiring(k, _) => {
                        let hash = crate::key::hash(k);
                        // Before the write is visible, so no reader can cache what it
                        // replaces.
                        if let Some(kc) = kc {
                            kc.invalidate(k, hash, s);
                        }
                        apply_op_hashed(mem, s, op, hash);
                    }
                    BatchOp::DeleteRange(..) => {
                        if let Some(kc) = kc {
                            kc.invalidate_all(s);
                        }
                        apply_op(mem, s, op);
                    }
                }
                s += 1;
            }
        }
        for (_, mem) in mems {
            self.memory.grew(mem.growth());
        }
    }

    /// Waits until no writer is inserting into a memtable: every write sequenced so
    /// far is then in the memtables (though maybe not yet published). What a switch
    /// needs before it seals a memtable, a transaction's conflict check before it
    /// reads them, and a drop before it discards them. It spins and yields
    /// ([`spin_or_yield`]) before it sleeps.
    ///
    /// REQUIRES: the WAL lock, held by the caller as `_wal`: no insert can start.
    pub(super) fn wait_for_inserts(&self, _wal: &MutexGuard<'_, WalState>) {
        let mut round = 0u32;
        while self.inserting.load(Ordering::Acquire) != 0 {
            if !spin_or_yield(round) {
                // An inserter descheduled for long: stop taking the core from it.
                std::thread::sleep(Duration::from_micros(50));
            }
            round = round.saturating_add(1);
        }
    }

    /// Makes sequence numbers `first..=last` visible once every earlier group is:
    /// groups become visible in WAL order even when a later one is ready before an
    /// earlier one (still inserting, or in its fsync). A group behind a failed one is
    /// not published and fails too.
    fn publish(&self, first: SeqNo, last: SeqNo) -> Result<()> {
        if !self.try_publish(first, last) {
            self.publish_in_turn(first, last)?;
        }
        if self.changes.active() {
            self.changes.notify();
        }
        Ok(())
    }

    /// Publishes `first..=last` if every earlier group is published; false when one
    /// is not yet.
    fn try_publish(&self, first: SeqNo, last: SeqNo) -> bool {
        // Only the group right after the visible one can move it: one compare and
        // swap, no lock.
        if self
            .visible_seq
            .compare_exchange(first - 1, last, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SeqCst with the waiter's count and check (see `publish_in_turn`): either it
        // counted itself before this load and is woken, or it reads the new sequence
        // number.
        if self.publish_waiters.load(Ordering::SeqCst) > 0 {
            let _p = self.publish_lock.lock();
            self.publish_cv.notify_all();
        }
        true
    }

    /// [`DbInner::try_publish`] once the groups before this one are published. They
    /// are usually a memtable insert away: the writer spins and yields
    /// ([`spin_or_yield`]), and only then sleeps until woken.
    fn publish_in_turn(&self, first: SeqNo, last: SeqNo) -> Result<()> {
        let mut round = 0;
        while spin_or_yield(round) {
            if self.try_publish(first, last) {
                return Ok(());
            }
            round += 1;
        }
        let mut p = self.publish_lock.lock();
        self.publish_waiters.fetch_add(1, Ordering::SeqCst);
        let ready = loop {
            if self.visible_seq.load(Ordering::SeqCst) == first - 1 {
                break Ok(());
            }
            if let Err(e) = self.check_bg_error() {
                break Err(e);
            }
            self.publish_cv.wait(&mut p);
        };
        self.publish_waiters.fetch_sub(1, Ordering::SeqCst);
        ready?;
        self.visible_seq.store(last, Ordering::SeqCst);
        self.publish_cv.notify_all();
        Ok(())
    }

    pub(super) fn wake_publish_waiters(&self) {
        let _p = self.publish_lock.lock();
        self.publish_cv.notify_all();
    }

    /// Flow control, before the WAL lock is taken: waits while level 0 or the pending
    /// compaction bytes are at their stop limits, and past the slowdown limits delays
    /// the write so that writes go at `compaction.delayed_write_rate` bytes a second.
    fn throttle(&self, bytes: usize, touched: &[Arc<Tree>]) -> Result<()> {
        let mut slow = false;
        for t in touched {
            slow |= self.throttle_tree(t)?;
        }
        if slow {
            self.delay(bytes);
        }
        Ok(())
    }

    /// Waits while keyspace `t` is at a stop limit; true when it is past a slowdown
    /// limit.
    fn throttle_tree(&self, t: &Tree) -> Result<bool> {
        let c = &t.config.compaction;
        loop {
            self.check_open()?;
            self.check_bg_error()?;
            let sv = t.sv.load();
            let live = || !t.is_dropped();
            if sv.l0_files >= c.level0_stop_files {
                drop(sv);
                self.stall_for_background(StallCause::Level0, || {
                    t.sv.load().l0_files >= c.level0_stop_files && live()
                })?;
                continue;
            }
            if sv.pending_compaction_bytes >= c.pending_bytes_stop {
                drop(sv);
                self.stall_for_background(StallCause::PendingBytes, || {
                    t.sv.load().pending_compaction_bytes >= c.pending_bytes_stop && live()
                })?;
                continue;
            }
            return Ok(sv.l0_files >= c.level0_slowdown_files
                || sv.pending_compaction_bytes >= c.pending_bytes_slowdown);
        }
    }

    /// The keyspaces `group` writes into, `"default"` first when it is one of them;
    /// `InvalidArgument` for one that does not exist (dropped, or never created in
    /// this database).
    fn touched_trees(&self, group: &[&WriteBatch]) -> Result<Cow<'_, [Arc<Tree>]>> {
        if !group.iter().any(|b| b.spans_keyspaces()) {
            // Borrowed: a write to "default" alone allocates nothing and bumps no
            // reference count here.
            return Ok(Cow::Borrowed(std::slice::from_ref(&self.default)));
        }
        let mut ids: Vec<u32> = group
            .iter()
            .flat_map(|b| b.iter().map(|(ks, _)| ks))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                self.tree(id).ok_or_else(|| {
                    LsmError::InvalidArgument(format!(
                        "a batch writes into keyspace {id}, which does not exist (dropped?)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Cow::Owned)
    }

    /// The write buffer manager: past `memtable.total_bytes` of mutable memtables in
    /// all keyspaces together, the keyspace with the largest one, to be flushed. O(1)
    /// unless the budget is exceeded (then, once per switch, a scan for the largest).
    fn over_write_budget(&self) -> Option<Arc<Tree>> {
        let budget = self.config.memtable.total_bytes as u64;
        if budget == 0 || self.memory.mutable() < budget {
            return None;
        }
        let trees = self.trees.load();
        let mut largest: Option<(usize, &Arc<Tree>)> = None;
        for t in trees.values() {
            let sv = t.sv.load();
            let b = sv.mem.approximate_bytes();
            if !sv.mem.is_empty() && largest.is_none_or(|(lb, _)| b > lb) {
                largest = Some((b, t));
            }
        }
        largest.map(|(_, t)| t.clone())
    }

    /// True when the memtables of every keyspace, full ones waiting for flush
    /// included, hold twice `memtable.total_bytes` and some wait for a flush: writers
    /// wait for flushes. O(1).
    fn memory_at_stop(&self) -> bool {
        let budget = self.config.memtable.total_bytes as u64;
        let total = self.memory.total();
        budget > 0 && total >= budget.saturating_mul(2) && total > self.memory.mutable()
    }

    /// Charges `bytes` to the write controller and sleeps off the debt once it passes
    /// a millisecond: each write advances a shared clock by `bytes / rate`, so the
    /// writers together go at the rate, whatever their number and size.
    fn delay(&self, bytes: usize) {
        let rate = self.config.compaction.delayed_write_rate;
        let now = Instant::now();
        let wait = charge(&mut self.delay_until.lock(), now, bytes, rate);
        if wait >= Duration::from_millis(1) {
            Counters::add(&self.counters.slowdowns, 1);
            std::thread::sleep(wait);
            Counters::add(&self.counters.delay_micros, wait.as_micros() as u64);
        }
    }

    /// Waits (counted as a stall of `cause`) while `blocked` holds for the current
    /// super version, for a flush or compaction to make progress. Holds no lock but
    /// the scheduler's, which the wait releases.
    fn stall_for_background(&self, cause: StallCause, blocked: impl Fn() -> bool) -> Result<()> {
        let t = Instant::now();
        Counters::add(&self.counters.stalls, 1);
        {
            let mut bg = self.bg.lock();
            // Re-checked under `bg`: background work changes `sv` before it notifies
            // under `bg`, so the wake-up cannot be missed.
            while blocked() && self.check_bg_error().is_ok() && !bg.shutdown && !self.is_closed() {
                self.bg_cv.wait(&mut bg);
            }
        }
        let micros = t.elapsed().as_micros() as u64;
        Counters::add(&self.counters.stall_micros, micros);
        Counters::add(
            match cause {
                StallCause::Level0 => &self.counters.stall_level0_micros,
                StallCause::PendingBytes => &self.counters.stall_pending_micros,
                StallCause::Memtables => &self.counters.stall_memtable_micros,
            },
            micros,
        );
        Counters::max(&self.counters.longest_stall_micros, micros);
        self.check_open()?;
        self.check_bg_error()
    }

    /// Makes the memtables of `trees` immutable (queued for flush) and starts new ones
    /// with a new WAL segment. The WAL lock is released meanwhile for the fsync of the
    /// finished segment, the creation of the next and the manifest record; writers
    /// wait for the switch on `rotated_cv`, while `sync()` and the interval syncer go
    /// on (they sync the finished segment, which holds every acknowledged write).
    ///
    /// The other keyspaces keep their memtables, and with them the WAL segments their
    /// writes are in, except that one whose memtable is empty moves its log number to
    /// the new segment (it has nothing in older ones), and one whose memtable dates
    /// from [`STALE_ROTATIONS`] rotations ago is switched too.
    ///
    /// REQUIRES: `wal` locked by the caller, and no switch in progress.
    pub(super) fn switch_memtables(
        &self,
        wal: &mut MutexGuard<'_, WalState>,
        trees: &[Arc<Tree>],
    ) -> Result<()> {
        debug_assert!(!wal.rotating);
        // The memtables sealed below take no insert after this.
        self.wait_for_inserts(wal);
        let all = self.trees();
        let mut switching: Vec<Arc<Tree>> = trees.to_vec();
        let mut idle: Vec<u32> = Vec::new();
        for t in all.values() {
            if switching.iter().any(|s| s.id == t.id) {
                continue;
            }
            let sv = t.sv.load();
            if sv.mem.is_empty() {
                if sv.imms.is_empty() {
                    idle.push(t.id);
                }
            } else if wal
                .epoch
                .saturating_sub(t.mem_epoch.load(Ordering::Relaxed))
                >= STALE_ROTATIONS
            {
                switching.push(t.clone());
            }
        }
        wal.rotating = true;
        let finished = wal.logger.sync_handle();
        let started = MutexGuard::unlocked(wal, || -> Result<WriteAheadLogger> {
            // The finished segment is synced before the next takes a write, so
            // recovery can treat damage in any segment but the last as real
            // corruption, never as a torn write. `finish` also gives back the space
            // reserved past its end.
            finished
                .finish()
                .map_err(|e| LsmError::io_at("sync WAL in", &self.paths.wal_dir, e))?;
            let number = self.versions.lock().new_file_number();
            let logger = WriteAheadLogger::create(self.fs.as_ref(), &self.paths.wal_dir, number)?;
            // Recorded once the segment is durable, before any write goes into it: an
            // open that finds the manifest naming a segment that is not there knows
            // writes were lost (a segment deleted by hand), instead of replaying less
            // without a word.
            let mut vs = self.versions.lock();
            let edit = VersionEdit {
                wal_segment: Some(number),
                // A keyspace dropped meanwhile is left out (the manifest no longer
                // knows it).
                keyspace_logs: idle
                    .iter()
                    .filter(|id| vs.keyspace(**id).is_some())
                    .map(|id| (*id, number))
                    .collect(),
                ..Default::default()
            };
            vs.log_and_apply(edit)?;
            Ok(logger)
        });
        wal.rotating = false;
        self.rotated_cv.notify_all();
        let logger = started.map_err(|e| self.set_bg_error(e))?;
        let number = logger.number();
        wal.logger = logger;
        wal.unsynced = false;
        wal.epoch += 1;
        for t in &switching {
            let mem = Arc::new(self.new_memtable(t, number));
            t.mem_epoch.store(wal.epoch, Ordering::Relaxed);
            self.memory.sealed(t.sv.load().mem.approximate_bytes());
            t.sv.update(|sv| {
                let mut imms = Vec::with_capacity(sv.imms.len() + 1);
                imms.push(sv.mem.clone());
                imms.extend(sv.imms.iter().cloned());
                SuperVersion::with_memtables(sv, mem, imms)
            });
        }
        for id in idle {
            if let Some(t) = all.get(&id) {
                t.mem_epoch.store(wal.epoch, Ordering::Relaxed);
            }
        }
        self.maybe_schedule();
        Ok(())
    }

    /// An empty memtable for keyspace `t` whose writes go to WAL segment `number`.
    /// Its filter is sized for its share of the write budget, so a hundred keyspaces
    /// do not hold a hundred filters sized for a full memtable each.
    pub(super) fn new_memtable(&self, t: &Tree, number: u64) -> MemTable {
        MemTable::new(
            number,
            super::tree::memtable_budget(
                t.config.memtable.max_bytes,
                self.config.memtable.total_bytes,
                self.trees.load().len(),
            ),
        )
    }

    /// The WAL lock, once no memtable switch is in progress and every write
    /// sequenced so far is in the memtables.
    pub(super) fn lock_wal_settled(&self) -> MutexGuard<'_, WalState> {
        let mut wal = self.wal.lock();
        while wal.rotating {
            self.rotated_cv.wait(&mut wal);
        }
        self.wait_for_inserts(&wal);
        wal
    }

    /// Writes the memtable (if it holds anything) and every memtable still waiting to
    /// an SSTable, and waits until they are in the manifest: every write acknowledged
    /// before the call is then durable.
    pub fn flush(&self) -> Result<()> {
        let _op = self.enter()?;
        let wait_for = {
            let mut wal = self.lock_wal_settled();
            self.check_bg_error()?;
            let full: Vec<Arc<Tree>> = self
                .trees()
                .values()
                .filter(|t| !t.sv.load().mem.is_empty())
                .cloned()
                .collect();
            if !full.is_empty() {
                self.switch_memtables(&mut wal, &full)?;
            }
            self.trees()
                .values()
                .filter_map(|t| t.sv.load().imms.first().map(|m| m.wal_number()))
                .max()
        };
        let Some(newest) = wait_for else {
            return Ok(());
        };
        self.maybe_schedule();
        let mut bg = self.bg.lock();
        loop {
            self.check_bg_error()?;
            let waiting = self
                .trees()
                .values()
                .any(|t| t.sv.load().imms.iter().any(|m| m.wal_number() <= newest));
            if !waiting {
                return Ok(());
            }
            self.check_open()?;
            self.bg_cv.wait(&mut bg);
        }
    }

    /// Makes every acknowledged write durable (fsync of the WAL).
    pub fn sync(&self) -> Result<()> {
        let _op = self.enter()?;
        self.check_bg_error()?;
        // Earlier segments were synced when they were finished; only the live one can
        // hold unsynced writes (during a switch, the finished one, which the switch
        // syncs too). Syncing outside the lock lets writers go on meanwhile.
        let handle = self.wal.lock().logger.sync_handle();
        if let Err(e) = handle.sync() {
            let path = self.paths.wal_dir.clone();
            return Err(self.set_bg_error(LsmError::io_at("sync WAL in", &path, e)));
        }
        Counters::add(&self.counters.wal_syncs, 1);
        Ok(())
    }

    /// The body of the `wal.sync = <interval>` thread: every interval, sync the WAL
    /// when it holds unsynced writes, until shutdown. It has a wake-up of its own, so
    /// background work finishing does not make it sync early.
    pub(super) fn interval_sync_loop(self: Arc<Self>, every: Duration) {
        let mut next = Instant::now() + every;
        loop {
            {
                let mut bg = self.bg.lock();
                while !bg.shutdown && Instant::now() < next {
                    self.sync_cv.wait_until(&mut bg, next);
                }
                if bg.shutdown {
                    return;
                }
            }
            next = Instant::now() + every;
            let handle = {
                let mut wal = self.wal.lock();
                if !wal.unsynced {
                    continue;
                }
                wal.unsynced = false;
                wal.logger.sync_handle()
            };
            if let Err(e) = handle.sync() {
                let path = self.paths.wal_dir.clone();
                self.set_bg_error(LsmError::io_at("sync WAL in", &path, e));
                return;
            }
            Counters::add(&self.counters.wal_syncs, 1);
        }
    }
}

/// Advances the write controller's clock `until` by the time `bytes` take at `rate`
/// bytes a second, starting no earlier than `now`, and returns how long a write made at
/// `now` has to wait for its turn.
fn charge(until: &mut Instant, now: Instant, bytes: usize, rate: u64) -> Duration {
    let nanos = bytes as u128 * 1_000_000_000 / u128::from(rate.max(1));
    let cost = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    let start = (*until).max(now);
    *until = start + cost;
    until.saturating_duration_since(now)
}

/// Why a writer waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StallCause {
    /// Level 0 at `compaction.level0_stop_files`.
    Level0,
    /// Pending compaction bytes at `compaction.pending_bytes_stop`.
    PendingBytes,
    /// `memtable.max_immutable` full memtables waiting for flush.
    Memtables,
}

/// Inserts one batch operation at sequence number `seq`.
pub(super) fn apply_op(mem: &MemTable, seq: u64, op: BatchOp<'_>) {
    let hash = match op {
        BatchOp::Put(k, _)
        | BatchOp::Delete(k)
        | BatchOp::Merge(k, _)
        | BatchOp::PutExpiring(k, _) => crate::key::hash(k),
        BatchOp::DeleteRange(..) => 0,
    };
    apply_op_hashed(mem, seq, op, hash);
}

/// [`apply_op`] with the point key's [`crate::key::hash`] already computed.
fn apply_op_hashed(mem: &MemTable, seq: u64, op: BatchOp<'_>, hash: u64) {
    match op {
        BatchOp::Put(k, v) => mem.add_hashed(seq, ValueKind::Put, k, hash, v),
        BatchOp::Delete(k) => mem.add_hashed(seq, ValueKind::Delete, k, hash, &[]),
        BatchOp::Merge(k, v) => mem.add_hashed(seq, ValueKind::Merge, k, hash, v),
        BatchOp::PutExpiring(k, raw) => mem.add_hashed(seq, ValueKind::PutExpiring, k, hash, raw),
        BatchOp::DeleteRange(start, end) => mem.add_range_tombstone(start, end, seq),
    }
}

#[cfg(test)]
mod tests {
    use super::charge;
    use std::time::{Duration, Instant};

    #[test]
    fn the_write_controller_charges_bytes_at_the_rate_and_forgives_idle_time() {
        let t0 = Instant::now();
        let mut until = t0;
        // 1 MiB at 1 MiB/s: a second's wait.
        assert_eq!(
            charge(&mut until, t0, 1 << 20, 1 << 20),
            Duration::from_secs(1)
        );
        // Writes in a row queue behind each other: the debt adds up.
        assert_eq!(
            charge(&mut until, t0, 512 << 10, 1 << 20),
            Duration::from_millis(1500)
        );
        // Half a second later the debt is half a second less.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            charge(&mut until, later, 0, 1 << 20),
            Duration::from_secs(1)
        );
        // After an idle spell past the debt, a write pays only for itself.
        let idle = t0 + Duration::from_secs(10);
        assert_eq!(
            charge(&mut until, idle, 1 << 10, 1 << 20),
            Duration::from_nanos(976_562)
        );
        // A zero rate is treated as one byte a second, not a division by zero.
        let mut u = t0;
        assert_eq!(charge(&mut u, t0, 2, 0), Duration::from_secs(2));
    }
}
