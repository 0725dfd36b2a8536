//! `lsm_options`: the configuration `lsm_open` uses, built from an optional
//! `config.toml` and `lsm_options_set` calls (both parsed by [`Config`]).

use super::boundary::lsm_status;
use super::boundary::{guard, handle, handle_mut, path, status, text, Failure, Outcome};
use crate::config::{Config, Directories};
use std::ffi::c_char;
use std::path::Path;

/// Options for `lsm_open`: defaults, or a `config.toml` loaded with
/// `lsm_options_load`, then the `lsm_options_set` calls in order. Used by one thread at
/// a time; free with `lsm_options_free` (lsm_open does not take it over).
pub struct lsm_options {
    /// What `lsm_options_load` read (`None`: the defaults).
    file: Option<Config>,
    /// Every accepted `lsm_options_set`, in call order.
    sets: Vec<(String, String)>,
    /// The operator of `lsm_options_set_merge_operator`, applied after the sets.
    merge: Option<std::sync::Arc<dyn crate::merge::MergeOperator>>,
    /// The filters of `lsm_options_set_compaction_filter`, in call order.
    filters: Vec<std::sync::Arc<dyn crate::filter::CompactionFilter>>,
}

impl lsm_options {
    /// The accepted `lsm_options_set` calls since the last load, in call order (what
    /// `lsm_keyspace_open` applies as keyspace options).
    pub(crate) fn sets(&self) -> &[(String, String)] {
        &self.sets
    }

    /// The configuration of a database in `root`: the file's options (or the
    /// defaults), then `root` as the database directory, then every set in order.
    pub(crate) fn config(&self, root: &Path) -> Outcome<Config> {
        let mut c = self.file.clone().unwrap_or_default();
        c.directory = Directories {
            log: c.directory.log.clone(),
            ..Directories::under(root)
        };
        for (k, v) in &self.sets {
            c.set(k, v)?;
        }
        if let Some(op) = &self.merge {
            c.merge.operator = Some(op.clone());
        }
        c.compaction_filters
            .filters
            .extend(self.filters.iter().cloned());
        Ok(c)
    }

    /// Adds `f` to the compaction filters of the databases opened with these options.
    pub(crate) fn add_compaction_filter(
        &mut self,
        f: std::sync::Arc<dyn crate::filter::CompactionFilter>,
    ) {
        self.filters.push(f);
    }

    /// Makes `op` the merge operator of the databases opened with these options.
    pub(crate) fn set_merge_operator(
        &mut self,
        op: std::sync::Arc<dyn crate::merge::MergeOperator>,
    ) {
        self.merge = Some(op);
    }
}

/// New options holding the defaults. Free with `lsm_options_free`. NULL only if the
/// library failed internally.
#[no_mangle]
pub extern "C" fn lsm_options_new() -> *mut lsm_options {
    guard(|| {
        Ok(Box::into_raw(Box::new(lsm_options {
            file: None,
            sets: Vec::new(),
            merge: None,
            filters: Vec::new(),
        })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Replaces `o` with the options of the `config.toml` at `config_toml_path` (keys it
/// does not name keep their defaults), forgetting earlier `lsm_options_set` calls.
/// The `[directory]` root, wal, ss_table and cache of the file are overridden by the
/// `path` given to `lsm_open`; `directory.log` is kept. An unreadable file, an
/// unknown key or a bad value is `LSM_CONFIG_ERROR` naming it, and leaves `o` as it
/// was.
#[no_mangle]
pub unsafe extern "C" fn lsm_options_load(
    o: *mut lsm_options,
    config_toml_path: *const c_char,
) -> lsm_status {
    status(|| {
        // SAFETY: o is NULL or a live options object used by this thread alone.
        let o = unsafe { handle_mut(o, "options") }?;
        // SAFETY: config_toml_path is NULL or a NUL-terminated string.
        let p = unsafe { path(config_toml_path, "config_toml_path") }?;
        let file = Config::load(p)?;
        o.file = Some(file);
        o.sets.clear();
        Ok(())
    })
}

/// Sets option `key` (dotted, as in config.toml: "memtable.max_entries",
/// "wal.sync", ...) to `value` parsed from text ("100000", "always", "10ms", "true").
/// Sets apply in call order after a loaded file and after `lsm_open`'s path, so a set
/// of a `directory.*` key wins over the path. An unknown key or a bad value is
/// `LSM_CONFIG_ERROR` and changes nothing.
#[no_mangle]
pub unsafe extern "C" fn lsm_options_set(
    o: *mut lsm_options,
    key: *const c_char,
    value: *const c_char,
) -> lsm_status {
    status(|| {
        // SAFETY: o is NULL or a live options object used by this thread alone.
        let o = unsafe { handle_mut(o, "options") }?;
        // SAFETY: key and value are NULL or NUL-terminated strings.
        let (key, value) = unsafe { (text(key, "key")?, text(value, "value")?) };
        // Config::set checks the key and the value on their own; check now so the
        // error comes from this call rather than from lsm_open.
        Config::default().set(key, value).map_err(Failure::from)?;
        o.sets.push((key.to_owned(), value.to_owned()));
        Ok(())
    })
}

/// Frees options. NULL is a no-op. Freeing options that another thread is using (in
/// `lsm_open` too) is the caller's bug; `lsm_open` does not keep them.
#[no_mangle]
pub unsafe extern "C" fn lsm_options_free(o: *mut lsm_options) {
    let _ = guard(|| {
        if !o.is_null() {
            // SAFETY: o came from lsm_options_new and is freed once (contract).
            drop(unsafe { Box::from_raw(o) });
        }
        Ok(())
    });
}

/// The options behind a `const lsm_options *` that may be NULL (the defaults).
///
/// # Safety
/// `o` is NULL or a live options object.
pub(crate) unsafe fn config_for(o: *const lsm_options, root: &Path) -> Outcome<Config> {
    if o.is_null() {
        return Ok(Config::with_root(root));
    }
    // SAFETY: non-NULL, live by the caller's contract.
    unsafe { handle(o, "options") }?.config(root)
}
