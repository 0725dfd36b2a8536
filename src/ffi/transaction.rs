//! `lsm_transaction`: a [`Transaction`], optimistic and serializable.

use super::boundary::lsm_status;
use super::boundary::{bytes, handle, out, status, Failure, Outcome};
use super::db::{db, lsm_db, value_out};
use super::gate::{free_gated, Gate};
use crate::Transaction;
use parking_lot::Mutex;
use std::ptr::null_mut;

/// An optimistic transaction: reads see the database as it was at
/// `lsm_transaction_begin`, plus the transaction's own writes; writes are buffered
/// until `lsm_transaction_commit`. Meant for one thread at a time (calls from two
/// threads are serialised, never unsafe). It holds the engine, not the `lsm_db`: after
/// `lsm_close` its calls return `LSM_CLOSED`, and it must still be freed with
/// `lsm_transaction_free`.
pub struct lsm_transaction {
    /// `None` once committed (or once the commit failed): the transaction is over.
    tx: Mutex<Option<Transaction>>,
    gate: Gate,
}

/// Runs `f` on the live transaction behind `t`.
///
/// # Safety
/// `t` is NULL or a live transaction.
pub(super) unsafe fn with_tx<T>(
    t: *const lsm_transaction,
    f: impl FnOnce(&mut Option<Transaction>) -> Outcome<T>,
) -> Outcome<T> {
    // SAFETY: forwarded from the caller; lsm_transaction_free frees it only after
    // every pass is returned.
    let h = unsafe { handle(t, "transaction") }?;
    let pass = h.gate.enter(&h.tx, "transaction")?;
    let mut slot = pass.lock();
    f(&mut slot)
}

pub(super) fn live(slot: &mut Option<Transaction>) -> Outcome<&mut Transaction> {
    slot.as_mut().ok_or_else(|| {
        Failure::invalid("the transaction is over (it was committed, or its commit failed)")
    })
}

/// Begins a transaction on `db` and stores it in `*out` (NULL on failure).
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_begin(
    db: *mut lsm_db,
    out: *mut *mut lsm_transaction,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let tx = unsafe { self::db(db) }?.transaction();
        out.write(Box::into_raw(Box::new(lsm_transaction {
            tx: Mutex::new(Some(tx)),
            gate: Gate::default(),
        })));
        Ok(())
    })
}

/// As `lsm_get`, in the transaction: its own write of `k` if it made one, otherwise
/// the value at its start. The key joins the transaction's read set.
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_get(
    t: *mut lsm_transaction,
    k: *const u8,
    kl: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: byte range per the contract.
            let k = unsafe { bytes(k, kl, "k") }?;
            // SAFETY: handle per the contract.
            unsafe { with_tx(t, |slot| Ok(live(slot)?.get(k)?)) }
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// Buffers a put of `k` = `v` in the transaction.
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_put(
    t: *mut lsm_transaction,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte ranges per the contract.
        let (k, v) = unsafe { (bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        // SAFETY: handle per the contract.
        unsafe {
            with_tx(t, |slot| {
                live(slot)?.put(k, v);
                Ok(())
            })
        }
    })
}

/// Buffers a delete of `k` in the transaction.
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_delete(
    t: *mut lsm_transaction,
    k: *const u8,
    kl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte range per the contract.
        let k = unsafe { bytes(k, kl, "k") }?;
        // SAFETY: handle per the contract.
        unsafe {
            with_tx(t, |slot| {
                live(slot)?.delete(k);
                Ok(())
            })
        }
    })
}

/// Commits the transaction: every buffered write as one atomic batch, or, when
/// something it read was written by another commit after it began, nothing, with
/// `LSM_CONFLICT` (begin a new transaction and run it again). Either way the
/// transaction is over: later calls on it are `LSM_INVALID_ARGUMENT`; free it with
/// `lsm_transaction_free`.
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_commit(t: *mut lsm_transaction) -> lsm_status {
    status(|| {
        // SAFETY: handle per the contract.
        unsafe {
            with_tx(t, |slot| {
                live(slot)?;
                let tx = slot
                    .take()
                    .ok_or_else(|| Failure::invalid("no transaction"))?;
                Ok(tx.commit()?)
            })
        }
    })
}

/// Frees a transaction; uncommitted writes are discarded. NULL is a no-op. Calls on
/// `t` running in other threads are waited for; freeing it twice is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_free(t: *mut lsm_transaction) {
    // SAFETY: t is NULL or came from lsm_transaction_begin and is not freed yet
    // (contract).
    unsafe { free_gated(t, "transaction", |h| &h.gate) }
}
