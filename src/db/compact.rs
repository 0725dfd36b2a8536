//! Running compactions: the background loop, and `compact()` on request.

use super::{DbInner, SuperVersion};
use crate::compaction::{picker, run, Compaction};
use crate::error::{LsmError, Result};
use crate::stats::Counters;
use std::sync::Arc;
use std::time::Duration;

impl DbInner {
    /// True when some level is over its target.
    fn needs_compaction(&self) -> bool {
        let v = self.super_version().version.clone();
        picker::scores(&v, &self.config.compaction)
            .iter()
            .any(|&s| s >= 1.0)
    }

    /// The body of the compaction thread: compact while any level needs it; stop at
    /// shutdown (abandoning a compaction in progress) or at the first failure.
    pub(super) fn compaction_loop(self: Arc<Self>) {
        loop {
            {
                let mut bg = self.bg.lock();
                loop {
                    if bg.shutdown || self.is_closed() || self.check_bg_error().is_err() {
                        return;
                    }
                    if self.needs_compaction() {
                        break;
                    }
                    self.bg_cv.wait_for(&mut bg, Duration::from_secs(1));
                }
            }
            match self.compact_once() {
                Ok(()) | Err(LsmError::Closed) => {}
                Err(e) => {
                    self.set_bg_error(e);
                }
            }
            let _bg = self.bg.lock();
            self.bg_cv.notify_all();
        }
    }

    /// Runs the most urgent compaction, if any.
    fn compact_once(&self) -> Result<()> {
        let _one_at_a_time = self.compaction_lock.lock();
        let v = self.super_version().version.clone();
        let pointers = self.compact_pointers.lock().clone();
        match picker::pick(&v, &self.config.compaction, &pointers) {
            Some(c) => self.execute(c),
            None => Ok(()),
        }
    }

    /// Compacts every file overlapping `[lo, hi]` (inclusive; `None` unbounded) into
    /// the deepest level holding any of them, after flushing the memtable. Waits.
    pub fn compact_range(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Result<()> {
        let _op = self.enter()?;
        self.flush()?;
        let _one_at_a_time = self.compaction_lock.lock();
        self.check_open()?;
        self.check_bg_error()?;
        let v = self.super_version().version.clone();
        match picker::pick_manual(&v, lo, hi) {
            Some(c) => self.execute(c).map_err(|e| match e {
                LsmError::Closed => e,
                e => self.set_bg_error(e),
            }),
            None => Ok(()),
        }
    }

    /// Runs `c` and installs its result. Abandoned (with `Closed`) when the database
    /// starts closing, whether it runs in the background or on request: no compaction
    /// logs an edit once `close` has begun. Its partial outputs are orphans that the
    /// next open deletes.
    fn execute(&self, c: Compaction) -> Result<()> {
        let snapshots = self.snapshot_list();
        let (edit, written) = if c.trivial_move {
            Counters::add(&self.counters.trivial_moves, 1);
            (c.move_edit(), 0)
        } else {
            let stop = || self.is_closed();
            let target = run::Target {
                fs: self.fs.as_ref(),
                dir: &self.paths.sst_dir,
                opts: self.table_options(),
                tables: &self.tables,
                target_file_bytes: self.config.compaction.target_file_bytes,
            };
            let outcome = run::run(
                &c,
                target,
                &snapshots,
                || self.versions.lock().new_file_number(),
                &stop,
            )?;
            Counters::add(&self.counters.compaction_bytes_read, c.input_bytes());
            Counters::add(&self.counters.compaction_dropped, outcome.dropped);
            (outcome.edit, outcome.bytes_written)
        };
        // Remember where this level's turn ended, so the next pick starts after it.
        if let Some(top) = c.inputs.iter().map(|(l, _)| *l).min() {
            if let Some(max) = c
                .inputs
                .iter()
                .filter(|(l, _)| *l == top)
                .map(|(_, f)| f.user_range().1.to_vec())
                .max()
            {
                let mut p = self.compact_pointers.lock();
                if let Some(slot) = p.get_mut(top) {
                    *slot = max;
                }
            }
        }
        let mut vs = self.versions.lock();
        // `close` sets the flag before it flushes under this lock, so a compaction
        // that gets here later logs nothing.
        self.check_open()?;
        let version = vs.log_and_apply(edit)?;
        self.sv
            .update(|sv| SuperVersion::new(sv.mem.clone(), sv.imms.clone(), version, &self.config));
        drop(vs);
        Counters::add(&self.counters.compactions, 1);
        Counters::add(&self.counters.compaction_bytes_written, written);
        let _bg = self.bg.lock();
        self.bg_cv.notify_all();
        Ok(())
    }
}
