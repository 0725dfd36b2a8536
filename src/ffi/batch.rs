//! `lsm_write_batch`: a [`WriteBatch`], applied atomically by `lsm_write`.

use super::boundary::lsm_status;
use super::boundary::{bytes, guard, handle, handle_mut, status};
use super::db::{db, lsm_db};
use crate::WriteBatch;

/// Writes applied together or not at all by `lsm_write`. Used by one thread at a
/// time; free with `lsm_write_batch_free`.
pub struct lsm_write_batch {
    batch: WriteBatch,
}

/// A new, empty batch. NULL only if the library failed internally.
#[no_mangle]
pub extern "C" fn lsm_write_batch_new() -> *mut lsm_write_batch {
    guard(|| {
        Ok(Box::into_raw(Box::new(lsm_write_batch {
            batch: WriteBatch::new(),
        })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Adds `k = v` to the batch (sizes are checked by `lsm_write`).
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_put(
    b: *mut lsm_write_batch,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (b, k, v) = unsafe {
            (
                handle_mut(b, "batch")?,
                bytes(k, kl, "k")?,
                bytes(v, vl, "v")?,
            )
        };
        b.batch.put(k, v);
        Ok(())
    })
}

/// Adds a deletion of `k` to the batch.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_delete(
    b: *mut lsm_write_batch,
    k: *const u8,
    kl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte range per the contract.
        let (b, k) = unsafe { (handle_mut(b, "batch")?, bytes(k, kl, "k")?) };
        b.batch.delete(k);
        Ok(())
    })
}

/// Removes every operation from the batch, for reuse. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_clear(b: *mut lsm_write_batch) {
    let _ = guard(|| {
        // SAFETY: handle per the contract.
        unsafe { handle_mut(b, "batch") }?.batch.clear();
        Ok(())
    });
}

/// Frees a batch. NULL is a no-op. Freeing a batch that another thread is using (in
/// `lsm_write` too) is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_free(b: *mut lsm_write_batch) {
    let _ = guard(|| {
        if !b.is_null() {
            // SAFETY: b came from lsm_write_batch_new and is freed once (contract).
            drop(unsafe { Box::from_raw(b) });
        }
        Ok(())
    });
}

/// Applies the batch atomically: all of it or none of it, also across a crash. The
/// batch is unchanged and may be written again or cleared.
#[no_mangle]
pub unsafe extern "C" fn lsm_write(db: *mut lsm_db, b: *const lsm_write_batch) -> lsm_status {
    status(|| {
        // SAFETY: handles per the contract.
        let (db, b) = unsafe { (self::db(db)?, handle(b, "batch")?) };
        Ok(db.write(b.batch.clone())?)
    })
}
