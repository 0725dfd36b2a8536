//! `lsm_snapshot`: a [`Snapshot`], a consistent read-only view.

use super::boundary::lsm_status;
use super::boundary::{bytes, handle, out, status, Outcome};
use super::db::{db, lsm_db, value_out};
use super::gate::{free_gated, Gate, Pass};
use crate::Snapshot;
use std::ptr::null_mut;

/// A consistent read-only view of the database as it was when taken. May be read by
/// many threads at once. It keeps the data it needs alive (it holds the engine,
/// reference-counted, not the `lsm_db`): after `lsm_close` of its database it is still
/// safe to use (reads return `LSM_CLOSED`) and must still be freed with
/// `lsm_snapshot_free`.
pub struct lsm_snapshot {
    snap: Snapshot,
    /// Passed by every call, so `lsm_snapshot_free` can wait for the calls running.
    gate: Gate,
}

/// The snapshot behind a handle, held until the pass is dropped; `LSM_CLOSED` once
/// `lsm_snapshot_free` began.
///
/// # Safety
/// `s` is NULL or a live snapshot.
pub(crate) unsafe fn snapshot<'a>(s: *const lsm_snapshot) -> Outcome<Pass<'a, Snapshot>> {
    // SAFETY: forwarded from the caller; lsm_snapshot_free frees it only after every
    // pass is returned.
    let h = unsafe { handle(s, "snapshot") }?;
    h.gate.enter(&h.snap, "snapshot")
}

/// Takes a snapshot of the database as it is now and stores it in `*out` (NULL on
/// failure).
#[no_mangle]
pub unsafe extern "C" fn lsm_snapshot_new(
    db: *mut lsm_db,
    out: *mut *mut lsm_snapshot,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let snap = unsafe { self::db(db) }?.snapshot();
        out.write(Box::into_raw(Box::new(lsm_snapshot {
            snap,
            gate: Gate::default(),
        })));
        Ok(())
    })
}

/// As `lsm_get`, reading the snapshot's view.
#[no_mangle]
pub unsafe extern "C" fn lsm_snapshot_get(
    s: *const lsm_snapshot,
    k: *const u8,
    kl: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and byte range per the contract.
            let (s, k) = unsafe { (snapshot(s)?, bytes(k, kl, "k")?) };
            Ok(s.get(k)?)
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// Frees a snapshot (before or after `lsm_close`). Iterators made from it stay
/// valid. NULL is a no-op.
///
/// Threads: as `lsm_close`: calls on `s` (`lsm_snapshot_get`, `lsm_iter_new`) running
/// in other threads are waited for; starting one at the same time as or after
/// `lsm_snapshot_free`, or freeing `s` twice, is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lsm_snapshot_free(s: *mut lsm_snapshot) {
    // SAFETY: s is NULL or came from lsm_snapshot_new and is not freed yet (contract).
    unsafe { free_gated(s, "snapshot", |h| &h.gate) }
}
