//! `lsm_changes`: the change feed, a [`Subscription`] from a sequence number
//! (`lsm_changes_new`: the history, then what commits later) or of a key prefix from
//! now on (`lsm_changes_subscribe`), read one batch at a time with a timeout.

use super::boundary::lsm_status::{self, LSM_NOT_FOUND};
use super::boundary::{bytes, guard, handle, handle_mut, out, status, Failure, Outcome};
use super::db::{db, lsm_db};
use crate::{ChangeBatch, ChangeKind, Subscription};
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::ptr::{null, null_mut};
use std::time::Duration;

/// A change feed: committed batches, oldest first, each once. Used by one thread at a
/// time. It holds the engine (reference-counted), not the `lsm_db`: after `lsm_close`
/// `lsm_changes_next` returns `LSM_CLOSED` (once it has handed out the batches it had
/// already received); free it with `lsm_changes_free` either way.
pub struct lsm_changes {
    sub: Subscription,
    /// The batch of the last `lsm_changes_next` that returned `LSM_OK`.
    batch: Option<ChangeBatch>,
    /// Each keyspace name met so far, NUL-terminated for `lsm_change_op.keyspace`
    /// (entries are never removed, so their pointers stay valid).
    names: HashMap<String, CString>,
}

/// What one operation of a change did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lsm_change_kind {
    /// Set `key` to `value`.
    LSM_CHANGE_PUT = 0,
    /// Deleted `key`.
    LSM_CHANGE_DELETE = 1,
    /// Deleted every key in [`key`, `end`).
    LSM_CHANGE_DELETE_RANGE = 2,
    /// Merged the operand `value` into `key`.
    LSM_CHANGE_MERGE = 3,
}

/// One operation of the current batch of a feed (`lsm_changes_op`). Every pointer is
/// owned by the feed and valid until its next `lsm_changes_next` or `lsm_changes_free`;
/// the byte strings are not NUL-terminated. An empty key or value is a non-NULL
/// pointer with length 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lsm_change_op {
    /// Its sequence number.
    pub seq: u64,
    /// What it did.
    pub kind: lsm_change_kind,
    /// The name of its keyspace, NUL-terminated ("default" for the calls without
    /// `_ks`; "" when the keyspace was dropped before the feed read it).
    pub keyspace: *const c_char,
    /// The key; a range delete's start.
    pub key: *const u8,
    /// The key's length.
    pub key_len: usize,
    /// A range delete's (exclusive) end; NULL for the other kinds.
    pub end: *const u8,
    /// The end's length (0 when `end` is NULL).
    pub end_len: usize,
    /// A put's value or a merge's operand; NULL for deletes.
    pub value: *const u8,
    /// The value's length (0 when `value` is NULL).
    pub value_len: usize,
}

/// The empty key or value: a real address for the pointer of a zero-length one.
static EMPTY: [u8; 1] = [0];

fn view(s: &[u8]) -> (*const u8, usize) {
    if s.is_empty() {
        (EMPTY.as_ptr(), 0)
    } else {
        (s.as_ptr(), s.len())
    }
}

impl lsm_changes {
    fn boxed(sub: Subscription) -> *mut lsm_changes {
        Box::into_raw(Box::new(lsm_changes {
            sub,
            batch: None,
            names: HashMap::new(),
        }))
    }

    fn next(&mut self, timeout: Duration) -> Outcome {
        self.batch = None;
        let Some(b) = self.sub.next_timeout(timeout)? else {
            return Err(Failure::new(
                LSM_NOT_FOUND,
                format!("no change committed within {} ms", timeout.as_millis()),
            ));
        };
        for op in b.ops() {
            if !self.names.contains_key(op.keyspace()) {
                // Keyspace names are [A-Za-z0-9_.-]: never a NUL.
                let name = CString::new(op.keyspace()).unwrap_or_default();
                self.names.insert(op.keyspace().to_string(), name);
            }
        }
        self.batch = Some(b);
        Ok(())
    }

    fn op(&self, i: usize) -> Outcome<lsm_change_op> {
        let Some(b) = &self.batch else {
            return Err(Failure::invalid(
                "the feed has no current batch (lsm_changes_next did not return LSM_OK)",
            ));
        };
        let op = b.ops().get(i).ok_or_else(|| {
            Failure::invalid(format!(
                "operation {i} of a batch of {} operations",
                b.ops().len()
            ))
        })?;
        let (key, key_len) = view(op.key());
        let (end, end_len) = op.end().map_or((null(), 0), view);
        let (value, value_len) = op.value().map_or((null(), 0), view);
        Ok(lsm_change_op {
            seq: op.seq(),
            kind: match op.kind() {
                ChangeKind::Put => lsm_change_kind::LSM_CHANGE_PUT,
                ChangeKind::Delete => lsm_change_kind::LSM_CHANGE_DELETE,
                ChangeKind::DeleteRange => lsm_change_kind::LSM_CHANGE_DELETE_RANGE,
                ChangeKind::Merge => lsm_change_kind::LSM_CHANGE_MERGE,
            },
            keyspace: self
                .names
                .get(op.keyspace())
                .map_or(c"".as_ptr(), |n| n.as_ptr()),
            key,
            key_len,
            end,
            end_len,
            value,
            value_len,
        })
    }
}

/// Makes a feed of every committed batch from sequence number `since_seq` on (those
/// whose last operation is `since_seq` or later; 0 and 1 both mean from the very
/// first), and then of every batch committed later, each once and in commit order:
/// nothing is missed between the history and what follows. Stores it in `*out` (NULL
/// on failure). A `since_seq` whose history is no longer kept (see `wal.retention`)
/// is `LSM_CHANGES_PURGED`; `lsm_changes_oldest` gives the oldest one still kept. To
/// start with what commits next: `lsm_latest_sequence() + 1`, or
/// `lsm_changes_subscribe` with an empty prefix.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_new(
    db: *mut lsm_db,
    since_seq: u64,
    out: *mut *mut lsm_changes,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle per the contract.
        let sub = unsafe { self::db(db) }?.subscribe_since(b"", since_seq)?;
        out.write(lsm_changes::boxed(sub));
        Ok(())
    })
}

/// Makes a feed of the batches committed from now on that touch a key starting with
/// `prefix` (of any keyspace; a range delete when its range holds such keys), each
/// with only its operations under the prefix. An empty prefix: every batch. Stores it
/// in `*out` (NULL on failure).
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_subscribe(
    db: *mut lsm_db,
    prefix: *const u8,
    prefix_len: usize,
    out: *mut *mut lsm_changes,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let out = unsafe { self::out(out, "out") }?;
        out.write(null_mut());
        // SAFETY: handle and byte range per the contract.
        let (db, prefix) = unsafe { (self::db(db)?, bytes(prefix, prefix_len, "prefix")?) };
        out.write(lsm_changes::boxed(db.subscribe(prefix)?));
        Ok(())
    })
}

/// Moves the feed to its next batch, waiting up to `timeout_ms` milliseconds for one
/// to be committed (0: only one that is ready now; `UINT64_MAX`: until one is, or the
/// database closes). `LSM_OK`: the batch is current (`lsm_changes_seq`,
/// `lsm_changes_len`, `lsm_changes_op`). `LSM_NOT_FOUND` (not an error): none within
/// the timeout; call again. `LSM_CLOSED` after `lsm_close` (a waiting call wakes up
/// for it), once the batches the feed had already received are handed out;
/// `LSM_CHANGES_PURGED` when history the feed had still to read was deleted
/// meanwhile; another error (`LSM_IO_ERROR`, `LSM_CORRUPTION`, a failed write) ends
/// the feed, and every later call returns it. On anything but `LSM_OK` the feed has
/// no current batch.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_next(f: *mut lsm_changes, timeout_ms: u64) -> lsm_status {
    status(|| {
        // SAFETY: handle per the contract (one thread at a time).
        unsafe { handle_mut(f, "feed") }?.next(Duration::from_millis(timeout_ms))
    })
}

/// The current batch of feed `f` (`None`: there is none).
///
/// # Safety
/// `f` is NULL or a live feed.
unsafe fn current<'a>(f: *const lsm_changes) -> Outcome<Option<&'a ChangeBatch>> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { handle(f, "feed") }?.batch.as_ref())
}

/// The sequence number of the current batch's first operation; 0 when the feed has
/// no current batch (or is NULL).
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_seq(f: *const lsm_changes) -> u64 {
    // SAFETY: handle per the contract.
    guard(|| Ok(unsafe { current(f) }?.map_or(0, |b| b.seq()))).unwrap_or(0)
}

/// The sequence number of the current batch's last operation (of the whole batch, also
/// when a prefix feed hands out only some of its operations): resume with
/// `lsm_changes_new(db, last_seq + 1, ...)`. 0 when there is no current batch.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_last_seq(f: *const lsm_changes) -> u64 {
    // SAFETY: handle per the contract.
    guard(|| Ok(unsafe { current(f) }?.map_or(0, |b| b.last_seq()))).unwrap_or(0)
}

/// How many operations the current batch holds (at least 1); 0 when there is no
/// current batch.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_len(f: *const lsm_changes) -> usize {
    // SAFETY: handle per the contract.
    guard(|| Ok(unsafe { current(f) }?.map_or(0, |b| b.ops().len()))).unwrap_or(0)
}

/// Stores operation `i` (from 0) of the current batch in `*op`. `LSM_INVALID_ARGUMENT`
/// when `i` is not below `lsm_changes_len`, or there is no current batch; `*op` is
/// then left unchanged. Its pointers are valid until the next `lsm_changes_next` or
/// `lsm_changes_free`.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_op(
    f: *const lsm_changes,
    i: usize,
    op: *mut lsm_change_op,
) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer and handle per the contract.
        let (op, f) = unsafe { (out(op, "op")?, handle(f, "feed")?) };
        op.write(f.op(i)?);
        Ok(())
    })
}

/// Frees a feed (before or after `lsm_close`). NULL is a no-op. It must not overlap
/// another call on the same feed (an `lsm_changes_next` waiting in another thread).
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_free(f: *mut lsm_changes) {
    let _ = guard(|| {
        if !f.is_null() {
            // SAFETY: f came from lsm_changes_new or lsm_changes_subscribe and is freed
            // once (contract).
            drop(unsafe { Box::from_raw(f) });
        }
        Ok(())
    });
}

/// Stores in `*seq` the sequence number of the last committed write (0 for a database
/// never written): `lsm_changes_new(db, *seq + 1, ...)` hands out what commits next.
#[no_mangle]
pub unsafe extern "C" fn lsm_latest_sequence(db: *mut lsm_db, seq: *mut u64) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let seq = unsafe { out(seq, "seq") }?;
        seq.write(0);
        // SAFETY: handle per the contract.
        seq.write(unsafe { self::db(db) }?.latest_sequence());
        Ok(())
    })
}

/// Stores in `*oldest` the first sequence number `lsm_changes_new` can still start
/// from: an older one is `LSM_CHANGES_PURGED`. `lsm_latest_sequence() + 1` when no
/// history is kept.
#[no_mangle]
pub unsafe extern "C" fn lsm_changes_oldest(db: *mut lsm_db, oldest: *mut u64) -> lsm_status {
    status(|| {
        // SAFETY: out-pointer per the contract.
        let oldest = unsafe { out(oldest, "oldest") }?;
        oldest.write(0);
        // SAFETY: handle per the contract.
        oldest.write(unsafe { self::db(db) }?.oldest_change()?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_status::LSM_INVALID_ARGUMENT;

    #[test]
    fn a_feed_hands_out_history_then_live_batches_and_checks_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let mut db: *mut lsm_db = null_mut();
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        // SAFETY: every pointer below is NULL, a live handle or a local out-value.
        unsafe {
            assert_eq!(
                super::super::db::lsm_open(path.as_ptr(), null(), &mut db),
                lsm_status::LSM_OK
            );
            let mut f: *mut lsm_changes = null_mut();
            assert_eq!(lsm_changes_new(db, 1, &mut f), lsm_status::LSM_OK);
            assert_eq!(lsm_changes_next(f, 0), LSM_NOT_FOUND);
            assert_eq!(lsm_changes_len(f), 0);
            let mut op = std::mem::MaybeUninit::<lsm_change_op>::uninit();
            assert_eq!(lsm_changes_op(f, 0, op.as_mut_ptr()), LSM_INVALID_ARGUMENT);
            let k = b"k";
            assert_eq!(
                super::super::db::lsm_put(db, k.as_ptr(), 1, null(), 0),
                lsm_status::LSM_OK
            );
            assert_eq!(lsm_changes_next(f, 5000), lsm_status::LSM_OK);
            assert_eq!((lsm_changes_seq(f), lsm_changes_len(f)), (1, 1));
            assert_eq!(lsm_changes_op(f, 0, op.as_mut_ptr()), lsm_status::LSM_OK);
            let op = op.assume_init();
            assert_eq!(op.kind, lsm_change_kind::LSM_CHANGE_PUT);
            assert_eq!(std::ffi::CStr::from_ptr(op.keyspace), c"default");
            assert_eq!(std::slice::from_raw_parts(op.key, op.key_len), b"k");
            assert!(!op.value.is_null() && op.value_len == 0 && op.end.is_null());
            assert_eq!(lsm_changes_next(null_mut(), 0), LSM_INVALID_ARGUMENT);
            assert_eq!(lsm_changes_seq(null()), 0);
            lsm_changes_free(f);
            lsm_changes_free(null_mut());
            assert_eq!(super::super::db::lsm_close(db), lsm_status::LSM_OK);
        }
    }
}
