//! Flushing immutable memtables to level-0 SSTables, in the background.

use super::{DbInner, SuperVersion, Tree};
use crate::cache::TableCache;
use crate::compaction::fold::{Filtering, Folder};
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::key::SeqNo;
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::MemTable;
use crate::merge::MergeOperator;
use crate::sstable::{TableBuilder, TableOptions};
use crate::stats::Counters;
use std::path::Path;
use std::sync::Arc;

impl DbInner {
    /// Writes `imm`, a full memtable of keyspace `tree`, to a level-0 table, records
    /// it in the manifest, swaps it out of the read path and deletes the WAL segments
    /// no keyspace needs any more. A keyspace dropped meanwhile logs nothing: its
    /// table is deleted.
    pub(super) fn flush_one(&self, tree: &Tree, imm: &Arc<MemTable>) -> Result<()> {
        let snapshots = self.snapshot_list();
        let number = self.versions.lock().new_file_number();
        let built = if imm.is_empty() {
            None
        } else {
            Some(build_table(
                self.fs.as_ref(),
                &self.paths.sst_dir,
                tree.table_options(0),
                &self.tables,
                imm,
                number,
                &snapshots,
                tree.config.merge.operator.as_deref(),
                // Expiry only: the configured filters run in compactions.
                Filtering {
                    filters: &[],
                    keyspace: &tree.name,
                    level: 0,
                    now_ms: self.config.clock.now_ms(),
                },
            )?)
        };
        let mut vs = self.versions.lock();
        if tree.is_dropped() || vs.keyspace(tree.id).is_none() {
            drop(vs);
            if built.is_some() {
                self.tables.evict(number);
                let p = crate::filename::table(&self.paths.sst_dir, number);
                self.pins.delete(self.fs.as_ref(), vec![p]);
            }
            return Ok(());
        }
        // Segments older than the next memtable's hold nothing more of this keyspace
        // once this lands.
        let next_log = {
            let sv = tree.sv.load();
            match sv.imms.iter().position(|m| Arc::ptr_eq(m, imm)) {
                Some(0) | None => sv.mem.wal_number(),
                Some(i) => sv.imms[i - 1].wal_number(),
            }
        };
        let mut edit = VersionEdit {
            keyspace: Some(tree.id),
            keyspace_logs: vec![(tree.id, next_log)],
            last_sequence: Some(imm.max_seq()),
            ..Default::default()
        };
        let mut bytes = 0;
        if let Some(meta) = built {
            bytes = meta.size;
            edit.added.push((0, meta));
        }
        let version = vs.log_and_apply(edit)?;
        self.memory.retired(imm.approximate_bytes());
        tree.sv.update(|sv| {
            let imms = sv
                .imms
                .iter()
                .filter(|m| !Arc::ptr_eq(m, imm))
                .cloned()
                .collect();
            SuperVersion::new(sv.mem.clone(), imms, version, &tree.config)
        });
        let log_number = vs.log_number();
        drop(vs);
        Counters::add(&self.counters.flushes, 1);
        Counters::add(&self.counters.flush_bytes, bytes);
        self.delete_wal_segments_below(log_number);
        Ok(())
    }

    /// Deletes WAL segments numbered below `log_number` (their data is in tables).
    pub(super) fn delete_wal_segments_below(&self, log_number: u64) {
        let numbers = match self.wal_segments() {
            Ok(n) => n,
            Err(e) => {
                log::warn!("cannot list the WAL segments: {e}");
                return;
            }
        };
        let flushed = numbers.into_iter().filter(|&n| n < log_number).collect();
        let doomed = self.past_retention(flushed);
        self.pins.delete(self.fs.as_ref(), doomed);
    }
}

/// Writes the entries of `imm` into table `number` in `dir`, synced and named in a
/// synced directory, and opens it through `tables` (which checks it and keeps it
/// open for the reads to come, as a level-0 table). Versions that no snapshot can see
/// any more (overwritten or deleted within this memtable) are left out, and merge
/// operands are folded onto values under them (see [`Folder`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn build_table(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: TableOptions,
    tables: &TableCache,
    imm: &MemTable,
    number: u64,
    snapshots: &[SeqNo],
    merge_op: Option<&dyn MergeOperator>,
    filtering: Filtering<'_>,
) -> Result<FileMeta> {
    let path = filename::table(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| LsmError::io_at("create", &path, e))?;
    let mut b = TableBuilder::new(file, path.clone(), opts);
    let tombstones = imm.range_tombstones();
    // Older versions of any key may sit in tables: never bottommost.
    let mut folder = Folder::new(snapshots, merge_op, false, &tombstones, filtering);
    {
        let mut sink = |ik: &[u8], v: &[u8]| b.add(ik, v);
        imm.for_each(|ik, v| folder.push(ik, v, &mut sink))?;
        folder.finish(&mut sink)?;
    }
    for t in &tombstones {
        b.add_range_tombstone(t);
    }
    let info = b.finish()?;
    fs.sync_dir(dir)
        .map_err(|e| LsmError::io_at("sync directory", dir, e))?;
    tables.open_new(number, 0)?;
    Ok(info.into_meta(number))
}
