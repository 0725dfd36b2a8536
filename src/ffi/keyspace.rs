//! `lsm_keyspace`: a [`Keyspace`], and the `_ks` forms of the calls of the other
//! handles (put, get, delete, batches, iterators, snapshots, transactions).

use super::batch::lsm_write_batch;
use super::boundary::lsm_status;
use super::boundary::{
    bytes, handle, handle_mut, malloc_copy, out, status, text, Failure, Outcome,
};
use super::db::{db, lsm_db, value_out};
use super::gate::{free_gated, Gate, Pass};
use super::iter::lsm_iterator;
use super::options::lsm_options;
use super::snapshot::{lsm_snapshot, snapshot};
use super::transaction::{live, lsm_transaction, with_tx};
use crate::db::DbInner;
use crate::{Keyspace, LsmError};
use std::ffi::c_char;
use std::ptr::null_mut;
use std::sync::Arc;

/// A keyspace of a database (`lsm_keyspace_open`): a named key space with its own
/// options, sharing the database's WAL, so batches and transactions across keyspaces
/// are atomic and a snapshot sees all of them at one point. May be used by many
/// threads at once. It holds the engine, not the `lsm_db`: after `lsm_close` its calls
/// return `LSM_CLOSED`, and after `lsm_keyspace_drop` of its name
/// `LSM_INVALID_ARGUMENT`; either way it must still be freed with `lsm_keyspace_free`.
pub struct lsm_keyspace {
    ks: Keyspace,
    /// Passed by every call, so `lsm_keyspace_free` can wait for the calls running.
    gate: Gate,
}

/// The keyspace behind a handle, checked usable: `LSM_CLOSED` once its database is
/// closed (or `lsm_keyspace_free` began), `LSM_INVALID_ARGUMENT` once it was dropped.
///
/// # Safety
/// `k` is NULL or a live keyspace handle.
pub(crate) unsafe fn keyspace<'a>(k: *const lsm_keyspace) -> Outcome<Pass<'a, Keyspace>> {
    // SAFETY: forwarded from the caller; lsm_keyspace_free frees it only after every
    // pass is returned.
    let h = unsafe { handle(k, "keyspace") }?;
    let ks = h.gate.enter(&h.ks, "keyspace")?;
    if ks.db().engine().is_closed() {
        return Err(LsmError::Closed.into());
    }
    ks.tree().check_live()?;
    Ok(ks)
}

/// `LSM_INVALID_ARGUMENT` unless keyspace `ks` belongs to the database of `engine`
/// (`what` names the other handle).
fn same_db(ks: &Keyspace, engine: &Arc<DbInner>, what: &str) -> Outcome {
    if Arc::ptr_eq(ks.db().engine(), engine) {
        Ok(())
    } else {
        Err(Failure::invalid(format!(
            "keyspace {:?} belongs to another database than the {what}",
            ks.name()
        )))
    }
}

/// Opens the keyspace `name` of `db`, creating it if it does not exist, and stores
/// its handle in `*out` (NULL on failure); free it with `lsm_keyspace_free`.
///
/// Names are 1 to 64 bytes of `A-Z a-z 0-9 _ . -`; anything else (NULL, "", a space,
/// 65 bytes, not UTF-8) is `LSM_INVALID_ARGUMENT`. "default" is the keyspace that the
/// calls without `_ks` use.
///
/// Options: `o` NULL creates the keyspace with the database's options. Otherwise the
/// keys set on `o` with `lsm_options_set`, and only those, apply over the database's
/// (a file read by `lsm_options_load` does not: it holds database options); each must
/// be a per-keyspace key (`memtable.*`, `sstable.*` and the level-shape
/// `compaction.*` keys), else `LSM_CONFIG_ERROR` naming it. A keyspace keeps the
/// options it was created with, also across reopen: opening an existing one with `o`
/// setting other options is `LSM_INVALID_ARGUMENT` (NULL, or `o` with no sets, opens it
/// as it is).
#[no_mangle]
pub unsafe extern "C" fn lsm_keyspace_open(
    db: *mut lsm_db,
    name: *const c_char,
    o: *const lsm_options,
    out: *mut *mut lsm_keyspace,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle and string per the contract.
        let (db, name) = unsafe { (self::db(db)?, text(name, "name")?) };
        let ks = if o.is_null() {
            db.keyspace(name)?
        } else {
            // SAFETY: o is a live options object (contract).
            let o = unsafe { handle(o, "options") }?;
            db.keyspace_with(name, |ko| {
                for (k, v) in o.sets() {
                    ko.set(k, v)?;
                }
                Ok(())
            })?
        };
        out.write(Box::into_raw(Box::new(lsm_keyspace {
            ks,
            gate: Gate::default(),
        })));
        Ok(())
    })
}

/// Frees a keyspace handle (before or after `lsm_close`, before or after a drop); the
/// keyspace and its data stay. NULL is a no-op. Calls on `ks` running in other threads
/// are waited for; starting one at the same time as or after this, or freeing `ks`
/// twice, is the caller's bug.
#[no_mangle]
pub unsafe extern "C" fn lsm_keyspace_free(ks: *mut lsm_keyspace) {
    // SAFETY: ks is NULL or came from lsm_keyspace_open and is not freed yet
    // (contract).
    unsafe { free_gated(ks, "keyspace", |h| &h.gate) }
}

/// Drops the keyspace `name` and all its data, durably (it does not come back after a
/// crash or a reopen); its files are deleted once no iterator or snapshot needs them.
/// Handles to it stay to be freed, and their calls return `LSM_INVALID_ARGUMENT`.
/// "default", a keyspace that does not exist, or an invalid name is
/// `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_keyspace_drop(db: *mut lsm_db, name: *const c_char) -> lsm_status {
    status(|| {
        // SAFETY: handle and string per the contract.
        let (db, name) = unsafe { (self::db(db)?, text(name, "name")?) };
        Ok(db.drop_keyspace(name)?)
    })
}

/// Stores the names of the keyspaces of `db` in `*names_out`: one NUL-terminated
/// string from malloc, freed with `lsm_free`, the names joined by '\n' (no '\n' at the
/// end; names never contain one), "default" first, then in creation order. E.g.
/// "default\nusers\nlogs". `*names_out` is NULL on failure.
#[no_mangle]
pub unsafe extern "C" fn lsm_keyspaces(db: *mut lsm_db, names_out: *mut *mut c_char) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(names_out, "names_out") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let names = unsafe { self::db(db) }?.keyspaces().join("\n");
        out.write(malloc_copy(names.as_bytes(), true)?.cast());
        Ok(())
    })
}

/// As `lsm_put`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_put_ks(
    ks: *mut lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (ks, k, v) = unsafe { (keyspace(ks)?, bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        Ok(ks.put(k, v)?)
    })
}

/// As `lsm_put_ttl`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_put_ttl_ks(
    ks: *mut lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
    ttl_ms: u64,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (ks, k, v) = unsafe { (keyspace(ks)?, bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        Ok(ks.put_with_ttl(k, v, std::time::Duration::from_millis(ttl_ms))?)
    })
}

/// As `lsm_merge`, in keyspace `ks` (with its merge operator).
#[no_mangle]
pub unsafe extern "C" fn lsm_merge_ks(
    ks: *mut lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (ks, k, v) = unsafe { (keyspace(ks)?, bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        Ok(ks.merge(k, v)?)
    })
}

/// As `lsm_get`, in keyspace `ks`: the value in `*val` (for `lsm_free`) and `*vlen`,
/// or `LSM_NOT_FOUND` with `*val` NULL and `*vlen` 0.
#[no_mangle]
pub unsafe extern "C" fn lsm_get_ks(
    ks: *mut lsm_keyspace,
    k: *const u8,
    kl: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and byte range per the contract.
            let (ks, k) = unsafe { (keyspace(ks)?, bytes(k, kl, "k")?) };
            Ok(ks.get_pinned(k)?)
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// As `lsm_delete`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_delete_ks(
    ks: *mut lsm_keyspace,
    k: *const u8,
    kl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte range per the contract.
        let (ks, k) = unsafe { (keyspace(ks)?, bytes(k, kl, "k")?) };
        Ok(ks.delete(k)?)
    })
}

/// As `lsm_delete_range`, in keyspace `ks`: deletes every key in `[start, end)`.
#[no_mangle]
pub unsafe extern "C" fn lsm_delete_range_ks(
    ks: *mut lsm_keyspace,
    start: *const u8,
    slen: usize,
    end: *const u8,
    elen: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (ks, start, end) = unsafe {
            (
                keyspace(ks)?,
                bytes(start, slen, "start")?,
                bytes(end, elen, "end")?,
            )
        };
        Ok(ks.delete_range(start, end)?)
    })
}

/// Runs `add` on the batch and the keyspace, once the batch is claimed for the
/// keyspace's database (a batch holds one database's keyspaces).
///
/// # Safety
/// `b` and `ks` are NULL or live handles; `b` used by this thread alone.
unsafe fn add_to_batch(
    b: *mut lsm_write_batch,
    ks: *const lsm_keyspace,
    add: impl FnOnce(&mut crate::WriteBatch, &Keyspace),
) -> Outcome {
    // SAFETY: handles per the contract.
    let (b, ks) = unsafe { (handle_mut(b, "batch")?, keyspace(ks)?) };
    b.claim(ks.db().engine())?;
    add(&mut b.batch, &ks);
    Ok(())
}

/// As `lsm_write_batch_put`, in keyspace `ks`. One batch may hold operations on any
/// keyspaces of one database (another database's is `LSM_INVALID_ARGUMENT`), applied
/// atomically by `lsm_write`.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_put_ks(
    b: *mut lsm_write_batch,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte ranges per the contract.
        let (k, v) = unsafe { (bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        // SAFETY: handles per the contract.
        unsafe {
            add_to_batch(b, ks, |b, ks| {
                b.put_in(ks, k, v);
            })
        }
    })
}

/// As `lsm_write_batch_merge`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_merge_ks(
    b: *mut lsm_write_batch,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte ranges per the contract.
        let (k, v) = unsafe { (bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        // SAFETY: handles per the contract.
        unsafe {
            add_to_batch(b, ks, |b, ks| {
                b.merge_in(ks, k, v);
            })
        }
    })
}

/// As `lsm_write_batch_delete`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_delete_ks(
    b: *mut lsm_write_batch,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte range per the contract.
        let k = unsafe { bytes(k, kl, "k") }?;
        // SAFETY: handles per the contract.
        unsafe {
            add_to_batch(b, ks, |b, ks| {
                b.delete_in(ks, k);
            })
        }
    })
}

/// Adds a deletion of every key in `[start, end)` of keyspace `ks` to the batch. A
/// start after the end is `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_write_batch_delete_range_ks(
    b: *mut lsm_write_batch,
    ks: *const lsm_keyspace,
    start: *const u8,
    slen: usize,
    end: *const u8,
    elen: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte ranges per the contract.
        let (start, end) = unsafe { (bytes(start, slen, "start")?, bytes(end, elen, "end")?) };
        if start > end {
            return Err(Failure::invalid("delete_range: start is after end"));
        }
        // SAFETY: handles per the contract.
        unsafe {
            add_to_batch(b, ks, |b, ks| {
                b.delete_range_in(ks, start, end);
            })
        }
    })
}

/// As `lsm_iter_new`, over keyspace `ks` of `db`: its keys as they are now (`s`
/// NULL) or in snapshot `s`, and stores the iterator in `*out` (NULL on failure).
/// `ks` and `s` must be of `db` (else `LSM_INVALID_ARGUMENT`). The iterator outlives
/// `db`, `ks` and `s`, and goes on reading what it saw if the keyspace is dropped.
#[no_mangle]
pub unsafe extern "C" fn lsm_iter_new_ks(
    db: *mut lsm_db,
    ks: *const lsm_keyspace,
    s: *const lsm_snapshot,
    out: *mut *mut lsm_iterator,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handles per the contract.
        let (db, ks) = unsafe { (self::db(db)?, keyspace(ks)?) };
        same_db(&ks, db.engine(), "db")?;
        let it = if s.is_null() {
            ks.raw_iter()
        } else {
            // SAFETY: s is a live snapshot (contract).
            let s = unsafe { snapshot(s) }?;
            same_db(&ks, s.engine(), "snapshot")?;
            s.raw_iter_in(&ks)
        };
        out.write(lsm_iterator::boxed(it));
        Ok(())
    })
}

/// As `lsm_snapshot_get`, in keyspace `ks` (of the snapshot's database).
#[no_mangle]
pub unsafe extern "C" fn lsm_snapshot_get_ks(
    s: *const lsm_snapshot,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handles and byte range per the contract.
            let (s, ks, k) = unsafe { (snapshot(s)?, keyspace(ks)?, bytes(k, kl, "k")?) };
            same_db(&ks, s.engine(), "snapshot")?;
            Ok(s.get_in(&ks, k)?)
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// Runs `f` on the live transaction behind `t` and the keyspace behind `ks`, once
/// both are checked to be of one database.
///
/// # Safety
/// `t` and `ks` are NULL or live handles.
unsafe fn in_tx<T>(
    t: *mut lsm_transaction,
    ks: *const lsm_keyspace,
    f: impl FnOnce(&mut crate::Transaction, &Keyspace) -> Outcome<T>,
) -> Outcome<T> {
    // SAFETY: handle per the contract.
    let ks = unsafe { keyspace(ks) }?;
    // SAFETY: handle per the contract.
    unsafe {
        with_tx(t, |slot| {
            let tx = live(slot)?;
            same_db(&ks, tx.engine(), "transaction")?;
            f(tx, &ks)
        })
    }
}

/// As `lsm_transaction_get`, in keyspace `ks` (of the transaction's database).
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_get_ks(
    t: *mut lsm_transaction,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: byte range per the contract.
            let k = unsafe { bytes(k, kl, "k") }?;
            // SAFETY: handles per the contract.
            unsafe { in_tx(t, ks, |tx, ks| Ok(tx.get_in(ks, k)?)) }
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// As `lsm_transaction_put`, in keyspace `ks` (of the transaction's database).
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_put_ks(
    t: *mut lsm_transaction,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte ranges per the contract.
        let (k, v) = unsafe { (bytes(k, kl, "k")?, bytes(v, vl, "v")?) };
        // SAFETY: handles per the contract.
        unsafe {
            in_tx(t, ks, |tx, ks| {
                tx.put_in(ks, k, v);
                Ok(())
            })
        }
    })
}

/// As `lsm_transaction_delete`, in keyspace `ks` (of the transaction's database).
#[no_mangle]
pub unsafe extern "C" fn lsm_transaction_delete_ks(
    t: *mut lsm_transaction,
    ks: *const lsm_keyspace,
    k: *const u8,
    kl: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: byte range per the contract.
        let k = unsafe { bytes(k, kl, "k") }?;
        // SAFETY: handles per the contract.
        unsafe {
            in_tx(t, ks, |tx, ks| {
                tx.delete_in(ks, k);
                Ok(())
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_may_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<lsm_keyspace>();
    }
}
