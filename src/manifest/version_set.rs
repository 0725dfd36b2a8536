//! `VersionSet`: the manifest log, `CURRENT`, and the current [`Version`].
//!
//! A manifest is a record log (the WAL's framing) whose first record is a header and
//! whose other records are [`VersionEdit`]s. `CURRENT` holds the name of the live
//! manifest and a newline; it is replaced by writing `CURRENT.tmp`, syncing it,
//! renaming it over `CURRENT` and syncing the directory, so a crash leaves either the
//! old or the new manifest named, never a torn one.
//!
//! ```text
//! manifest header record := "LSMMANIF" | format version: u32 LE (1, 2 or 3)
//! ```

use super::version::{LevelState, TableFile, Version};
use super::version_edit::{KeyspaceMeta, VersionEdit};
use crate::cache::TableCache;
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::gate::Gate;
use crate::wal::format::Framing;
use crate::wal::{read_log, LogWriter};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"LSMMANIF";
/// Manifest format version this build writes: 4, the merge operator's name (tag 12).
pub const MANIFEST_VERSION: u32 = 4;
/// Manifest format version 3: keyspaces (tags 7 to 11).
pub const MANIFEST_VERSION_V3: u32 = 3;
/// Manifest format version 2: the v2 log framing, one key space.
pub const MANIFEST_VERSION_V2: u32 = 2;
/// The oldest manifest format this build reads: 1, the v1 log framing.
pub const MANIFEST_VERSION_V1: u32 = 1;
/// Levels a version edit may name (the on-disk format's limit).
const MAX_LEVELS_ON_DISK: usize = 64;
/// A manifest larger than this is rewritten as one snapshot edit.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// The id of the keyspace `"default"`, which every database has.
pub const DEFAULT_KEYSPACE: u32 = 0;

/// One keyspace's files and how far its writes are in tables.
pub struct KeyspaceFiles {
    /// Its id, name and options.
    pub meta: KeyspaceMeta,
    state: LevelState,
    current: Arc<Version>,
    /// WAL segments numbered below this hold nothing of this keyspace that is not in
    /// tables.
    pub log_number: u64,
}

/// The live file set, its history log, and the counters that survive a reopen.
pub struct VersionSet {
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    max_levels: usize,
    keyspaces: BTreeMap<u32, KeyspaceFiles>,
    /// Every live file, shared by the versions that hold it.
    files: HashMap<u64, Arc<TableFile>>,
    /// Opens the tables of every version on demand.
    tables: Arc<TableCache>,
    /// The owning database's operations, handed to every table (see [`TableFile`]).
    gate: Arc<Gate>,
    manifest: Option<(u64, LogWriter)>,
    /// Set by the first failed manifest write or sync; every later edit is refused.
    failed: Option<String>,
    /// The next unused file number (WAL segments, tables and manifests share it).
    pub next_file_number: u64,
    /// The last sequence number recorded as used.
    pub last_sequence: u64,
    /// The newest WAL segment recorded as created (0 when no edit named one, as in a
    /// manifest older than format version 2).
    pub newest_wal: u64,
    /// The next unused keyspace id.
    pub next_keyspace_id: u32,
    /// The merge operator's name, once recorded.
    pub merge_operator: Option<String>,
}

fn header() -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
    h
}

fn default_keyspace(max_levels: usize) -> KeyspaceFiles {
    KeyspaceFiles {
        meta: KeyspaceMeta {
            id: DEFAULT_KEYSPACE,
            name: "default".into(),
            options: Vec::new(),
        },
        state: LevelState::new(max_levels),
        current: Arc::new(Version::new(vec![Vec::new(); max_levels])),
        log_number: 0,
    }
}

impl VersionSet {
    /// A new, empty database's state: the keyspace `"default"` and no file. Nothing is
    /// written until the first [`VersionSet::log_and_apply`].
    pub fn create(
        fs: Arc<dyn FileSystem>,
        root: &Path,
        max_levels: usize,
        tables: Arc<TableCache>,
        gate: Arc<Gate>,
    ) -> VersionSet {
        VersionSet {
            fs,
            root: root.to_path_buf(),
            max_levels,
            keyspaces: BTreeMap::from([(DEFAULT_KEYSPACE, default_keyspace(max_levels))]),
            files: HashMap::new(),
            tables,
            gate,
            manifest: None,
            failed: None,
            next_file_number: 1,
            last_sequence: 0,
            newest_wal: 0,
            next_keyspace_id: DEFAULT_KEYSPACE + 1,
            merge_operator: None,
        }
    }

    /// Reads `CURRENT` and the manifest it names. No table is opened: `tables` opens
    /// them when they are first read, so opening costs the same at any data size.
    pub fn recover(
        fs: Arc<dyn FileSystem>,
        root: &Path,
        max_levels: usize,
        tables: Arc<TableCache>,
        gate: Arc<Gate>,
    ) -> Result<VersionSet> {
        let current_path = root.join(filename::CURRENT);
        let current = fs
            .read_all(&current_path)
            .map_err(|e| LsmError::io_at("read", &current_path, e))?;
        let name = std::str::from_utf8(&current)
            .ok()
            .and_then(|s| s.strip_suffix('\n'))
            .filter(|s| filename::parse_manifest(s).is_some())
            .ok_or_else(|| {
                LsmError::corruption(&current_path, 0, "CURRENT does not name a manifest")
            })?;
        let manifest_path = root.join(name);
        let data = fs
            .read_all(&manifest_path)
            .map_err(|e| LsmError::io_at("read", &manifest_path, e))?;
        let number = filename::parse_manifest(name).unwrap_or(0);
        let log = read_log(&data, &manifest_path, number);
        if let Some(d) = log.damage.first() {
            return Err(LsmError::corruption(
                &manifest_path,
                d.offset,
                d.reason.clone(),
            ));
        }
        if let Some(offset) = log.torn_tail {
            // Every edit but the last was synced before the next was written, and a
            // synced edit was acted upon (WAL segments deleted, tables relied on), so
            // the tail may only be what a power cut leaves of the last, unsynced edit:
            // cut by the end of the file or (v2) holed by lost pages. A whole fragment
            // that fails its checks for another reason is corruption: dropping it
            // would silently lose data.
            if let Some(d) = log.tail_damage.first() {
                return Err(LsmError::corruption(
                    &manifest_path,
                    d.offset,
                    format!("damaged version edit ({})", d.reason),
                ));
            }
            // An edit whose write never completed was never acted upon.
            log::warn!(
                "{}: dropping a torn edit at offset {offset}",
                manifest_path.display()
            );
        }
        let mut records = log.records.into_iter();
        let version = match records.next() {
            Some((_, h)) if h.len() == 12 && h.get(..8) == Some(&MAGIC[..]) => {
                let v = h
                    .get(8..12)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u32::from_le_bytes);
                let framing = match v {
                    MANIFEST_VERSION_V1 => Framing::V1,
                    MANIFEST_VERSION_V2 | MANIFEST_VERSION_V3 | MANIFEST_VERSION => Framing::V2,
                    _ => {
                        return Err(LsmError::corruption(
                            &manifest_path,
                            0,
                            format!("manifest format version {v} is not supported (this build reads {MANIFEST_VERSION_V1}..={MANIFEST_VERSION})"),
                        ))
                    }
                };
                if framing != log.framing {
                    return Err(LsmError::corruption(
                        &manifest_path,
                        0,
                        format!(
                            "manifest format version {v} in a log framed as {:?}",
                            log.framing
                        ),
                    ));
                }
                v
            }
            _ => {
                return Err(LsmError::corruption(
                    &manifest_path,
                    0,
                    "missing manifest header",
                ))
            }
        };
        // Replayed with room for any level an edit may name, so a database written with
        // more levels than `max_levels` is a configuration error, not corruption.
        let replay_levels = MAX_LEVELS_ON_DISK.max(max_levels);
        let mut vs = VersionSet::create(fs, root, replay_levels, tables, gate);
        for (offset, rec) in records {
            let edit = VersionEdit::decode(&rec)
                .map_err(|r| LsmError::corruption(&manifest_path, offset, r))?;
            let keyspace_tags = edit.keyspace.is_some()
                || !edit.keyspace_logs.is_empty()
                || !edit.created.is_empty()
                || !edit.dropped.is_empty()
                || edit.next_keyspace_id.is_some();
            if keyspace_tags && version < MANIFEST_VERSION_V3 {
                return Err(LsmError::corruption(
                    &manifest_path,
                    offset,
                    format!("keyspace records in a manifest of format version {version}"),
                ));
            }
            if edit.merge_operator.is_some() && version < MANIFEST_VERSION {
                return Err(LsmError::corruption(
                    &manifest_path,
                    offset,
                    format!("a merge operator record in a manifest of format version {version}"),
                ));
            }
            vs.apply_to_state(&edit)
                .map_err(|r| LsmError::corruption(&manifest_path, offset, r))?;
            vs.absorb_counters(&edit);
        }
        vs.max_levels = max_levels;
        for ks in vs.keyspaces.values_mut() {
            if let Some(level) = (max_levels..ks.state.levels.len())
                .rev()
                .find(|&l| ks.state.levels.get(l).is_some_and(|f| !f.is_empty()))
            {
                return Err(LsmError::config(
                    "compaction.max_levels",
                    format!(
                        "the database has files in level {level}; open it with at least {}",
                        level + 1
                    ),
                ));
            }
            ks.state.levels.truncate(max_levels);
        }
        let ids: Vec<u32> = vs.keyspaces.keys().copied().collect();
        for id in ids {
            vs.rebuild_version(id);
        }
        Ok(vs)
    }

    /// Applies the keyspace and file changes of `edit` to the pure state (no
    /// version is rebuilt); `Err` says what does not fit.
    fn apply_to_state(&mut self, edit: &VersionEdit) -> Result<(), String> {
        let levels = self
            .keyspaces
            .get(&DEFAULT_KEYSPACE)
            .map_or(self.max_levels, |k| k.state.levels.len());
        for k in &edit.created {
            if self.keyspaces.contains_key(&k.id) || k.id == DEFAULT_KEYSPACE {
                return Err(format!("keyspace {} is created twice", k.id));
            }
            self.keyspaces.insert(
                k.id,
                KeyspaceFiles {
                    meta: k.clone(),
                    state: LevelState::new(levels),
                    current: Arc::new(Version::new(vec![Vec::new(); levels])),
                    log_number: 0,
                },
            );
            self.next_keyspace_id = self.next_keyspace_id.max(k.id + 1);
        }
        for id in &edit.dropped {
            if *id == DEFAULT_KEYSPACE {
                return Err("the keyspace \"default\" is dropped".into());
            }
            self.keyspaces
                .remove(id)
                .ok_or_else(|| format!("keyspace {id} is dropped but does not exist"))?;
        }
        let id = edit.keyspace.unwrap_or(DEFAULT_KEYSPACE);
        if !edit.added.is_empty() || !edit.deleted.is_empty() {
            let ks = self.keyspaces.get_mut(&id).ok_or_else(|| {
                format!("edit moves files of keyspace {id}, which does not exist")
            })?;
            ks.state.apply(edit)?;
        }
        if let Some(n) = edit.log_number {
            if let Some(ks) = self.keyspaces.get_mut(&DEFAULT_KEYSPACE) {
                ks.log_number = ks.log_number.max(n);
            }
        }
        for (id, n) in &edit.keyspace_logs {
            let ks = self
                .keyspaces
                .get_mut(id)
                .ok_or_else(|| format!("edit names keyspace {id}, which does not exist"))?;
            ks.log_number = ks.log_number.max(*n);
        }
        Ok(())
    }

    fn absorb_counters(&mut self, edit: &VersionEdit) {
        if let Some(n) = edit.next_file_number {
            self.next_file_number = self.next_file_number.max(n);
        }
        if let Some(s) = edit.last_sequence {
            self.last_sequence = self.last_sequence.max(s);
        }
        if let Some(n) = edit.wal_segment {
            self.newest_wal = self.newest_wal.max(n);
        }
        if let Some(n) = edit.next_keyspace_id {
            self.next_keyspace_id = self.next_keyspace_id.max(n);
        }
        if let Some(name) = &edit.merge_operator {
            self.merge_operator = Some(name.clone());
        }
        for (_, f) in &edit.added {
            self.next_file_number = self.next_file_number.max(f.number + 1);
        }
    }

    /// Builds keyspace `id`'s current version from its state, re-using the
    /// `TableFile` of every file that stays (and noting the level it is in now); the
    /// files its old version held and the state no longer does become obsolete.
    fn rebuild_version(&mut self, id: u32) {
        let Some(ks) = self.keyspaces.get_mut(&id) else {
            return;
        };
        let mut levels = Vec::with_capacity(ks.state.levels.len());
        let mut live = HashSet::new();
        for (level_no, files) in ks.state.levels.iter().enumerate() {
            let mut level = Vec::with_capacity(files.len());
            for meta in files.values() {
                let file = match self.files.get(&meta.number) {
                    Some(f) if f.meta == *meta => {
                        f.set_level(level_no);
                        f.clone()
                    }
                    _ => {
                        let f = Arc::new(TableFile::new(
                            meta.clone(),
                            level_no,
                            self.tables.clone(),
                            self.gate.clone(),
                        ));
                        self.files.insert(meta.number, f.clone());
                        f
                    }
                };
                live.insert(meta.number);
                level.push(file);
            }
            levels.push(level);
        }
        for gone in ks.current.tables() {
            if !live.contains(&gone.meta.number) {
                self.files.remove(&gone.meta.number);
                gone.mark_obsolete();
            }
        }
        ks.current = Arc::new(Version::new(levels));
    }

    /// The live keyspaces, by id.
    pub fn keyspaces(&self) -> impl Iterator<Item = &KeyspaceFiles> + '_ {
        self.keyspaces.values()
    }

    /// Keyspace `id`, if it exists.
    pub fn keyspace(&self, id: u32) -> Option<&KeyspaceFiles> {
        self.keyspaces.get(&id)
    }

    /// The numbers of every live table, of every keyspace.
    pub fn file_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.keyspaces.values().flat_map(|k| k.state.file_numbers())
    }

    /// WAL segments numbered below this hold only data that is in tables: the lowest
    /// log number of any keyspace.
    pub fn log_number(&self) -> u64 {
        self.keyspaces
            .values()
            .map(|k| k.log_number)
            .min()
            .unwrap_or(0)
    }

    /// The current version of keyspace `id` (empty if it does not exist).
    pub fn current(&self, id: u32) -> Arc<Version> {
        match self.keyspaces.get(&id) {
            Some(k) => k.current.clone(),
            None => Arc::new(Version::new(vec![Vec::new(); self.max_levels])),
        }
    }

    /// Edits that recreate the whole state from nothing: the first creates every
    /// keyspace but `"default"` and carries the counters, then one per keyspace adds
    /// its files and sets its log number.
    pub fn snapshot_edits(&self) -> Vec<VersionEdit> {
        let mut first = VersionEdit {
            next_file_number: Some(self.next_file_number),
            last_sequence: Some(self.last_sequence),
            wal_segment: Some(self.newest_wal).filter(|&n| n > 0),
            next_keyspace_id: Some(self.next_keyspace_id),
            merge_operator: self.merge_operator.clone(),
            ..Default::default()
        };
        let mut out = Vec::new();
        for (id, ks) in &self.keyspaces {
            if *id != DEFAULT_KEYSPACE {
                first.created.push(ks.meta.clone());
            }
            let mut e = ks.state.snapshot_edit();
            e.keyspace = Some(*id);
            e.keyspace_logs.push((*id, ks.log_number));
            out.push(e);
        }
        out.insert(0, first);
        out
    }

    /// A fresh file number.
    pub fn new_file_number(&mut self) -> u64 {
        let n = self.next_file_number;
        self.next_file_number += 1;
        n
    }

    /// The live manifest's number, once one was written.
    pub fn manifest_number(&self) -> Option<u64> {
        self.manifest.as_ref().map(|(n, _)| *n)
    }

    /// Logs `edit` durably in the manifest, then makes it current, and returns the
    /// current version of the keyspace it moves files of. On error nothing in memory
    /// changed, but the manifest may hold a partial record: the caller must stop
    /// writing (the engine's sticky error) until a reopen re-reads it.
    pub fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if let Some(why) = &self.failed {
            // The manifest may hold the failed edit or part of it: anything appended
            // after it could contradict it (the same compaction logged twice), so
            // nothing more is written until a reopen re-reads the file.
            return Err(LsmError::io(
                "manifest refuses edits after an earlier failure (reopen the database)",
                std::io::Error::other(why.clone()),
            ));
        }
        let id = edit.keyspace.unwrap_or(DEFAULT_KEYSPACE);
        let keyspace_change = !edit.created.is_empty() || !edit.dropped.is_empty();
        let moves_files = !edit.added.is_empty() || !edit.deleted.is_empty();
        if moves_files && !self.keyspaces.contains_key(&id) {
            return Err(LsmError::InvalidArgument(format!(
                "bad version edit: keyspace {id} does not exist"
            )));
        }
        // Checked on a copy of what it touches, so a bad edit changes nothing. An edit
        // that moves no file (the record of a new WAL segment at every memtable
        // switch) copies no level state: no O(files) work.
        if moves_files {
            if let Some(ks) = self.keyspaces.get(&id) {
                ks.state
                    .clone()
                    .apply(&edit)
                    .map_err(|r| LsmError::InvalidArgument(format!("bad version edit: {r}")))?;
            }
        }
        for (k, _) in &edit.keyspace_logs {
            if !self.keyspaces.contains_key(k) && !edit.created.iter().any(|c| c.id == *k) {
                return Err(LsmError::InvalidArgument(format!(
                    "bad version edit: keyspace {k} does not exist"
                )));
            }
        }
        edit.next_file_number = Some(self.next_file_number);
        edit.last_sequence = Some(edit.last_sequence.unwrap_or(0).max(self.last_sequence));
        if keyspace_change {
            let next = edit
                .created
                .iter()
                .map(|k| k.id + 1)
                .fold(self.next_keyspace_id, u32::max);
            edit.next_keyspace_id = Some(next);
        }

        if let Err(e) = self.write_edit(&edit) {
            self.failed = Some(e.to_string());
            return Err(e);
        }
        let dropped: Vec<KeyspaceFiles> = edit
            .dropped
            .iter()
            .filter_map(|d| self.keyspaces.remove(d))
            .collect();
        let mut rest = edit.clone();
        rest.dropped.clear();
        // Checked above, so this cannot fail half way.
        self.apply_to_state(&rest)
            .map_err(|r| LsmError::InvalidArgument(format!("bad version edit: {r}")))?;
        self.absorb_counters(&edit);
        // A dropped keyspace's files are deleted once no reader holds them.
        for ks in dropped {
            for f in ks.current.tables() {
                self.files.remove(&f.meta.number);
                f.mark_obsolete();
            }
        }
        if moves_files {
            self.rebuild_version(id);
        }
        for k in &edit.created {
            self.rebuild_version(k.id);
        }
        Ok(self.current(id))
    }

    /// Logs `edit` durably: appended to the live manifest, or in a new manifest
    /// holding the whole state with `edit` applied when there is none yet or it grew
    /// large.
    fn write_edit(&mut self, edit: &VersionEdit) -> Result<()> {
        let roll = match &self.manifest {
            None => true,
            Some((_, w)) => w.len() > MAX_MANIFEST_BYTES,
        };
        if roll {
            // A new manifest starts with everything, so it alone describes the state:
            // the state as it is, then the edit itself.
            let number = self.new_file_number();
            let mut edits = self.snapshot_edits();
            if let Some(first) = edits.first_mut() {
                first.next_file_number = Some(self.next_file_number);
            }
            let mut last = edit.clone();
            last.next_file_number = Some(self.next_file_number);
            edits.push(last);
            let writer = write_manifest(self.fs.as_ref(), &self.root, number, &edits)?;
            set_current(self.fs.as_ref(), &self.root, number)?;
            if let Some((old, _)) = self.manifest.replace((number, writer)) {
                let p = filename::manifest(&self.root, old);
                if let Err(e) = self.fs.remove_file(&p) {
                    log::warn!("cannot delete old manifest {}: {e}", p.display());
                }
            }
        } else if let Some((_, w)) = &mut self.manifest {
            let path = w.path().to_path_buf();
            w.add_record(&edit.encode())
                .and_then(|()| w.sync())
                .map_err(|e| LsmError::io_at("append to", &path, e))?;
        }
        Ok(())
    }
}

/// Writes a complete manifest `MANIFEST-{number}` holding `snapshot`, synced, and
/// returns its writer for further edits. Used for a live database and a checkpoint.
pub fn write_manifest(
    fs: &dyn FileSystem,
    root: &Path,
    number: u64,
    snapshot: &[VersionEdit],
) -> Result<LogWriter> {
    let path = filename::manifest(root, number);
    let file = fs
        .create(&path)
        .map_err(|e| LsmError::io_at("create", &path, e))?;
    let mut w = LogWriter::new(file, path.clone(), number);
    let encoded: Vec<Vec<u8>> = snapshot.iter().map(VersionEdit::encode).collect();
    let h = header();
    let mut records: Vec<&[u8]> = vec![&h];
    records.extend(encoded.iter().map(Vec::as_slice));
    w.add_records(&records)
        .and_then(|()| w.sync())
        .map_err(|e| LsmError::io_at("write", &path, e))?;
    // The manifest's name must be durable before CURRENT can point at it.
    fs.sync_dir(root)
        .map_err(|e| LsmError::io_at("sync directory", root, e))?;
    Ok(w)
}

/// Points `CURRENT` at `MANIFEST-{number}` atomically and durably.
pub fn set_current(fs: &dyn FileSystem, root: &Path, number: u64) -> Result<()> {
    let tmp = filename::current_temp(root);
    let name = format!("MANIFEST-{number:06}\n");
    let f = fs
        .create(&tmp)
        .map_err(|e| LsmError::io_at("create", &tmp, e))?;
    f.append(name.as_bytes())
        .and_then(|()| f.sync())
        .map_err(|e| LsmError::io_at("write", &tmp, e))?;
    drop(f);
    let current = root.join(filename::CURRENT);
    fs.rename(&tmp, &current)
        .map_err(|e| LsmError::io_at("rename to", &current, e))?;
    fs.sync_dir(root)
        .map_err(|e| LsmError::io_at("sync directory", root, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    /// Regression (found by tests/io_errors.rs): after a failed manifest sync the edit
    /// may be on disk while memory does not know it; a compaction logged again after
    /// that wrote a second edit deleting the same files, and the reopen failed with
    /// "edit deletes file N, which is not in level 0".
    #[test]
    fn regression_no_edit_is_logged_after_a_failed_manifest_sync() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db/ss_tables")).unwrap();
        let dynfs: Arc<dyn FileSystem> = Arc::new(fs.clone());
        let tables = Arc::new(TableCache::new(
            dynfs.clone(),
            Path::new("db/ss_tables"),
            None,
            None,
            true,
        ));
        let mut vs = VersionSet::create(dynfs, Path::new("db"), 4, tables, Arc::new(Gate::new()));
        let edit = |n| VersionEdit {
            log_number: Some(n),
            ..Default::default()
        };
        vs.log_and_apply(edit(1)).unwrap();
        fs.fail_after(2, true); // the append succeeds, its sync fails
        assert!(vs.log_and_apply(edit(2)).is_err());
        match vs.log_and_apply(edit(3)) {
            Err(e) => assert!(e.to_string().contains("earlier failure"), "{e}"),
            Ok(_) => panic!("an edit was logged after a failed manifest sync"),
        }
        // Nothing after the failed edit reached the file.
        let m = filename::manifest(Path::new("db"), vs.manifest_number().unwrap());
        let n = vs.manifest_number().unwrap();
        let records = read_log(&fs.read_all(&m).unwrap(), &m, n).records.len();
        assert_eq!(
            records, 5,
            "header, snapshot (counters, keyspace \"default\"), the first edit, the edit whose sync failed"
        );
    }
}

#[cfg(test)]
mod torn_tail_tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::wal::format::{BLOCK_SIZE, HEADER_SIZE};

    /// A manifest of small edits whose last one starts a few bytes before a block
    /// boundary and ends after it; returns its path, bytes and where the last edit
    /// starts. The last edit sets `log_number` to `LAST`.
    fn straddling_manifest(fs: &MemFs, number: u64) -> (PathBuf, Vec<u8>, u64) {
        fs.create_dir_all(Path::new("db/ss_tables")).unwrap();
        let path = filename::manifest(Path::new("db"), number);
        let mut w = LogWriter::new(fs.create(&path).unwrap(), path.clone(), number);
        w.add_record(&header()).unwrap();
        let edit = |n: u64, seq: u64| {
            VersionEdit {
                log_number: Some(n),
                next_file_number: Some(number + 1),
                last_sequence: Some(seq),
                ..Default::default()
            }
            .encode()
        };
        let block = BLOCK_SIZE as u64;
        let last = edit(LAST, 1);
        let fits_badly = |len: u64| {
            let rem = block - len % block;
            rem > HEADER_SIZE as u64 + 1 && rem < (HEADER_SIZE + last.len()) as u64
        };
        let mut n = 1;
        while !(w.len() > block / 2 && fits_badly(w.len())) {
            // Edits of varied lengths, so some length lands in the window.
            let e = (0..6)
                .map(|k| edit(n, 1 << (7 * k)))
                .find(|e| fits_badly(w.len() + (HEADER_SIZE + e.len()) as u64))
                .unwrap_or_else(|| edit(n, 1));
            w.add_record(&e).unwrap();
            w.sync().unwrap();
            n += 1;
        }
        let last_start = w.len();
        w.add_record(&last).unwrap();
        let data = fs.read_all(&path).unwrap();
        assert!(last_start < block && data.len() as u64 > block);
        set_current(fs, Path::new("db"), number).unwrap();
        (path, data, last_start)
    }

    const LAST: u64 = 999_999;

    /// Regression (issue 10, item 4): an edit cut by a power cut after its FIRST
    /// fragment, in the next block, made the open fail with "damaged version edit",
    /// because the torn tail's first fragment was complete. It was never synced, so it
    /// was never acted on: every cut of it opens, without it.
    #[test]
    fn regression_a_torn_edit_straddling_a_block_boundary_opens_at_every_cut() {
        let fs = MemFs::new();
        let (path, data, last_start) = straddling_manifest(&fs, 7);
        assert_eq!(recover(&fs).unwrap().log_number(), LAST);
        for cut in last_start as usize..data.len() {
            fs.write_raw(&path, data[..cut].to_vec()).unwrap();
            let vs = recover(&fs).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert!(vs.log_number() < LAST, "cut {cut}");
        }
    }

    fn recover(fs: &MemFs) -> Result<VersionSet> {
        let fs: Arc<dyn FileSystem> = Arc::new(fs.clone());
        let tables = Arc::new(TableCache::new(
            fs.clone(),
            Path::new("db/ss_tables"),
            None,
            None,
            true,
        ));
        VersionSet::recover(fs, Path::new("db"), 4, tables, Arc::new(Gate::new()))
    }

    /// Under the hole model a lost page of the last (unsynced) edit reads as zeros;
    /// a lost page anywhere before it is damage to synced edits, which the later edits
    /// prove (their synced length is past it).
    #[test]
    fn a_lost_page_of_the_last_edit_is_dropped_and_one_before_it_is_corruption() {
        let fs = MemFs::new();
        let (path, data, last_start) = straddling_manifest(&fs, 7);
        // The last edit's second fragment, in the page at the block boundary, zeroed.
        let mut holed = data.clone();
        holed[BLOCK_SIZE..].fill(0);
        fs.write_raw(&path, holed).unwrap();
        let vs = recover(&fs).unwrap();
        assert!(vs.log_number() < LAST);
        // A zeroed page of synced edits.
        let mut holed = data.clone();
        holed[8192..12288].fill(0);
        fs.write_raw(&path, holed).unwrap();
        assert!(recover(&fs).err().is_some_and(|e| e.is_corruption()));
        // A flipped bit in the last edit, complete: no lost page explains it.
        let mut flipped = data.clone();
        flipped[last_start as usize + HEADER_SIZE] ^= 1;
        fs.write_raw(&path, flipped).unwrap();
        assert!(recover(&fs).err().is_some_and(|e| e.is_corruption()));
    }

    /// Keyspaces survive a reopen and a manifest roll with their options and log
    /// numbers, and the id of a dropped keyspace is never given out again (old WAL
    /// records may still name it), also after the roll forgot the keyspace itself.
    #[test]
    fn keyspaces_and_the_next_id_survive_reopens_and_rolls() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db/ss_tables")).unwrap();
        let dynfs: Arc<dyn FileSystem> = Arc::new(fs.clone());
        let tables = Arc::new(TableCache::new(
            dynfs.clone(),
            Path::new("db/ss_tables"),
            None,
            None,
            true,
        ));
        let mut vs = VersionSet::create(dynfs, Path::new("db"), 4, tables, Arc::new(Gate::new()));
        let meta = |id: u32, name: &str| KeyspaceMeta {
            id,
            name: name.into(),
            options: vec![("sstable.compression".into(), "none".into())],
        };
        vs.log_and_apply(VersionEdit {
            created: vec![meta(1, "a"), meta(2, "b")],
            keyspace_logs: vec![(1, 7), (2, 7)],
            ..Default::default()
        })
        .unwrap();
        vs.log_and_apply(VersionEdit {
            dropped: vec![2],
            keyspace_logs: vec![(0, 9)],
            ..Default::default()
        })
        .unwrap();
        // A bad edit changes nothing.
        assert!(vs
            .log_and_apply(VersionEdit {
                keyspace_logs: vec![(2, 10)],
                ..Default::default()
            })
            .is_err());
        for round in 0..2 {
            let mut vs = recover(&fs).unwrap();
            let ids: Vec<u32> = vs.keyspaces().map(|k| k.meta.id).collect();
            assert_eq!(ids, [0, 1], "round {round}");
            assert_eq!(vs.keyspace(1).unwrap().meta, meta(1, "a"));
            assert_eq!(
                vs.next_keyspace_id, 3,
                "round {round}: id 2 is never reused"
            );
            assert_eq!(vs.log_number(), 7, "the lowest keyspace log number");
            assert_eq!(vs.keyspace(0).unwrap().log_number, 9);
            // The first edit after a recover writes a new manifest (a roll).
            vs.log_and_apply(VersionEdit::default()).unwrap();
        }
    }

    /// A manifest an older build wrote (v1 framing, version 1 header) is read; a
    /// version that disagrees with the framing is not.
    #[test]
    fn a_v1_manifest_is_read() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db/ss_tables")).unwrap();
        let mut h = header();
        h[8..12].copy_from_slice(&MANIFEST_VERSION_V1.to_le_bytes());
        let edit = VersionEdit {
            log_number: Some(12),
            next_file_number: Some(13),
            last_sequence: Some(99),
            ..Default::default()
        }
        .encode();
        let path = filename::manifest(Path::new("db"), 5);
        let f = fs.create(&path).unwrap();
        f.append(&crate::wal::encode_log_v1(&[&h, &edit])).unwrap();
        set_current(&fs, Path::new("db"), 5).unwrap();
        let vs = recover(&fs).unwrap();
        assert_eq!((vs.log_number(), vs.last_sequence), (12, 99));
        // A v2 header in a v1-framed log.
        let f = fs.create(&path).unwrap();
        f.append(&crate::wal::encode_log_v1(&[&header(), &edit]))
            .unwrap();
        assert!(recover(&fs).err().is_some_and(|e| e.is_corruption()));
    }
}
