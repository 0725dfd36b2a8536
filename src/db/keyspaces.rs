//! Creating, finding and dropping keyspaces.
//!
//! Both changes take the WAL lock (settled: no memtable switch half done), then the
//! version lock, log their manifest record, and replace the map of live trees. Under
//! the WAL lock no write group is between its keyspace check and its memtable
//! inserts, so a write either lands in a keyspace before it is dropped (and is
//! dropped with it) or fails with `InvalidArgument`.

use super::tree::{self, Tree, TreeMap};
use super::{DbInner, SuperVersion, SvCell};
use crate::error::{LsmError, Result};
use crate::manifest::{KeyspaceMeta, VersionEdit, DEFAULT_KEYSPACE};
use std::sync::Arc;

impl DbInner {
    /// The live keyspace called `name`.
    pub fn find_keyspace(&self, name: &str) -> Option<Arc<Tree>> {
        self.trees.load().values().find(|t| t.name == name).cloned()
    }

    /// The names of the live keyspaces, `"default"` first, then in creation order.
    pub fn keyspace_names(&self) -> Vec<String> {
        self.trees.load().values().map(|t| t.name.clone()).collect()
    }

    /// The keyspace `name`: the live one, or a new one with the database's options
    /// and `options` (dotted keys, see [`tree::KEYSPACE_KEYS`]) over them. The options
    /// of an existing keyspace are those it was created with: `options` must then be
    /// empty or the same, else `InvalidArgument`.
    pub fn open_keyspace(&self, name: &str, options: &[(String, String)]) -> Result<Arc<Tree>> {
        let _op = self.enter()?;
        tree::check_name(name)?;
        let config = tree::keyspace_config(&self.config, options)?;
        if let Some(t) = self.find_keyspace(name) {
            return self.existing(&t, options);
        }
        let wal = self.lock_wal_settled();
        self.check_bg_error()?;
        if let Some(t) = self.find_keyspace(name) {
            return self.existing(&t, options);
        }
        let segment = wal.logger.number();
        let mut vs = self.versions.lock();
        let id = vs.next_keyspace_id;
        let meta = KeyspaceMeta {
            id,
            name: name.to_string(),
            options: options.to_vec(),
        };
        // It has no writes in any segment yet: its log number is the live one.
        let edit = VersionEdit {
            created: vec![meta],
            keyspace_logs: vec![(id, segment)],
            ..Default::default()
        };
        vs.log_and_apply(edit).map_err(|e| self.set_bg_error(e))?;
        // The new keyspace's own (empty) version: what log_and_apply returns is that of
        // the edit's `keyspace`, which a creation does not name ("default"'s).
        let version = vs.current(id);
        let tree = Arc::new(Tree::new(
            id,
            name.to_string(),
            config,
            SvCell::new(SuperVersion::new(
                Arc::new(crate::memtable::MemTable::new(segment, 0)),
                Vec::new(),
                version,
                &self.config,
            )),
            wal.epoch,
        ));
        // The real memtable, sized with the new keyspace counted.
        let mut next: TreeMap = (**self.trees.load()).clone();
        next.insert(id, tree.clone());
        self.trees.store(Arc::new(next));
        let mem = Arc::new(self.new_memtable(&tree, segment));
        tree.sv
            .update(|sv| SuperVersion::with_memtables(sv, mem, Vec::new()));
        drop(vs);
        drop(wal);
        log::info!("created keyspace {name:?} (id {id})");
        Ok(tree)
    }

    fn existing(&self, t: &Arc<Tree>, options: &[(String, String)]) -> Result<Arc<Tree>> {
        if options.is_empty() || self.created_with(t.id).as_deref() == Some(options) {
            return Ok(t.clone());
        }
        Err(LsmError::InvalidArgument(format!(
            "keyspace {:?} exists with other options (they are fixed at creation)",
            t.name
        )))
    }

    /// The options keyspace `id` was created with.
    fn created_with(&self, id: u32) -> Option<Vec<(String, String)>> {
        self.versions
            .lock()
            .keyspace(id)
            .map(|k| k.meta.options.clone())
    }

    /// Drops the keyspace `name`: its data is gone for every later read and write,
    /// also after a crash; its files are deleted once no iterator or snapshot read
    /// holds them. `InvalidArgument` for `"default"` or a keyspace that does not exist.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        let _op = self.enter()?;
        tree::check_name(name)?;
        if name == "default" {
            return Err(LsmError::InvalidArgument(
                "the keyspace \"default\" cannot be dropped".into(),
            ));
        }
        let wal = self.lock_wal_settled();
        self.check_bg_error()?;
        let Some(t) = self.find_keyspace(name) else {
            return Err(LsmError::InvalidArgument(format!(
                "keyspace {name:?} does not exist"
            )));
        };
        debug_assert_ne!(t.id, DEFAULT_KEYSPACE);
        let mut vs = self.versions.lock();
        vs.log_and_apply(VersionEdit {
            dropped: vec![t.id],
            ..Default::default()
        })
        .map_err(|e| self.set_bg_error(e))?;
        t.mark_dropped();
        let mut next: TreeMap = (**self.trees.load()).clone();
        next.remove(&t.id);
        self.trees.store(Arc::new(next));
        let log_number = vs.log_number();
        drop(vs);
        drop(wal);
        {
            let mut bg = self.bg.lock();
            bg.trees.remove(&t.id);
            // Writers stalled on it see it gone.
            self.bg_cv.notify_all();
        }
        // Its writes may have been all that kept old WAL segments.
        self.delete_wal_segments_below(log_number);
        log::info!("dropped keyspace {name:?} (id {})", t.id);
        Ok(())
    }
}
