//! `lsm_db`: an open database, an [`Lsm`].

use super::boundary::lsm_status::{self, LSM_BUFFER_TOO_SMALL, LSM_NOT_FOUND};
use super::boundary::{bytes, handle, malloc_copy, out, path, status, text, Failure, Outcome};
use super::gate::{Gate, Pass};
use super::options::{config_for, lsm_options};
use crate::{FileKind, Lsm, LsmError, VerifyReport};
use std::ffi::c_char;
use std::fmt::Write as _;
use std::ptr::null_mut;

/// An open database. May be used by many threads at once. Close it with `lsm_close`.
pub struct lsm_db {
    db: Lsm,
    /// Passed by every call, so `lsm_close` can wait for the calls running.
    gate: Gate,
}

/// The database behind a handle, held until the pass is dropped; `LSM_CLOSED` once
/// `lsm_close` began.
///
/// # Safety
/// `db` is NULL or a live handle from `lsm_open`.
pub(crate) unsafe fn db<'a>(db: *const lsm_db) -> Outcome<Pass<'a, Lsm>> {
    // SAFETY: forwarded from the caller; lsm_db is only ever read through `&`, and
    // lsm_close frees it only after every pass is returned.
    let h = unsafe { handle(db, "db") }?;
    h.gate.enter(&h.db, "database")
}

/// Opens (creating if needed) the database in directory `path` and stores its handle
/// in `*out` (NULL on failure). `o` NULL means the defaults; otherwise its options
/// apply in this order: the loaded config.toml, then `path` as the database directory
/// (`path` wins over the file's [directory] root, wal, ss_table and cache), then each
/// `lsm_options_set` (a set of `directory.*` wins over `path`). `o` stays owned by the
/// caller. A database open in another handle or process is `LSM_LOCKED`.
#[no_mangle]
pub unsafe extern "C" fn lsm_open(
    path: *const c_char,
    o: *const lsm_options,
    out: *mut *mut lsm_db,
) -> lsm_status {
    status(|| {
        // SAFETY: out is NULL or writable.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: path is NULL or NUL-terminated.
        let root = unsafe { self::path(path, "path") }?;
        // SAFETY: o is NULL or live options.
        let config = unsafe { config_for(o, &root) }?;
        let db = Lsm::open_with_config(config)?;
        out.write(Box::into_raw(Box::new(lsm_db {
            db,
            gate: Gate::default(),
        })));
        Ok(())
    })
}

/// Closes the database: flushes the memtable, stops background work, releases the
/// lock, and frees `db` whatever the result. NULL is a no-op returning `LSM_OK`.
///
/// Threads: calls on `db` already running in other threads when `lsm_close` is
/// called are waited for, and finish normally or with `LSM_CLOSED`, before `db` is
/// freed. The caller's bug (undefined behaviour, which no library can detect):
/// starting a call on `db` on another thread at the same time as or after
/// `lsm_close` (it may read the freed handle before it can see the close), and
/// calling `lsm_close` twice on one handle, concurrently or not. So: stop other
/// threads from starting new calls, then close.
///
/// Iterators and snapshots hold the engine (reference-counted), not `db`: they stay
/// safe to use and free after `lsm_close`, and report `LSM_CLOSED` / not valid.
#[no_mangle]
pub unsafe extern "C" fn lsm_close(db: *mut lsm_db) -> lsm_status {
    status(|| {
        if db.is_null() {
            return Ok(());
        }
        // SAFETY: db came from lsm_open and is not freed yet: the caller closes it
        // once and starts no call after this one (contract).
        let h = unsafe { handle(db, "db") }?;
        if !h.gate.close() {
            return Err(LsmError::Closed.into());
        }
        let closed = h.db.close();
        // SAFETY: the gate is closed and drained, so no running call uses the handle;
        // a call starting from now on is the caller's bug (contract above). db is the
        // Box from lsm_open, and only the closer that closed the gate frees it.
        drop(unsafe { Box::from_raw(db) });
        Ok(closed?)
    })
}

/// Sets `key` to `val`.
#[no_mangle]
pub unsafe extern "C" fn lsm_put(
    db: *mut lsm_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (db, key, val) = unsafe {
            (
                self::db(db)?,
                bytes(key, klen, "key")?,
                bytes(val, vlen, "val")?,
            )
        };
        Ok(db.put(key, val)?)
    })
}

/// Sets `key` to `val` until `ttl_ms` milliseconds from now (by the database's
/// clock): from then on reads do not see it, and compaction removes it.
#[no_mangle]
pub unsafe extern "C" fn lsm_put_ttl(
    db: *mut lsm_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
    ttl_ms: u64,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (db, key, val) = unsafe {
            (
                self::db(db)?,
                bytes(key, klen, "key")?,
                bytes(val, vlen, "val")?,
            )
        };
        Ok(db.put_with_ttl(key, val, std::time::Duration::from_millis(ttl_ms))?)
    })
}

/// Merges operand `val` into `key` with the database's merge operator
/// (`merge.operator`, or `lsm_options_set_merge_operator`); without one,
/// `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_merge(
    db: *mut lsm_db,
    key: *const u8,
    klen: usize,
    val: *const u8,
    vlen: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (db, key, val) = unsafe {
            (
                self::db(db)?,
                bytes(key, klen, "key")?,
                bytes(val, vlen, "val")?,
            )
        };
        Ok(db.merge(key, val)?)
    })
}

/// Stores a copy of the value of `key` in `*val` (length in `*vlen`), to be freed
/// with `lsm_free`; an empty value is a non-NULL pointer with length 0. A missing
/// key is `LSM_NOT_FOUND` with `*val` NULL and `*vlen` 0.
#[no_mangle]
pub unsafe extern "C" fn lsm_get(
    db: *mut lsm_db,
    key: *const u8,
    klen: usize,
    val: *mut *mut u8,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        let lookup = || {
            // SAFETY: handle and byte range per the contract.
            let (db, key) = unsafe { (self::db(db)?, bytes(key, klen, "key")?) };
            // Pinned: the value is copied once, into the malloc'ed buffer.
            Ok(db.get_pinned(key)?)
        };
        // SAFETY: out-pointers per the contract.
        unsafe { value_out(val, vlen, lookup) }
    })
}

/// What `lsm_get`, `lsm_snapshot_get` and `lsm_transaction_get` share: `*val` and
/// `*vlen` are NULL and 0 unless `lookup` finds a value, which is then copied into
/// memory for `lsm_free`; `LSM_NOT_FOUND` when it finds none.
///
/// # Safety
/// `val` and `vlen` are NULL or writable (the module's contract).
pub(crate) unsafe fn value_out<V: AsRef<[u8]>>(
    val: *mut *mut u8,
    vlen: *mut usize,
    lookup: impl FnOnce() -> Outcome<Option<V>>,
) -> Outcome {
    // SAFETY: out-pointers per the contract.
    let (val, vlen) = unsafe { (out(val, "val")?, out(vlen, "vlen")?) };
    val.write(null_mut());
    vlen.write(0);
    let v = found(lookup()?)?;
    let v = v.as_ref();
    val.write(malloc_copy(v, false)?);
    vlen.write(v.len());
    Ok(())
}

/// `Some(v)`, or `LSM_NOT_FOUND`.
pub(crate) fn found<V>(v: Option<V>) -> Outcome<V> {
    v.ok_or_else(|| Failure::new(LSM_NOT_FOUND, "key not found"))
}

/// Copies the value of `key` into `buf` (capacity `cap`) and stores its length in
/// `*vlen`. When it does not fit, returns `LSM_BUFFER_TOO_SMALL` with the length
/// needed in `*vlen` and `buf` untouched. A missing key is `LSM_NOT_FOUND`, `*vlen` 0.
#[no_mangle]
pub unsafe extern "C" fn lsm_get_into(
    db: *mut lsm_db,
    key: *const u8,
    klen: usize,
    buf: *mut u8,
    cap: usize,
    vlen: *mut usize,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let vlen = unsafe { out(vlen, "vlen") }?;
        vlen.write(0);
        if buf.is_null() && cap > 0 {
            return Err(Failure::invalid(format!("buf is NULL with capacity {cap}")));
        }
        // SAFETY: handle and byte range per the contract.
        let (db, key) = unsafe { (self::db(db)?, bytes(key, klen, "key")?) };
        // Pinned: the value is copied once, into the caller's buffer.
        let v = found(db.get_pinned(key)?)?;
        vlen.write(v.len());
        if v.len() > cap {
            return Err(Failure::new(
                LSM_BUFFER_TOO_SMALL,
                format!("the value has {} bytes, the buffer {cap}", v.len()),
            ));
        }
        if !v.is_empty() {
            // SAFETY: buf is non-NULL (cap >= len > 0) and writable for cap bytes
            // (contract); v is a separate Rust allocation.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len()) };
        }
        Ok(())
    })
}

/// Deletes `key` (deleting a missing key is not an error).
#[no_mangle]
pub unsafe extern "C" fn lsm_delete(db: *mut lsm_db, key: *const u8, klen: usize) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte range per the contract.
        let (db, key) = unsafe { (self::db(db)?, bytes(key, klen, "key")?) };
        Ok(db.delete(key)?)
    })
}

/// Deletes every key in `[start, end)`. A start after the end is
/// `LSM_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn lsm_delete_range(
    db: *mut lsm_db,
    start: *const u8,
    slen: usize,
    end: *const u8,
    elen: usize,
) -> lsm_status {
    status(|| {
        // SAFETY: handle and byte ranges per the contract.
        let (db, start, end) = unsafe {
            (
                self::db(db)?,
                bytes(start, slen, "start")?,
                bytes(end, elen, "end")?,
            )
        };
        Ok(db.delete_range(start, end)?)
    })
}

/// Makes every acknowledged write durable (fsync of the WAL).
#[no_mangle]
pub unsafe extern "C" fn lsm_sync(db: *mut lsm_db) -> lsm_status {
    // SAFETY: handle per the contract.
    status(|| Ok(unsafe { self::db(db) }?.sync()?))
}

/// Writes the memtable to an SSTable and waits for it.
#[no_mangle]
pub unsafe extern "C" fn lsm_flush(db: *mut lsm_db) -> lsm_status {
    // SAFETY: handle per the contract.
    status(|| Ok(unsafe { self::db(db) }?.flush()?))
}

/// Compacts the whole database into its deepest level and waits: overwritten
/// versions and deletions that no snapshot needs are dropped.
#[no_mangle]
pub unsafe extern "C" fn lsm_compact(db: *mut lsm_db) -> lsm_status {
    // SAFETY: handle per the contract.
    status(|| Ok(unsafe { self::db(db) }?.compact()?))
}

/// Stores a NUL-terminated copy of property `name` in `*out`, freed with `lsm_free`:
/// "lsm.stats" (counters and the shape of the tree, as text) or "lsm.stats.json"
/// (the same as a JSON object). An unknown name is `LSM_NOT_FOUND`, `*out` NULL.
#[no_mangle]
pub unsafe extern "C" fn lsm_property(
    db: *mut lsm_db,
    name: *const c_char,
    out: *mut *mut c_char,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle and string per the contract.
        let (db, name) = unsafe { (self::db(db)?, text(name, "name")?) };
        let value = match name {
            "lsm.stats" => db.stats().to_string(),
            "lsm.stats.json" => db.stats().to_json(),
            other => {
                return Err(Failure::new(
                    LSM_NOT_FOUND,
                    format!("unknown property {other:?} (known: lsm.stats, lsm.stats.json)"),
                ))
            }
        };
        out.write(malloc_copy(value.as_bytes(), true)?.cast());
        Ok(())
    })
}

/// Makes a consistent, openable copy of the database in `dir`, which must not exist,
/// while the database stays in use.
#[no_mangle]
pub unsafe extern "C" fn lsm_checkpoint(db: *mut lsm_db, dir: *const c_char) -> lsm_status {
    status(|| {
        // SAFETY: handle and string per the contract.
        let (db, dir) = unsafe { (self::db(db)?, path(dir, "dir")?) };
        Ok(db.checkpoint(dir)?)
    })
}

/// Reads every live file and checks every checksum. On success `*report_json` holds
/// a NUL-terminated JSON report, freed with `lsm_free`:
/// `{"files":[{"path":..,"kind":"table"|"wal"|"manifest","bytes":N,"entries":N,
/// "md5":"hex"|null},..],"total_bytes":N}`. Damage is `LSM_CORRUPTION` naming the
/// file and offset, with `*report_json` NULL.
#[no_mangle]
pub unsafe extern "C" fn lsm_verify(db: *mut lsm_db, report_json: *mut *mut c_char) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(report_json, "report_json") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let report = unsafe { self::db(db) }?.verify()?;
        out.write(malloc_copy(verify_json(&report).as_bytes(), true)?.cast());
        Ok(())
    })
}

/// `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// [`VerifyReport`] as JSON.
fn verify_json(r: &VerifyReport) -> String {
    let mut j = String::from("{\"files\":[");
    for (i, f) in r.files.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        j.push_str("{\"path\":");
        json_str(&mut j, &f.path.to_string_lossy());
        let kind = match f.kind {
            FileKind::Table => "table",
            FileKind::Wal => "wal",
            FileKind::Manifest => "manifest",
        };
        let _ = write!(
            j,
            ",\"kind\":\"{kind}\",\"bytes\":{},\"entries\":{},\"md5\":",
            f.bytes, f.entries
        );
        match &f.md5 {
            Some(m) => json_str(&mut j, m),
            None => j.push_str("null"),
        }
        j.push('}');
    }
    let _ = write!(j, "],\"total_bytes\":{}}}", r.total_bytes);
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileReport;

    #[test]
    fn verify_json_escapes_paths() {
        let r = VerifyReport {
            files: vec![FileReport {
                path: "a\"b\\c\n\u{1}".into(),
                kind: FileKind::Wal,
                bytes: 5,
                entries: 1,
                md5: None,
            }],
            total_bytes: 5,
        };
        assert_eq!(
            verify_json(&r),
            "{\"files\":[{\"path\":\"a\\\"b\\\\c\\n\\u0001\",\"kind\":\"wal\",\"bytes\":5,\
             \"entries\":1,\"md5\":null}],\"total_bytes\":5}"
        );
    }
}
