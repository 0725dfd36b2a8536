//! The write path: group commit into the WAL, then the memtable; memtable switches.
//!
//! Writers that need an fsync queue up; the one at the front becomes the leader, takes
//! the queue's current members as its group, appends all their batches to the WAL in
//! one write and one fsync, inserts them into the memtable, publishes the new sequence
//! number and wakes the others. Writers that need no fsync go straight to the WAL lock
//! (a handoff to a leader would cost a sleep and a wake-up and save nothing). Either
//! way readers never see part of a write.

use super::{DbInner, SuperVersion, WalState, Writer};
use crate::batch::{self, BatchOp};
use crate::config::SyncMode;
use crate::error::{LsmError, Result};
use crate::key::ValueKind;
use crate::manifest::VersionEdit;
use crate::memtable::MemTable;
use crate::stats::Counters;
use crate::wal::WriteAheadLogger;
use crate::WriteBatch;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A leader stops adding followers to its group past this many bytes, so one huge
/// group does not delay the small writes queued behind it for long.
const MAX_GROUP_BYTES: usize = 1 << 20;

impl DbInner {
    /// Applies `batch` atomically; with `sync`, durably (fsync) before returning.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let _op = self.enter()?;
        batch::check_sizes(&batch)?;
        if batch.is_empty() {
            return Ok(());
        }
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

    fn write_queued(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let sync = sync || self.config.wal.sync == SyncMode::Always;
        if !sync {
            // Without an fsync there is nothing to share: queueing behind a leader would
            // only add a sleep and a wake-up. The WAL lock orders these writes with the
            // groups of synced ones.
            return self.write_group(&[&batch], false);
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
        let r = self.write_group(&batches, true);

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

    /// Appends `group` to the WAL as one record (fsynced when `sync`), then applies it
    /// to the memtable and publishes it.
    fn write_group(&self, group: &[&WriteBatch], sync: bool) -> Result<()> {
        let mut wal = self.wal.lock();
        self.check_open()?;
        self.check_bg_error()?;
        self.make_room(&mut wal)?;

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
        let bytes = record.len();
        wal.scratch = record;
        if let Err(e) = appended {
            return Err(self.set_bg_error(e));
        }
        let seq = first + count;
        Counters::add(&self.counters.wal_bytes, bytes as u64);
        Counters::add(&self.counters.write_groups, 1);
        Counters::add(&self.counters.writes, group.len() as u64);

        if sync {
            if let Err(e) = wal.logger.sync() {
                return Err(self.set_bg_error(e));
            }
            Counters::add(&self.counters.wal_syncs, 1);
        } else {
            wal.unsynced = true;
        }

        let mem = self.sv.load().mem.clone();
        let mut s = first;
        for b in group {
            for op in b.iter() {
                match op {
                    BatchOp::Put(k, _) | BatchOp::Delete(k) => {
                        let hash = crate::key::hash(k);
                        // Before the write is visible, so no reader can cache what it
                        // replaces.
                        if let Some(kc) = &self.key_cache {
                            kc.invalidate(k, hash, s);
                        }
                        apply_op_hashed(&mem, s, op, hash);
                    }
                    BatchOp::DeleteRange(..) => {
                        if let Some(kc) = &self.key_cache {
                            kc.invalidate_all(s);
                        }
                        apply_op(&mem, s, op);
                    }
                }
                s += 1;
            }
        }
        wal.last_seq = seq - 1;
        self.visible_seq.store(seq - 1, Ordering::Release);
        Ok(())
    }

    /// Makes sure the memtable has room, switching to a new one (and a new WAL
    /// segment) when it is full, and waiting when too many full ones await flushing.
    ///
    /// REQUIRES: `wal` locked by the caller.
    fn make_room(&self, wal: &mut WalState) -> Result<()> {
        let m = &self.config.memtable;
        let c = &self.config.compaction;
        let mut slowed = false;
        loop {
            // A closing database wakes stalled writers so they give up (unacknowledged)
            // instead of waiting for compactions that will not run any more.
            self.check_open()?;
            let sv = self.super_version();
            let stop = sv.l0_files >= c.level0_stop_files
                || sv.pending_compaction_bytes >= c.pending_bytes_stop;
            if stop {
                self.stall_for_background(|sv| {
                    sv.l0_files >= c.level0_stop_files
                        || sv.pending_compaction_bytes >= c.pending_bytes_stop
                })?;
                continue;
            }
            let slow = sv.l0_files >= c.level0_slowdown_files
                || sv.pending_compaction_bytes >= c.pending_bytes_slowdown;
            if slow && !slowed {
                // Give compaction a head start, once per write group: writes get
                // slower gradually instead of hitting the wall at the stop limit.
                slowed = true;
                Counters::add(&self.counters.slowdowns, 1);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if sv.mem.len() < m.max_entries && sv.mem.approximate_bytes() < m.max_bytes {
                return Ok(());
            }
            if sv.imms.len() < m.max_immutable {
                return self.rotate_memtable(wal);
            }
            self.stall_for_background(|sv| sv.imms.len() >= m.max_immutable)?;
        }
    }

    /// Waits (counted as a stall) while `blocked` holds for the current super version,
    /// for a flush or compaction to make progress.
    fn stall_for_background(&self, blocked: impl Fn(&SuperVersion) -> bool) -> Result<()> {
        let t = Instant::now();
        Counters::add(&self.counters.stalls, 1);
        {
            let mut bg = self.bg.lock();
            // Re-checked under `bg`: background work changes `sv` before it notifies
            // under `bg`, so the wake-up cannot be missed.
            if blocked(&self.sv.load()) && self.check_bg_error().is_ok() && !bg.shutdown {
                self.bg_cv.wait_for(&mut bg, Duration::from_millis(100));
            }
        }
        Counters::add(&self.counters.stall_micros, t.elapsed().as_micros() as u64);
        self.check_bg_error()
    }

    /// Makes the memtable immutable (queued for flush) and starts a new one with a new
    /// WAL segment.
    ///
    /// REQUIRES: `wal` locked by the caller.
    pub(super) fn rotate_memtable(&self, wal: &mut WalState) -> Result<()> {
        // The finished segment is synced, so recovery can treat damage in any segment
        // but the last as real corruption, never as a torn write.
        if let Err(e) = wal.logger.sync() {
            return Err(self.set_bg_error(e));
        }
        let number = self.versions.lock().new_file_number();
        let logger = match WriteAheadLogger::create(self.fs.as_ref(), &self.paths.wal_dir, number) {
            Ok(l) => l,
            Err(e) => return Err(self.set_bg_error(e)),
        };
        // Recorded once the segment is durable, before any write goes into it: an open
        // that finds the manifest naming a segment that is not there knows writes were
        // lost (a segment deleted by hand), instead of replaying less without a word.
        let recorded = self.versions.lock().log_and_apply(VersionEdit {
            wal_segment: Some(number),
            ..Default::default()
        });
        if let Err(e) = recorded {
            return Err(self.set_bg_error(e));
        }
        wal.logger = logger;
        wal.unsynced = false;
        let mem = Arc::new(MemTable::new(number, self.config.memtable.max_bytes));
        self.sv.update(|sv| {
            let mut imms = Vec::with_capacity(sv.imms.len() + 1);
            imms.push(sv.mem.clone());
            imms.extend(sv.imms.iter().cloned());
            SuperVersion::new(mem, imms, sv.version.clone(), &self.config)
        });
        let _bg = self.bg.lock();
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Writes the memtable (if it holds anything) and every memtable still waiting to
    /// an SSTable, and waits until they are in the manifest: every write acknowledged
    /// before the call is then durable.
    pub fn flush(&self) -> Result<()> {
        let _op = self.enter()?;
        let wait_for = {
            let mut wal = self.wal.lock();
            self.check_bg_error()?;
            if !self.super_version().mem.is_empty() {
                self.rotate_memtable(&mut wal)?;
            }
            self.super_version().imms.first().map(|m| m.wal_number())
        };
        let Some(newest) = wait_for else {
            return Ok(());
        };
        let mut bg = self.bg.lock();
        loop {
            self.check_bg_error()?;
            if !self.sv.load().imms.iter().any(|m| m.wal_number() <= newest) {
                return Ok(());
            }
            self.bg_cv.wait_for(&mut bg, Duration::from_millis(100));
        }
    }

    /// Makes every acknowledged write durable (fsync of the WAL).
    pub fn sync(&self) -> Result<()> {
        let _op = self.enter()?;
        self.check_bg_error()?;
        // Earlier segments were synced when they were finished; only the live one can
        // hold unsynced writes. Syncing outside the lock lets writers go on meanwhile.
        let handle = self.wal.lock().logger.sync_handle();
        if let Err(e) = handle.sync() {
            let path = self.paths.wal_dir.clone();
            return Err(self.set_bg_error(LsmError::io_at("sync WAL in", &path, e)));
        }
        Counters::add(&self.counters.wal_syncs, 1);
        Ok(())
    }

    /// The body of the `wal.sync = <interval>` thread: sync the WAL when it holds
    /// unsynced writes, until shutdown.
    pub(super) fn interval_sync_loop(self: Arc<Self>, every: Duration) {
        loop {
            {
                let mut bg = self.bg.lock();
                if bg.shutdown {
                    return;
                }
                self.bg_cv.wait_for(&mut bg, every);
                if bg.shutdown {
                    return;
                }
            }
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

/// Inserts one batch operation at sequence number `seq`.
pub(super) fn apply_op(mem: &MemTable, seq: u64, op: BatchOp<'_>) {
    let hash = match op {
        BatchOp::Put(k, _) | BatchOp::Delete(k) => crate::key::hash(k),
        BatchOp::DeleteRange(..) => 0,
    };
    apply_op_hashed(mem, seq, op, hash);
}

/// [`apply_op`] with the point key's [`crate::key::hash`] already computed.
fn apply_op_hashed(mem: &MemTable, seq: u64, op: BatchOp<'_>, hash: u64) {
    match op {
        BatchOp::Put(k, v) => mem.add_hashed(seq, ValueKind::Put, k, hash, v),
        BatchOp::Delete(k) => mem.add_hashed(seq, ValueKind::Delete, k, hash, &[]),
        BatchOp::DeleteRange(start, end) => mem.add_range_tombstone(start, end, seq),
    }
}
