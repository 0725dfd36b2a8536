//! `lsm_write_batch`: a [`WriteBatch`], applied atomically by `lsm_write`.

use super::boundary::lsm_status;
use super::boundary::{bytes, guard, handle, handle_mut, status, Failure, Outcome};
use super::db::{db, lsm_db};
use crate::db::DbInner;
use crate::WriteBatch;
use std::sync::{Arc, Weak};

/// Writes applied together or not at all by `lsm_write`. Used by one thread at a
/// time; free with `lsm_write_batch_free`.
pub struct lsm_write_batch {
    pub(super) batch: WriteBatch,
    /// The database of the keyspaces its `_ks` operations name (`None` while there are
    /// none): a batch names keyspaces by id, which means nothing in another database,
    /// so `lsm_write` refuses any other. Weak, so a batch does not keep an engine's
    /// memory; the allocation (and so the address compared) lives while this does.
    pub(super) owner: Option<Weak<DbInner>>,
}

impl lsm_write_batch {
    /// Records that an operation on a keyspace of `engine` is being added;
    /// `LSM_INVALID_ARGUMENT` when the batch already holds another database's.
    pub(super) fn claim(&mut self, engine: &Arc<DbInner>) -> Outcome {
        match &self.owner {
            Some(o) if !std::ptr::eq(o.as_ptr(), Arc::as_ptr(engine)) => Err(Failure::invalid(
                "the batch already holds operations on a keyspace of another database",
            )),
            Some(_) => Ok(()),
            None => {
                self.owner = Some(Arc::downgrade(engine));
                Ok(())
            }
        }
    }
}

/// A new, empty batch. NULL only if the library failed internally.
#[no_mangle]
pub extern "C" fn lsm_write_batch_new() -> *mut lsm_write_batch {
    guard(|| {
        Ok(Box::into_raw(Box::new(lsm_write_batch {
            batch: WriteBatch::new(),
            owner: None,
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

/// Adds `k = v`, expiring `ttl_ms` milliseconds after the batch is written.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_put_ttl(
    b: *mut lsm_write_batch,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
    ttl_ms: u64,
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
        b.batch
            .put_with_ttl(k, v, std::time::Duration::from_millis(ttl_ms));
        Ok(())
    })
}

/// Adds merge operand `v` for `k` to the batch.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_merge(
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
        b.batch.merge(k, v);
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
        let b = unsafe { handle_mut(b, "batch") }?;
        b.batch.clear();
        b.owner = None;
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
/// batch is unchanged and may be written again or cleared. A batch with operations on
/// keyspaces (`lsm_write_batch_put_ks`, ...) is written to their database only (another
/// `db` is `LSM_INVALID_ARGUMENT`); one on a keyspace dropped since is
/// `LSM_INVALID_ARGUMENT`, and nothing is applied.
#[no_mangle]
pub unsafe extern "C" fn lsm_write(db: *mut lsm_db, b: *const lsm_write_batch) -> lsm_status {
    status(|| {
        // SAFETY: handles per the contract.
        let (db, b) = unsafe { (self::db(db)?, handle(b, "batch")?) };
        if let Some(o) = &b.owner {
            if !std::ptr::eq(o.as_ptr(), Arc::as_ptr(db.engine())) {
                return Err(Failure::invalid(
                    "the batch holds operations on a keyspace of another database",
                ));
            }
        }
        Ok(db.write(b.batch.clone())?)
    })
}
