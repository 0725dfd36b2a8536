//! `lsm_pinned`: a value read without a copy (a [`crate::PinnedValue`]), and the
//! batched lookup `lsm_multi_get`, whose values are pinned too.
//!
//! A pinned value owns a reference to the memory holding its bytes (a memtable, a
//! block), so it stays valid after the database's later writes, flushes, compactions
//! and even `lsm_close`, until `lsm_pinned_free`. Holding one keeps that memory
//! allocated: free it soon.

use super::boundary::lsm_status::{self, LSM_NOT_FOUND};
use super::boundary::{bytes, guard, handle, out, slice, status, Failure, Outcome};
use super::db::db;
use super::keyspace::{keyspace, lsm_keyspace};
use crate::PinnedValue;
use std::ptr::{null, null_mut};

/// A value borrowed from the database's memory. Read it with `lsm_pinned_value`, free
/// it with `lsm_pinned_free`. May be read by many threads at once.
pub struct lsm_pinned {
    value: PinnedValue,
}

fn boxed(v: PinnedValue) -> *mut lsm_pinned {
    Box::into_raw(Box::new(lsm_pinned { value: v }))
}

/// Writes the found value into `*out` (NULL first, and NULL when missing).
///
/// # Safety
/// `out` is NULL or writable (the module's contract).
unsafe fn pinned_out(
    out_: *mut *mut lsm_pinned,
    lookup: impl FnOnce() -> Outcome<Option<PinnedValue>>,
) -> Outcome {
    // SAFETY: out-pointer per the contract.
    let o = unsafe { out(out_, "out") }?;
    o.write(null_mut());
    match lookup()? {
        Some(v) => {
            o.write(boxed(v));
            Ok(())
        }
        None => Err(Failure::new(LSM_NOT_FOUND, "not found")),
    }
}

/// Looks `key` up without copying its value: `*out` is a pinned value to read with
/// `lsm_pinned_value` and free with `lsm_pinned_free`. A missing key is
/// `LSM_NOT_FOUND` with `*out` NULL.
#[no_mangle]
pub unsafe extern "C" fn lsm_get_pinned(
    db: *mut super::db::lsm_db,
    key: *const u8,
    klen: usize,
    out: *mut *mut lsm_pinned,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and byte range per the contract.
            let (db, key) = unsafe { (self::db(db)?, bytes(key, klen, "key")?) };
            Ok(db.get_pinned(key)?)
        };
        // SAFETY: out-pointer per the contract.
        unsafe { pinned_out(out, lookup) }
    })
}

/// As `lsm_get_pinned`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_get_pinned_ks(
    ks: *mut lsm_keyspace,
    key: *const u8,
    klen: usize,
    out: *mut *mut lsm_pinned,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and byte range per the contract.
            let (ks, key) = unsafe { (keyspace(ks)?, bytes(key, klen, "key")?) };
            Ok(ks.get_pinned(key)?)
        };
        // SAFETY: out-pointer per the contract.
        unsafe { pinned_out(out, lookup) }
    })
}

/// The bytes of `p` (`*len` of them), valid until `lsm_pinned_free(p)`. NULL `p` gives
/// NULL with `*len` 0; an empty value is a non-NULL pointer with `*len` 0. `len` must
/// not be NULL.
#[no_mangle]
pub unsafe extern "C" fn lsm_pinned_value(p: *const lsm_pinned, len: *mut usize) -> *const u8 {
    guard(|| {
        // SAFETY: out-pointer and handle per the contract.
        let (len, p) = unsafe { (out(len, "len")?, handle(p, "pinned")) };
        len.write(0);
        let v: &[u8] = &p?.value;
        len.write(v.len());
        // A non-NULL pointer even for an empty value (a dangling, aligned one).
        Ok(v.as_ptr())
    })
    .unwrap_or(null())
}

/// Frees a pinned value, releasing the memory it held. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lsm_pinned_free(p: *mut lsm_pinned) {
    let _ = guard(|| {
        if !p.is_null() {
            // SAFETY: p came from this library and is freed once (contract).
            drop(unsafe { Box::from_raw(p) });
        }
        Ok(())
    });
}

/// The `n` keys of a multi-get, checked.
///
/// # Safety
/// `keys` and `klens` are NULL or point to `n` readable elements, each key a byte
/// range per the contract (the module's contract).
unsafe fn key_list<'a>(
    n: usize,
    keys: *const *const u8,
    klens: *const usize,
) -> Outcome<Vec<&'a [u8]>> {
    // SAFETY: n readable elements each, per the contract (NULL is checked).
    let (ptrs, lens) = unsafe { (slice(keys, n, "keys")?, slice(klens, n, "klens")?) };
    ptrs.iter()
        .zip(lens)
        .enumerate()
        .map(|(i, (&p, &l))| {
            // SAFETY: each key is a byte range per the contract.
            unsafe { bytes(p, l, "key") }
                .map_err(|f| Failure::invalid(format!("keys[{i}]: {}", f.message)))
        })
        .collect()
}

/// Writes `found` into `values[0..n]` (every slot NULL first, so a failure leaves
/// only NULLs).
///
/// # Safety
/// `values` is NULL or points to `n` writable slots.
unsafe fn values_out(
    n: usize,
    values: *mut *mut lsm_pinned,
    lookup: impl FnOnce() -> Outcome<Vec<Option<PinnedValue>>>,
) -> Outcome {
    if n == 0 {
        return Ok(());
    }
    if values.is_null() {
        return Err(Failure::invalid(format!("values is NULL with n = {n}")));
    }
    for i in 0..n {
        // SAFETY: values has n writable slots (contract); i < n.
        unsafe { values.add(i).write(null_mut()) };
    }
    let found = lookup()?;
    for (i, v) in found.into_iter().enumerate().take(n) {
        if let Some(v) = v {
            // SAFETY: as above.
            unsafe { values.add(i).write(boxed(v)) };
        }
    }
    Ok(())
}

/// Looks up `n` keys (`keys[i]`, `klens[i]` bytes) at one point in time, probing them
/// in sorted order under one view: faster than `n` calls of `lsm_get`. `values[i]`
/// receives the pinned value of `keys[i]`, or NULL when it is missing; free each
/// non-NULL one with `lsm_pinned_free`. `values` must have room for `n` pointers. On
/// failure every `values[i]` is NULL. `n` 0 is `LSM_OK` with nothing read.
#[no_mangle]
pub unsafe extern "C" fn lsm_multi_get(
    db: *mut super::db::lsm_db,
    n: usize,
    keys: *const *const u8,
    klens: *const usize,
    values: *mut *mut lsm_pinned,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and arrays per the contract.
            let (db, keys) = unsafe { (self::db(db)?, key_list(n, keys, klens)?) };
            Ok(db.multi_get_pinned(&keys)?)
        };
        // SAFETY: values has room for n pointers (contract).
        unsafe { values_out(n, values, lookup) }
    })
}

/// As `lsm_multi_get`, in keyspace `ks`.
#[no_mangle]
pub unsafe extern "C" fn lsm_multi_get_ks(
    ks: *mut lsm_keyspace,
    n: usize,
    keys: *const *const u8,
    klens: *const usize,
    values: *mut *mut lsm_pinned,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and arrays per the contract.
            let (ks, keys) = unsafe { (keyspace(ks)?, key_list(n, keys, klens)?) };
            Ok(ks.multi_get_pinned(&keys)?)
        };
        // SAFETY: values has room for n pointers (contract).
        unsafe { values_out(n, values, lookup) }
    })
}
