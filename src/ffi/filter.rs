//! Compaction filters written in C: a callback with user state and a destructor,
//! wrapped as a [`CompactionFilter`].

use super::boundary::{handle_mut, lsm_status, status, text, Failure};
use super::options::lsm_options;
use crate::filter::{CompactionFilter, Decision, FilterEntry};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

/// What a compaction filter callback returns.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lsm_filter_decision {
    /// Keep the entry.
    LSM_FILTER_KEEP = 0,
    /// Remove it: the key reads as deleted.
    LSM_FILTER_REMOVE = 1,
    /// Replace its value with `*new_value` (a `malloc`ed buffer of `*new_len` bytes,
    /// which the library frees with `free`).
    LSM_FILTER_REPLACE = 2,
}

/// Decides for an entry a compaction rewrites (of keyspace `keyspace`, written to
/// `level`): returns an `lsm_filter_decision`. `expires_at_ms` is the entry's expiry
/// (ms since the Unix epoch), 0 when it has none; `now_ms` the compaction's time.
/// Only entries no snapshot can see are shown. Called from compaction threads,
/// several at once. Any other return value keeps the entry.
pub type lsm_compaction_filter_fn = Option<
    unsafe extern "C" fn(
        state: *mut c_void,
        keyspace: *const c_char,
        level: c_int,
        key: *const u8,
        klen: usize,
        value: *const u8,
        vlen: usize,
        expires_at_ms: u64,
        now_ms: u64,
        new_value: *mut *mut u8,
        new_len: *mut usize,
    ) -> c_int,
>;

type FilterFn = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    c_int,
    *const u8,
    usize,
    *const u8,
    usize,
    u64,
    u64,
    *mut *mut u8,
    *mut usize,
) -> c_int;

struct CFilter {
    name: String,
    f: FilterFn,
    state: *mut c_void,
    destroy: super::merge::lsm_destroy_fn,
}

// SAFETY: the contract of lsm_options_set_compaction_filter: the callback may run on
// any thread, several at once, and destroy on any thread.
unsafe impl Send for CFilter {}
// SAFETY: as for Send; the struct is never mutated after creation.
unsafe impl Sync for CFilter {}

impl Drop for CFilter {
    fn drop(&mut self) {
        if let Some(d) = self.destroy {
            // SAFETY: the last reference is gone: no callback runs any more, and
            // destroy runs once with its state.
            unsafe { d(self.state) };
        }
    }
}

impl CompactionFilter for CFilter {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self, e: &FilterEntry<'_>) -> Decision {
        // Keyspace names are [A-Za-z0-9_.-], never holding a NUL.
        let Ok(ks) = CString::new(e.keyspace) else {
            return Decision::Keep;
        };
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut out_len = 0usize;
        // SAFETY: every pointer is valid for its length during the call; out and
        // out_len are valid for writes; the callback's own safety is the caller's.
        let d = unsafe {
            (self.f)(
                self.state,
                ks.as_ptr(),
                c_int::try_from(e.level).unwrap_or(c_int::MAX),
                e.key.as_ptr(),
                e.key.len(),
                e.value.as_ptr(),
                e.value.len(),
                e.expires_at_ms.unwrap_or(0),
                e.now_ms,
                &mut out,
                &mut out_len,
            )
        };
        // SAFETY: out is NULL or the callback's malloc'ed buffer of out_len bytes.
        let replacement = unsafe { super::merge::take_result(out, out_len) };
        const REMOVE: c_int = lsm_filter_decision::LSM_FILTER_REMOVE as c_int;
        const REPLACE: c_int = lsm_filter_decision::LSM_FILTER_REPLACE as c_int;
        const KEEP: c_int = lsm_filter_decision::LSM_FILTER_KEEP as c_int;
        match (d, replacement) {
            (REMOVE, _) => Decision::Remove,
            (REPLACE, Some(v)) => Decision::Replace(v),
            (KEEP, _) => Decision::Keep,
            // A replacement without a value, or no decision at all: kept.
            _ => Decision::Keep,
        }
    }
}

/// Adds a compaction filter (after those added before) to the databases opened with
/// `o`: `filter` sees each entry no snapshot can see as compactions rewrite it.
/// `state` goes to every call; `destroy` (may be NULL) frees it once nothing uses
/// the filter (also when this call fails). NULL `o`, `name` or `filter` is
/// `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_options_set_compaction_filter(
    o: *mut lsm_options,
    name: *const c_char,
    filter: lsm_compaction_filter_fn,
    state: *mut c_void,
    destroy: super::merge::lsm_destroy_fn,
) -> lsm_status {
    let owned = super::merge::OwnedState(state, destroy);
    status(move || {
        // SAFETY: o is NULL or a live options object used by this thread alone.
        let o = unsafe { handle_mut(o, "options") }?;
        // SAFETY: name is NULL or a NUL-terminated string.
        let name = unsafe { text(name, "name") }?;
        let f = filter.ok_or_else(|| Failure::invalid("filter is NULL"))?;
        let owned = std::mem::ManuallyDrop::new(owned);
        o.add_compaction_filter(Arc::new(CFilter {
            name: name.to_owned(),
            f,
            state: owned.0,
            destroy: owned.1,
        }));
        Ok(())
    })
}
