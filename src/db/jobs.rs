//! The background scheduler: one place that decides which flushes and compactions run.
//!
//! Nothing polls. Every event that can make work runnable (a memtable switch, the end
//! of a flush or a compaction, a manual compaction finishing, close) calls
//! [`DbInner::maybe_schedule`], which starts jobs on the runtime while
//! `compaction.background_threads` allows:
//! - a flush first, whenever a full memtable waits and no flush runs (flushes go in
//!   memtable order, so one at a time, and it flushes every waiting memtable before it
//!   ends). With two threads or more one slot is kept for it, so a long compaction
//!   never delays a flush;
//! - then compactions, as many as the slots allow, each one picked so that it takes no
//!   file another job holds and writes no key range another job writes into the same
//!   level ([`picker::Busy`]). An L0->L1 job thus runs beside an Ln->Ln+1 one.
//!
//! Picking and applying stay pure: the picker sees a version and the busy set, and a
//! job's result is a version edit applied under the version lock. Every job runs under
//! the runtime's job count, which `close` waits for, and gives up once the database
//! closes (a compaction abandons; a flush finishes, since close needs it).

use super::{BgState, DbInner, SuperVersion, Tree};
use crate::compaction::{picker, run, Compaction};
use crate::error::{LsmError, Result};
use crate::stats::Counters;
use std::sync::Arc;

/// What a test hook learns about a compaction before it runs (see
/// `Lsm::set_compaction_hook`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionJobInfo {
    /// The shallowest level it reads.
    pub start_level: usize,
    /// Where it writes.
    pub output_level: usize,
    /// The numbers of the files it reads.
    pub input_files: Vec<u64>,
    /// True for a `compact_range` on request.
    pub manual: bool,
}

/// Called at the start of each compaction, on the thread that runs it; a test blocks
/// in it to hold a compaction while others run.
pub type CompactionHook = Arc<dyn Fn(&CompactionJobInfo) + Send + Sync>;

impl BgState {
    /// Jobs running now, of every kind.
    fn jobs(&self) -> usize {
        usize::from(self.flush_running) + self.compactions_running
    }
}

impl DbInner {
    /// The most compactions that may run at once: every thread but one, which stays
    /// free for flushes (all of them with one thread).
    fn compaction_slots(&self) -> usize {
        let threads = self.config.compaction.background_threads.max(1);
        if threads >= 2 {
            threads - 1
        } else {
            1
        }
    }

    /// Starts whatever background work is runnable and fits in the free slots.
    pub(super) fn maybe_schedule(&self) {
        let Some(me) = self.this.get().and_then(std::sync::Weak::upgrade) else {
            return;
        };
        let threads = self.config.compaction.background_threads.max(1);
        let mut bg = self.bg.lock();
        if self.check_bg_error().is_err() {
            return;
        }
        let trees = self.trees();
        let waiting = trees.values().any(|t| !t.sv.load().imms.is_empty());
        if !bg.flush_running && waiting && bg.jobs() < threads {
            bg.flush_running = true;
            let job = me.clone();
            if self
                .runtime
                .spawn_job("flush", move || job.flush_job(), poison(&me))
                .is_err()
            {
                bg.flush_running = false;
            }
        }
        if bg.shutdown || self.is_closed() || bg.manual > 0 {
            bg.compactions_queued = 0;
            return;
        }
        // Keyspaces take turns at the free slots, starting after the one that went
        // first last time.
        let start = bg.next_turn;
        let order: Vec<&Arc<Tree>> = trees
            .range(start..)
            .chain(trees.range(..start))
            .map(|(_, t)| t)
            .collect();
        let mut needing = 0;
        for t in order {
            let sv = t.sv.load_full();
            let cfg = &t.config.compaction;
            needing += picker::scores(&sv.version, cfg)
                .iter()
                .filter(|&&s| s >= 1.0)
                .count();
            while bg.compactions_running < self.compaction_slots() && bg.jobs() < threads {
                let levels = t.config.compaction.max_levels;
                let tb = bg.trees.entry(t.id).or_default();
                if tb.pointers.len() < levels {
                    tb.pointers.resize(levels, Vec::new());
                }
                let Some(c) = picker::pick_avoiding(&sv.version, cfg, &tb.pointers, &tb.busy)
                else {
                    break;
                };
                tb.busy.add(&c);
                bg.compactions_running += 1;
                bg.next_turn = t.id.wrapping_add(1);
                let c = Arc::new(c);
                let job = me.clone();
                let planned = c.clone();
                let tree = t.clone();
                if self
                    .runtime
                    .spawn_job(
                        "compaction",
                        move || job.compaction_job(&tree, &planned),
                        poison(&me),
                    )
                    .is_err()
                {
                    if let Some(tb) = bg.trees.get_mut(&t.id) {
                        tb.busy.remove(&c);
                    }
                    bg.compactions_running -= 1;
                    break;
                }
            }
        }
        bg.compactions_queued = needing.saturating_sub(bg.compactions_running);
    }

    /// Flushes full memtables until none waits: each time the oldest, by WAL
    /// segment, of any keyspace, so the oldest segments are freed first.
    fn flush_job(self: Arc<Self>) {
        loop {
            if self.check_bg_error().is_err() {
                break;
            }
            let oldest = self
                .trees()
                .values()
                .filter_map(|t| t.sv.load().imms.last().map(|m| (m.clone(), t.clone())))
                .min_by_key(|(m, _)| m.wal_number());
            let Some((imm, tree)) = oldest else {
                break;
            };
            if let Err(e) = self.flush_one(&tree, &imm) {
                self.set_bg_error(e);
                break;
            }
            self.notify_progress();
            // Level 0 grew: a compaction may be due, and may run beside this flush.
            self.maybe_schedule();
        }
        self.bg.lock().flush_running = false;
        self.notify_progress();
        // A memtable that filled between the last look and the flag's reset.
        self.maybe_schedule();
    }

    /// Runs one picked compaction of keyspace `tree`, then frees its files and looks
    /// for more work.
    fn compaction_job(self: Arc<Self>, tree: &Tree, c: &Compaction) {
        match self.execute(tree, c, false) {
            Ok(()) | Err(LsmError::Closed) => {}
            Err(e) => {
                self.set_bg_error(e);
            }
        }
        {
            let mut bg = self.bg.lock();
            if let Some(tb) = bg.trees.get_mut(&tree.id) {
                tb.busy.remove(c);
            }
            bg.compactions_running -= 1;
            self.bg_cv.notify_all();
        }
        self.maybe_schedule();
    }

    /// Wakes whoever waits for background progress (stalled writers, `flush()`,
    /// manual compactions, close).
    pub(super) fn notify_progress(&self) {
        let _bg = self.bg.lock();
        self.bg_cv.notify_all();
    }

    /// Compacts every file overlapping `[lo, hi]` (inclusive; `None` unbounded) into
    /// the deepest level holding any of them, in keyspace `only` or (`None`) in every
    /// keyspace, after flushing the memtables. Waits.
    ///
    /// Runs alone: background compactions already running finish first, and none
    /// starts until it is done (flushes go on).
    pub fn compact_range(
        &self,
        only: Option<&Arc<Tree>>,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Result<()> {
        let _op = self.enter()?;
        self.flush()?;
        let _one_at_a_time = self.manual_lock.lock();
        {
            let mut bg = self.bg.lock();
            bg.manual += 1;
            while bg.compactions_running > 0 {
                if self.check_open().is_err() || self.check_bg_error().is_err() {
                    break;
                }
                self.bg_cv.wait(&mut bg);
            }
        }
        let trees: Vec<Arc<Tree>> = match only {
            Some(t) => vec![t.clone()],
            None => self.trees().values().cloned().collect(),
        };
        let r = trees
            .iter()
            .try_for_each(|t| self.compact_range_alone(t, lo, hi));
        self.bg.lock().manual -= 1;
        self.maybe_schedule();
        r
    }

    fn compact_range_alone(&self, tree: &Tree, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Result<()> {
        self.check_open()?;
        self.check_bg_error()?;
        tree.check_live()?;
        let v = tree.sv.load().version.clone();
        match picker::pick_manual(&v, lo, hi) {
            Some(c) => self.execute(tree, &c, true).map_err(|e| match e {
                LsmError::Closed | LsmError::InvalidArgument(_) => e,
                e => self.set_bg_error(e),
            }),
            None => Ok(()),
        }
    }

    /// Runs `c` and installs its result. Abandoned (with `Closed`) when the database
    /// starts closing, whether it runs in the background or on request: no compaction
    /// logs an edit once `close` has begun. Its partial outputs are orphans that the
    /// next open deletes.
    fn execute(&self, tree: &Tree, c: &Compaction, manual: bool) -> Result<()> {
        let hook = self.compaction_hook.lock().clone();
        if let Some(hook) = hook {
            hook(&CompactionJobInfo {
                start_level: c.inputs.iter().map(|(l, _)| *l).min().unwrap_or(0),
                output_level: c.output_level,
                input_files: c.inputs.iter().map(|(_, f)| f.meta.number).collect(),
                manual,
            });
        }
        self.check_open()?;
        let snapshots = self.snapshot_list();
        let (edit, written) = if c.trivial_move {
            Counters::add(&self.counters.trivial_moves, 1);
            (c.move_edit(), 0)
        } else {
            let stop = || self.is_closed();
            let next_number = || self.versions.lock().new_file_number();
            let target = run::Target {
                fs: self.fs.as_ref(),
                dir: &self.paths.sst_dir,
                opts: tree.table_options(c.output_level),
                tables: &self.tables,
                target_file_bytes: tree.config.compaction.target_file_bytes,
                max_subcompactions: tree.config.compaction.max_subcompactions,
                merge_op: tree.config.merge.operator.clone(),
                filters: tree.config.compaction_filters.filters.clone(),
                keyspace: tree.name.clone(),
                now_ms: self.config.clock.now_ms(),
            };
            let outcome = run::run(c, target, &snapshots, &next_number, &stop)?;
            Counters::add(&self.counters.compaction_bytes_read, c.input_bytes());
            Counters::add(&self.counters.compaction_dropped, outcome.dropped);
            if outcome.subcompactions > 1 {
                Counters::add(&self.counters.subcompactions, outcome.subcompactions as u64);
            }
            self.counters.record_compaction_io(c, outcome.bytes_written);
            (outcome.edit, outcome.bytes_written)
        };
        let mut vs = self.versions.lock();
        // `close` sets the flag before it flushes under this lock, so a compaction
        // that gets here later logs nothing.
        self.check_open()?;
        if tree.is_dropped() || vs.keyspace(tree.id).is_none() {
            // Dropped meanwhile: its outputs (not a moved input) are orphans.
            drop(vs);
            let doomed = edit
                .added
                .iter()
                .filter(|_| !c.trivial_move)
                .map(|(_, f)| {
                    self.tables.evict(f.number);
                    crate::filename::table(&self.paths.sst_dir, f.number)
                })
                .collect();
            self.pins.delete(self.fs.as_ref(), doomed);
            return if manual { tree.check_live() } else { Ok(()) };
        }
        let mut edit = edit;
        edit.keyspace = Some(tree.id);
        let version = vs.log_and_apply(edit)?;
        tree.sv
            .update(|sv| SuperVersion::new(sv.mem.clone(), sv.imms.clone(), version, &tree.config));
        drop(vs);
        // Remember where this level's turn ended, so the next pick starts after it.
        if let Some(top) = c.inputs.iter().map(|(l, _)| *l).min() {
            if let Some(max) = c
                .inputs
                .iter()
                .filter(|(l, _)| *l == top)
                .map(|(_, f)| f.user_range().1.to_vec())
                .max()
            {
                let mut bg = self.bg.lock();
                let tb = bg.trees.entry(tree.id).or_default();
                if tb.pointers.len() <= top {
                    tb.pointers.resize(top + 1, Vec::new());
                }
                if let Some(slot) = tb.pointers.get_mut(top) {
                    *slot = max;
                }
            }
        }
        Counters::add(&self.counters.compactions, 1);
        Counters::add(&self.counters.compaction_bytes_written, written);
        self.notify_progress();
        Ok(())
    }
}

/// What a job that panics does: poison the database, so writes fail loudly instead of
/// waiting for work that will never happen.
fn poison(me: &Arc<DbInner>) -> impl FnOnce(String) + Send + 'static {
    let me = me.clone();
    move |msg: String| {
        me.set_bg_error(LsmError::io("background work", std::io::Error::other(msg)));
    }
}
