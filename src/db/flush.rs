//! Flushing immutable memtables to level-0 SSTables, in the background.

use super::{DbInner, SuperVersion, Tree};
use crate::cache::TableCache;
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::key::{self, SeqNo};
use crate::manifest::{FileMeta, VersionEdit};
use crate::memtable::MemTable;
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
                tree.table_options(),
                &self.tables,
                imm,
                number,
                &snapshots,
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

/// True when some snapshot in `snapshots` (sorted) lies in `[lo, hi)`: a version
/// written at `lo` and overwritten at `hi` is still visible to it.
fn snapshot_between(snapshots: &[SeqNo], lo: SeqNo, hi: SeqNo) -> bool {
    let i = snapshots.partition_point(|&s| s < lo);
    snapshots.get(i).is_some_and(|&s| s < hi)
}

/// Writes the entries of `imm` into table `number` in `dir`, synced and named in a
/// synced directory, and opens it through `tables` (which checks it and keeps it
/// open for the reads to come, as a level-0 table). Versions that no snapshot can see any more (an
/// older version of a key overwritten within this memtable) are left out.
pub(super) fn build_table(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: TableOptions,
    tables: &TableCache,
    imm: &MemTable,
    number: u64,
    snapshots: &[SeqNo],
) -> Result<FileMeta> {
    let path = filename::table(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| LsmError::io_at("create", &path, e))?;
    let mut b = TableBuilder::new(file, path.clone(), opts);
    let mut last_user: Vec<u8> = Vec::new();
    let mut have_last = false;
    let mut last_kept_seq: SeqNo = 0;
    imm.for_each(|ik, v| {
        let uk = key::user_key(ik);
        let seq = key::seq(ik);
        if have_last && uk == last_user.as_slice() {
            if !snapshot_between(snapshots, seq, last_kept_seq) {
                return Ok(());
            }
        } else {
            last_user.clear();
            last_user.extend_from_slice(uk);
            have_last = true;
        }
        last_kept_seq = seq;
        b.add(ik, v)
    })?;
    for t in imm.range_tombstones() {
        b.add_range_tombstone(&t);
    }
    let info = b.finish()?;
    fs.sync_dir(dir)
        .map_err(|e| LsmError::io_at("sync directory", dir, e))?;
    tables.open_new(number, 0)?;
    Ok(info.into_meta(number))
}

#[cfg(test)]
mod tests {
    use super::snapshot_between;

    #[test]
    fn a_snapshot_between_two_versions_keeps_the_older() {
        assert!(snapshot_between(&[5], 3, 8));
        assert!(snapshot_between(&[3], 3, 8));
        assert!(!snapshot_between(&[8], 3, 8));
        assert!(!snapshot_between(&[1, 9], 3, 8));
        assert!(!snapshot_between(&[], 3, 8));
    }
}
