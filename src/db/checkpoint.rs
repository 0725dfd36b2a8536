//! Consistent copies of a live database, and whole-database verification.

use super::DbInner;
use crate::config::Directories;
use crate::error::{LsmError, Result};
use crate::filename;
use crate::manifest::{set_current, write_manifest};
use crate::report::{FileKind, FileReport, VerifyReport};
use crate::wal;
use std::path::{Path, PathBuf};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl DbInner {
    /// Makes an openable copy of the database in `dir` (which must not exist): live
    /// tables hard-linked (copied where links are impossible), WAL segments copied up
    /// to the last acknowledged write, a fresh manifest and `CURRENT`.
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let _op = self.enter()?;
        if self.fs.exists(dir) {
            return Err(LsmError::InvalidArgument(format!(
                "checkpoint directory {} already exists",
                dir.display()
            )));
        }
        let target = Directories::under(dir);
        let (t_wal, t_sst) = (PathBuf::from(&target.wal), PathBuf::from(&target.ss_table));
        for d in [dir, t_wal.as_path(), t_sst.as_path()] {
            self.fs
                .create_dir_all(d)
                .map_err(|e| LsmError::io_at("create directory", d, e))?;
        }
        // No WAL segment may be deleted between choosing what to copy and copying it;
        // the tables stay alive because `version` holds them.
        let _pin = self.pins.pin(self.fs.as_ref());
        // With the WAL lock (and no memtable switch half done) nothing is appended,
        // and with the version lock no flush can land: the tables, the segments and
        // their lengths describe one moment. (A synced group may be in its fsync,
        // appended but not yet acknowledged; the copy then holds it, as a crash would.)
        let (mut snapshot, segments, live_seq, next_file, _versions) = {
            let wal = self.lock_wal_settled();
            let vs = self.versions.lock();
            let snapshot = vs.snapshot_edits();
            let log_number = vs.log_number();
            let mut segments = Vec::new();
            for n in self.wal_segments()? {
                if n < log_number {
                    continue;
                }
                let name = wal::segment_file_name(n);
                let len = if n == wal.logger.number() {
                    wal.logger.len()
                } else {
                    let p = self.paths.wal_dir.join(&name);
                    self.fs
                        .open(&p)
                        .map_err(|e| LsmError::io_at("open", &p, e))?
                        .len()
                };
                segments.push((name, len));
            }
            (
                snapshot,
                segments,
                wal.last_seq,
                vs.next_file_number,
                vs.keyspaces()
                    .map(|k| vs.current(k.meta.id))
                    .collect::<Vec<_>>(),
            )
        };
        for (_, meta) in snapshot.iter().flat_map(|e| &e.added) {
            let from = filename::table(&self.paths.sst_dir, meta.number);
            let to = filename::table(&t_sst, meta.number);
            self.fs
                .link_or_copy(&from, &to)
                .map_err(|e| LsmError::io_at("link", &to, e))?;
        }
        for (name, len) in &segments {
            let from = self.paths.wal_dir.join(name);
            let to = t_wal.join(name);
            let src = self
                .fs
                .open(&from)
                .map_err(|e| LsmError::io_at("open", &from, e))?;
            let mut buf = vec![0u8; *len as usize];
            src.read_exact_at(0, &mut buf)
                .map_err(|e| LsmError::io_at("read", &from, e))?;
            let out = self
                .fs
                .create(&to)
                .map_err(|e| LsmError::io_at("create", &to, e))?;
            out.append(&buf)
                .and_then(|()| out.sync())
                .map_err(|e| LsmError::io_at("write", &to, e))?;
        }
        if let Some(first) = snapshot.first_mut() {
            first.next_file_number = Some(next_file + 1);
            first.last_sequence = Some(live_seq);
        }
        for d in [t_sst.as_path(), t_wal.as_path()] {
            self.fs
                .sync_dir(d)
                .map_err(|e| LsmError::io_at("sync directory", d, e))?;
        }
        write_manifest(self.fs.as_ref(), dir, next_file, &snapshot)?;
        set_current(self.fs.as_ref(), dir, next_file)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Best effort: the new directory's own entry.
            let _ = self.fs.sync_dir(parent);
        }
        Ok(())
    }

    /// Reads every live file and checks every checksum; a table's md5 must match the
    /// manifest's record of it.
    pub fn verify(&self) -> Result<VerifyReport> {
        let _op = self.enter()?;
        let _pin = self.pins.pin(self.fs.as_ref());
        let svs: Vec<_> = self.trees().values().map(|t| t.sv.load_full()).collect();
        let mut report = VerifyReport::default();
        for f in svs.iter().flat_map(|sv| sv.version.tables()) {
            let v = f.table()?.verify()?;
            if v.md5 != f.meta.md5 {
                return Err(LsmError::corruption(
                    f.path(),
                    0,
                    format!(
                        "md5 {} differs from the manifest's {}",
                        hex(&v.md5),
                        hex(&f.meta.md5)
                    ),
                ));
            }
            report.total_bytes += v.bytes;
            report.files.push(FileReport {
                path: f.path(),
                kind: FileKind::Table,
                bytes: v.bytes,
                entries: v.entries,
                md5: Some(hex(&v.md5)),
            });
        }
        let (log_number, live_segment, manifest) = {
            let wal = self.lock_wal_settled();
            let vs = self.versions.lock();
            (vs.log_number(), wal.logger.number(), vs.manifest_number())
        };
        let mut logs: Vec<(PathBuf, u64, FileKind, bool)> = Vec::new();
        for n in self
            .wal_segments()?
            .into_iter()
            .filter(|&n| n >= log_number)
        {
            // The live segment may be mid-append while it is read.
            logs.push((
                self.paths.wal_dir.join(wal::segment_file_name(n)),
                n,
                FileKind::Wal,
                n == live_segment,
            ));
        }
        if let Some(m) = manifest {
            logs.push((
                filename::manifest(&self.paths.root, m),
                m,
                FileKind::Manifest,
                false,
            ));
        }
        for (path, number, kind, live) in logs {
            let data = self
                .fs
                .read_all(&path)
                .map_err(|e| LsmError::io_at("read", &path, e))?;
            let log = wal::read_log(&data, &path, number);
            if let Some(d) = log.damage.first() {
                return Err(LsmError::corruption(&path, d.offset, d.reason.clone()));
            }
            if let (Some(off), false) = (log.torn_tail, live) {
                return Err(LsmError::corruption(&path, off, "incomplete record"));
            }
            report.total_bytes += data.len() as u64;
            report.files.push(FileReport {
                path,
                kind,
                bytes: data.len() as u64,
                entries: log.records.len() as u64,
                md5: None,
            });
        }
        Ok(report)
    }
}
