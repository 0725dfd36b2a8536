//! Merge operators written in C: a callback pair with user state and a destructor,
//! wrapped as a [`MergeOperator`].

use super::boundary::{handle_mut, lsm_status, status, text, Failure};
use super::options::lsm_options;
use crate::merge::MergeOperator;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// Folds `n` operands (`operands[i]`, `operand_lens[i]` bytes, oldest first) onto the
/// existing value (`existing`, `existing_len` bytes; `has_existing` 0 when the key has
/// none). On success it returns 1 and sets `*out` to a buffer from `malloc` holding
/// `*out_len` bytes, which the library frees with `free`; 0 means the operands cannot
/// be applied (a read of the key then fails with `LSM_INVALID_ARGUMENT`, compaction
/// keeps them). Called from any thread, also several at once.
pub type lsm_full_merge_fn = Option<
    unsafe extern "C" fn(
        state: *mut c_void,
        key: *const u8,
        klen: usize,
        existing: *const u8,
        existing_len: usize,
        has_existing: c_int,
        operands: *const *const u8,
        operand_lens: *const usize,
        n: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> c_int,
>;

/// Combines `n >= 2` operands (oldest first) into one, as `lsm_full_merge_fn` returns
/// a value: 1 and a `malloc`ed `*out`, or 0 when they do not combine without the value
/// under them.
pub type lsm_partial_merge_fn = Option<
    unsafe extern "C" fn(
        state: *mut c_void,
        key: *const u8,
        klen: usize,
        operands: *const *const u8,
        operand_lens: *const usize,
        n: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> c_int,
>;

/// Frees the user state of an operator, once, when no database uses it any more.
pub type lsm_destroy_fn = Option<unsafe extern "C" fn(state: *mut c_void)>;

struct COperator {
    name: String,
    full: unsafe extern "C" fn(
        *mut c_void,
        *const u8,
        usize,
        *const u8,
        usize,
        c_int,
        *const *const u8,
        *const usize,
        usize,
        *mut *mut u8,
        *mut usize,
    ) -> c_int,
    partial: lsm_partial_merge_fn,
    state: *mut c_void,
    destroy: lsm_destroy_fn,
}

// SAFETY: the contract of lsm_options_set_merge_operator: the callbacks may be called
// from any thread, also at once, with `state` (the caller makes that safe), and
// `destroy` may run on any thread.
unsafe impl Send for COperator {}
// SAFETY: as for Send; the struct itself is never mutated after creation.
unsafe impl Sync for COperator {}

impl Drop for COperator {
    fn drop(&mut self) {
        if let Some(d) = self.destroy {
            // SAFETY: the last reference to the operator is gone: no callback runs
            // any more, and destroy runs once with the state it was given.
            unsafe { d(self.state) };
        }
    }
}

/// Takes a callback's result: a `malloc`ed buffer of `len` bytes, copied and freed.
///
/// # Safety
/// `out` is NULL or a `malloc`ed buffer of at least `len` bytes, owned by the caller.
pub(super) unsafe fn take_result(out: *mut u8, len: usize) -> Option<Vec<u8>> {
    if out.is_null() {
        // Success with no buffer: only an empty value can be meant.
        return (len == 0).then(Vec::new);
    }
    // SAFETY: out holds len bytes (the callback's contract).
    let v = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
    // SAFETY: malloc'ed by the callback, freed once here.
    unsafe { libc::free(out.cast()) };
    Some(v)
}

impl MergeOperator for COperator {
    fn name(&self) -> &str {
        &self.name
    }

    fn full_merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Option<Vec<u8>> {
        let (e, elen) = existing.map_or((std::ptr::null(), 0), |e| (e.as_ptr(), e.len()));
        call_with_operands(operands, |ops, lens, n, out, out_len| {
            // SAFETY: key, existing and the operand arrays are valid for their lengths
            // for the call; out and out_len are valid for writes; the callback's own
            // safety is the caller's contract.
            unsafe {
                (self.full)(
                    self.state,
                    key.as_ptr(),
                    key.len(),
                    e,
                    elen,
                    c_int::from(existing.is_some()),
                    ops,
                    lens,
                    n,
                    out,
                    out_len,
                )
            }
        })
    }

    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        let partial = self.partial?;
        call_with_operands(operands, |ops, lens, n, out, out_len| {
            // SAFETY: as in full_merge.
            unsafe {
                partial(
                    self.state,
                    key.as_ptr(),
                    key.len(),
                    ops,
                    lens,
                    n,
                    out,
                    out_len,
                )
            }
        })
    }
}

/// Calls a callback that answers through `(out, out_len)` with a `malloc`ed buffer,
/// handing it `operands` as arrays of pointers and lengths; the buffer's bytes when
/// it returned nonzero, `None` when it returned 0.
fn call_with_operands(
    operands: &[&[u8]],
    call: impl FnOnce(*const *const u8, *const usize, usize, *mut *mut u8, *mut usize) -> c_int,
) -> Option<Vec<u8>> {
    let ptrs: Vec<*const u8> = operands.iter().map(|o| o.as_ptr()).collect();
    let lens: Vec<usize> = operands.iter().map(|o| o.len()).collect();
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut out_len = 0usize;
    let ok = call(
        ptrs.as_ptr(),
        lens.as_ptr(),
        ptrs.len(),
        &mut out,
        &mut out_len,
    );
    // SAFETY: out is NULL or the callback's malloc'ed buffer of out_len bytes, freed
    // here also when the callback failed.
    let result = unsafe { take_result(out, out_len) };
    result.filter(|_| ok != 0)
}

/// User state handed over to the library: whatever happens next, it is owned, so a
/// failure frees it with its destructor.
pub(super) struct OwnedState(pub *mut c_void, pub lsm_destroy_fn);

impl Drop for OwnedState {
    fn drop(&mut self) {
        if let Some(d) = self.1 {
            // SAFETY: destroy runs once with the state it was given.
            unsafe { d(self.0) };
        }
    }
}

/// Makes the databases opened with `o` merge with a C operator called `name` (the
/// name recorded in the database; it replaces a `merge.operator` set by name).
/// `full_merge` is required; `partial_merge` and `destroy` may be NULL. `state` is
/// passed to every callback, which may run on any thread, several at once; `destroy`
/// frees it once no options or database use the operator any more (also when this
/// call fails). NULL `o`, `name` or `full_merge` is `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_options_set_merge_operator(
    o: *mut lsm_options,
    name: *const c_char,
    full_merge: lsm_full_merge_fn,
    partial_merge: lsm_partial_merge_fn,
    state: *mut c_void,
    destroy: lsm_destroy_fn,
) -> lsm_status {
    let owned = OwnedState(state, destroy);
    status(move || {
        // SAFETY: o is NULL or a live options object used by this thread alone.
        let o = unsafe { handle_mut(o, "options") }?;
        // SAFETY: name is NULL or a NUL-terminated string.
        let name = unsafe { text(name, "name") }?;
        if name.is_empty() {
            return Err(Failure::invalid("the merge operator's name is empty"));
        }
        let full = full_merge.ok_or_else(|| Failure::invalid("full_merge is NULL"))?;
        let owned = std::mem::ManuallyDrop::new(owned);
        let op = COperator {
            name: name.to_owned(),
            full,
            partial: partial_merge,
            state: owned.0,
            destroy: owned.1,
        };
        o.set_merge_operator(Arc::new(op));
        Ok(())
    })
}
