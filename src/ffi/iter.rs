//! `lsm_iterator`: a [`RawIterator`], a cursor moved explicitly.

use super::boundary::lsm_status::{self, LSM_INTERNAL};
use super::boundary::{bytes, guard, handle, handle_mut, out, status, Failure, Outcome};
use super::db::{db, lsm_db};
use super::snapshot::{lsm_snapshot, snapshot};
use crate::RawIterator;
use std::ptr::{null, null_mut};

/// A cursor over a consistent view of the database, fixed when it was made. Used by
/// one thread at a time. It starts unpositioned: call a seek first. After `lsm_close`
/// of its database it is still safe to use: it is not valid and `lsm_iter_status` is
/// `LSM_CLOSED`; free it with `lsm_iter_free`.
pub struct lsm_iterator {
    it: RawIterator,
    /// A failure of a call that returns nothing (a NULL key given to `lsm_iter_seek`):
    /// the iterator is not valid and `lsm_iter_status` reports it until the next seek.
    error: Option<(lsm_status, String)>,
    /// True while the cursor moves: still true afterwards only if the move panicked,
    /// and then the iterator is unusable (`LSM_INTERNAL`).
    moving: bool,
}

/// The empty key or value: a real address for the pointer of a zero-length result.
static EMPTY: [u8; 1] = [0];

impl lsm_iterator {
    /// A new handle for the C caller, to be freed with `lsm_iter_free`.
    pub(super) fn boxed(it: RawIterator) -> *mut lsm_iterator {
        Box::into_raw(Box::new(lsm_iterator {
            it,
            error: None,
            moving: false,
        }))
    }

    fn valid(&self) -> bool {
        self.error.is_none() && !self.moving && self.it.valid()
    }

    /// Moves the cursor with `f`; `seek` clears an earlier argument error.
    fn step(&mut self, seek: bool, f: impl FnOnce(&mut RawIterator) -> Outcome) -> Outcome {
        if self.moving {
            return Err(Failure::new(
                LSM_INTERNAL,
                "the iterator failed in an earlier call",
            ));
        }
        if seek {
            self.error = None;
        } else if let Some((s, m)) = &self.error {
            return Err(Failure::new(*s, m.clone()));
        }
        self.moving = true;
        let r = f(&mut self.it);
        self.moving = false;
        if let Err(e) = &r {
            self.error = Some((e.status, e.message.clone()));
        }
        r
    }

    /// `key` or `value` of the current entry for the C caller.
    fn entry(&self, len: &mut std::mem::MaybeUninit<usize>, key: bool) -> *const u8 {
        if !self.valid() {
            return null();
        }
        let s = if key { self.it.key() } else { self.it.value() };
        len.write(s.len());
        if s.is_empty() {
            EMPTY.as_ptr()
        } else {
            s.as_ptr()
        }
    }
}

/// Makes an iterator over the database as it is now (`s` NULL) or over snapshot
/// `s`, and stores it in `*out` (NULL on failure). The iterator does not need `s` or
/// `db` afterwards: it holds the engine (reference-counted), so it outlives both.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_new(
    db: *mut lsm_db,
    s: *const lsm_snapshot,
    out: *mut *mut lsm_iterator,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let db = unsafe { self::db(db) }?;
        let it = if s.is_null() {
            db.raw_iter()
        } else {
            // SAFETY: s is a live snapshot (contract).
            unsafe { snapshot(s) }?.raw_iter()
        };
        out.write(lsm_iterator::boxed(it));
        Ok(())
    })
}

/// Positions on the first key.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_seek_first(it: *mut lsm_iterator) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(it, "iterator") }?.step(true, |c| {
            c.seek_to_first();
            Ok(())
        })
    });
}

/// Positions on the last key.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_seek_last(it: *mut lsm_iterator) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(it, "iterator") }?.step(true, |c| {
            c.seek_to_last();
            Ok(())
        })
    });
}

/// Positions on the first key >= `k`. A NULL `k` with a non-zero length leaves the
/// iterator not valid, with `LSM_INVALID_ARGUMENT` from `lsm_iter_status`.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_seek(it: *mut lsm_iterator, k: *const u8, kl: usize) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(it, "iterator") }?.step(true, |c| {
            // SAFETY: byte range per the contract.
            c.seek(unsafe { bytes(k, kl, "k") }?);
            Ok(())
        })
    });
}

/// True when positioned on an entry (and the database is open). NULL is false.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_valid(it: *const lsm_iterator) -> bool {
    // SAFETY: handle per the contract.
    guard(|| Ok(unsafe { handle(it, "iterator") }?.valid())).unwrap_or(false)
}

/// Moves to the next key; does nothing when not valid.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_next(it: *mut lsm_iterator) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(it, "iterator") }?.step(false, |c| {
            c.next();
            Ok(())
        })
    });
}

/// Moves to the previous key; does nothing when not valid.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_prev(it: *mut lsm_iterator) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(it, "iterator") }?.step(false, |c| {
            c.prev();
            Ok(())
        })
    });
}

/// The current key, `*len` bytes (not NUL-terminated), valid until the iterator next
/// moves or is freed. When not valid: NULL with `*len` 0. `len` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_key(it: *const lsm_iterator, len: *mut usize) -> *const u8 {
    guard(|| {
        // SAFETY: out-pointer and handle per the contract.
        let (len, it) = unsafe { (out(len, "len")?, handle(it, "iterator")) };
        len.write(0);
        Ok(it?.entry(len, true))
    })
    .unwrap_or(null())
}

/// The current value, as `lsm_iter_key`.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_value(it: *const lsm_iterator, len: *mut usize) -> *const u8 {
    guard(|| {
        // SAFETY: out-pointer and handle per the contract.
        let (len, it) = unsafe { (out(len, "len")?, handle(it, "iterator")) };
        len.write(0);
        Ok(it?.entry(len, false))
    })
    .unwrap_or(null())
}

/// `LSM_OK`, or why the iterator stopped: `LSM_CLOSED` after `lsm_close`, a read
/// error such as `LSM_CORRUPTION`, or a bad argument to an earlier seek. Reaching the
/// end is not an error.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_status(it: *const lsm_iterator) -> lsm_status {
    status(|| {
        // SAFETY: handle per the contract.
        let it = unsafe { handle(it, "iterator") }?;
        if it.moving {
            return Err(Failure::new(
                LSM_INTERNAL,
                "the iterator failed in an earlier call",
            ));
        }
        if let Some((s, m)) = &it.error {
            return Err(Failure::new(*s, m.clone()));
        }
        Ok(it.it.status()?)
    })
}

/// Frees an iterator (before or after `lsm_close`). NULL is a no-op. Like every call
/// on an iterator it must not overlap another call on the same iterator: freeing one
/// that another thread is using is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_free(it: *mut lsm_iterator) {
    let _ = guard(|| {
        if !it.is_null() {
            // SAFETY: it came from lsm_iter_new and is freed once (contract).
            drop(unsafe { Box::from_raw(it) });
        }
        Ok(())
    });
}
