//! What every exported function shares: the status enum, the calling thread's error
//! message, [`guard`] (the one helper that turns a panic into `LSM_INTERNAL` and a
//! failure into a status plus message), and the argument checks that turn NULL into
//! `LSM_INVALID_ARGUMENT`.

use crate::error::LsmError;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// The result of every call that can fail. `LSM_OK` is 0; every other value has a
/// message for the calling thread in `lsm_errmsg()`. The values are fixed: new ones
/// are only ever added at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lsm_status {
    /// Success.
    LSM_OK = 0,
    /// The key or property does not exist. Not an error.
    LSM_NOT_FOUND = 1,
    /// A NULL handle, a NULL pointer with a non-zero length, a string that is not
    /// UTF-8, or an argument the engine rejects (a key over the size limit, a range
    /// whose start is after its end, a checkpoint directory that exists).
    LSM_INVALID_ARGUMENT = 2,
    /// The operating system reported an I/O failure; after a failed write the
    /// database refuses further writes.
    LSM_IO_ERROR = 3,
    /// Bytes on disk do not match their checksum or format; the message names the
    /// file and the offset.
    LSM_CORRUPTION = 4,
    /// An unknown option key or an unacceptable value (`lsm_options_set`,
    /// `lsm_options_load`, or options that do not fit together at `lsm_open`).
    LSM_CONFIG_ERROR = 5,
    /// Another handle, in this process or another, has the database open.
    LSM_LOCKED = 6,
    /// The database was closed (an iterator, snapshot, transaction or keyspace handle
    /// that outlived `lsm_close`).
    LSM_CLOSED = 7,
    /// `lsm_get_into`: the value does not fit; `*vlen` holds the length needed.
    LSM_BUFFER_TOO_SMALL = 8,
    /// A bug in the library (a Rust panic caught at the boundary) or an allocation
    /// failure.
    LSM_INTERNAL = 9,
    /// `lsm_transaction_commit`: something the transaction read was written by another
    /// commit after it began; nothing was applied.
    LSM_CONFLICT = 10,
    /// The change feed (`lsm_changes_new`, `lsm_changes_next`): the history from the
    /// sequence number asked for is no longer kept (see the option `wal.retention`).
    /// The message names the oldest one still served, which `lsm_changes_oldest` gives
    /// as a number.
    LSM_CHANGES_PURGED = 11,
}

use lsm_status::*;

/// A call that did not return `LSM_OK`: the status and the message for `lsm_errmsg`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: lsm_status,
    pub message: String,
}

/// What the body of an exported function returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

impl Failure {
    pub fn new(status: lsm_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(LSM_INVALID_ARGUMENT, message)
    }
}

impl From<LsmError> for Failure {
    fn from(e: LsmError) -> Failure {
        let status = match &e {
            LsmError::Io { .. } | LsmError::Cache(_) => LSM_IO_ERROR,
            LsmError::Corruption { .. } | LsmError::Serialization(_) => LSM_CORRUPTION,
            LsmError::Config { .. } => LSM_CONFIG_ERROR,
            LsmError::InvalidArgument(_) => LSM_INVALID_ARGUMENT,
            LsmError::ChangesPurged { .. } => LSM_CHANGES_PURGED,
            LsmError::Locked(_) => LSM_LOCKED,
            LsmError::Closed => LSM_CLOSED,
            LsmError::Conflict => LSM_CONFLICT,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    /// The calling thread's message, always NUL-terminated.
    static MESSAGE: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

fn set_message(text: &str) {
    // During thread teardown the slot may be gone; the message is then dropped.
    let _ = MESSAGE.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            if text.is_empty() && m.len() == 1 {
                return;
            }
            m.clear();
            m.extend(text.bytes().map(|b| if b == 0 { b'?' } else { b }));
            m.push(0);
        }
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "unknown panic"
    }
}

/// Runs the body of an exported function. A panic becomes `LSM_INTERNAL`; a failure
/// becomes its status; the calling thread's message is set either way (empty on
/// success). Every exported function that runs engine code goes through here.
pub(crate) fn guard<T>(body: impl FnOnce() -> Outcome<T>) -> Result<T, lsm_status> {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::new(
            LSM_INTERNAL,
            format!("internal error (a panic): {}", panic_text(&*payload)),
        ))
    });
    match result {
        Ok(v) => {
            set_message("");
            Ok(v)
        }
        Err(f) => {
            set_message(&f.message);
            Err(f.status)
        }
    }
}

/// [`guard`] for the functions that return a status.
pub(crate) fn status(body: impl FnOnce() -> Outcome) -> lsm_status {
    match guard(body) {
        Ok(()) => LSM_OK,
        Err(s) => s,
    }
}

/// The handle `p` points to. NULL (or a misaligned pointer) is `LSM_INVALID_ARGUMENT`.
///
/// # Safety
/// `p` is NULL or points to a live `T` not mutated by another thread during `'a`.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Outcome<&'a T> {
    if !p.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not a valid pointer")));
    }
    // SAFETY: aligned, and live or NULL by the caller's contract; NULL gives None.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The handle `p` points to, for changing it.
///
/// # Safety
/// `p` is NULL or points to a live `T` that nothing else uses during `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Outcome<&'a mut T> {
    if !p.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not a valid pointer")));
    }
    // SAFETY: aligned, and live and unshared or NULL by the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The `len` bytes at `p`. Length 0 is the empty slice whatever `p` is; NULL with a
/// non-zero length is `LSM_INVALID_ARGUMENT`.
///
/// # Safety
/// Unless NULL or `len` is 0, `p` points to `len` bytes readable during `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Outcome<&'a [u8]> {
    // SAFETY: forwarded from the caller.
    unsafe { slice(p, len, what) }
}

/// The `len` elements at `p` (an array argument such as `lsm_multi_get`'s keys), as
/// [`bytes`] reads bytes.
///
/// # Safety
/// Unless NULL or `len` is 0, `p` points to `len` initialised `T`s readable during `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Outcome<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::invalid(format!(
            "{what} is NULL with length {len}"
        )));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Failure::invalid(format!(
            "{what} length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, len in range, readable for 'a by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The NUL-terminated UTF-8 string at `p`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string readable during `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Outcome<&'a str> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
}

/// The file-system path in the NUL-terminated string at `p` (any bytes on Unix).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn path(p: *const c_char, what: &str) -> Outcome<PathBuf> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    if s.is_empty() {
        return Err(Failure::invalid(format!("{what} is empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(s.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        s.to_str()
            .map(PathBuf::from)
            .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
    }
}

/// The out-parameter `p`, to be written with [`MaybeUninit::write`].
///
/// # Safety
/// `p` is NULL or writable for a `T` during `'a`.
pub(crate) unsafe fn out<'a, T>(p: *mut T, what: &str) -> Outcome<&'a mut MaybeUninit<T>> {
    if !p.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not a valid pointer")));
    }
    // SAFETY: aligned, and writable or NULL by the caller's contract; MaybeUninit<T>
    // has T's layout and does not require the old value to be initialised.
    unsafe { p.cast::<MaybeUninit<T>>().as_mut() }
        .ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A copy of `data` in memory from `malloc`, for the caller to `lsm_free`; with `nul`
/// a 0 byte follows. Never NULL: an empty copy is a 1-byte allocation.
pub(crate) fn malloc_copy(data: &[u8], nul: bool) -> Outcome<*mut u8> {
    let size = data.len() + usize::from(nul);
    // SAFETY: malloc has no precondition; the size is at least 1.
    let p = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
    if p.is_null() {
        return Err(Failure::new(
            LSM_INTERNAL,
            format!("out of memory allocating {size} bytes"),
        ));
    }
    // SAFETY: p is a fresh allocation of at least `size` bytes, disjoint from `data`.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
        if nul {
            p.add(data.len()).write(0);
        }
    }
    Ok(p)
}

/// The library's version, `"MAJOR.MINOR.PATCH"` (the `LSM_VERSION_*` macros give the
/// version of the header). A static string.
#[no_mangle]
pub extern "C" fn lsm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The calling thread's message for its last failed call, or "" when its last call
/// succeeded. Every function sets it except `lsm_errmsg`, `lsm_version`,
/// `lsm_status_str` and `lsm_free`. NUL-terminated, never NULL; valid until the
/// thread's next call into the library.
#[no_mangle]
pub extern "C" fn lsm_errmsg() -> *const c_char {
    MESSAGE
        .try_with(|m| match m.try_borrow() {
            Ok(m) => m.as_ptr().cast(),
            Err(_) => c"".as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
}

/// A short static description of a status, e.g. "not found"; "unknown status" for
/// a value that is not an `lsm_status`. Takes an `int`, so any value is safe to pass.
#[no_mangle]
pub extern "C" fn lsm_status_str(s: c_int) -> *const c_char {
    // An out-of-range value must never become an `lsm_status`: that would be undefined
    // behaviour in Rust, so the integer is compared, not converted.
    STATUSES
        .iter()
        .find(|&&known| known as c_int == s)
        .map_or(c"unknown status", |known| known.text())
        .as_ptr()
}

/// Every status, for turning an integer from C back into one.
const STATUSES: [lsm_status; 12] = [
    LSM_OK,
    LSM_NOT_FOUND,
    LSM_INVALID_ARGUMENT,
    LSM_IO_ERROR,
    LSM_CORRUPTION,
    LSM_CONFIG_ERROR,
    LSM_LOCKED,
    LSM_CLOSED,
    LSM_BUFFER_TOO_SMALL,
    LSM_INTERNAL,
    LSM_CONFLICT,
    LSM_CHANGES_PURGED,
];

impl lsm_status {
    fn text(self) -> &'static CStr {
        match self {
            LSM_OK => c"ok",
            LSM_NOT_FOUND => c"not found",
            LSM_INVALID_ARGUMENT => c"invalid argument",
            LSM_IO_ERROR => c"I/O error",
            LSM_CORRUPTION => c"corruption",
            LSM_CONFIG_ERROR => c"configuration error",
            LSM_LOCKED => c"locked",
            LSM_CLOSED => c"closed",
            LSM_BUFFER_TOO_SMALL => c"buffer too small",
            LSM_INTERNAL => c"internal error",
            LSM_CONFLICT => c"transaction conflict",
            LSM_CHANGES_PURGED => c"changes purged",
        }
    }
}

/// Frees memory returned by `lsm_get`, `lsm_snapshot_get`, `lsm_transaction_get`,
/// their `_ks` forms, `lsm_property`, `lsm_verify` and `lsm_keyspaces`. It is the C
/// library's `free`, so `free()` works as well. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn lsm_free(p: *mut c_void) {
    // SAFETY: p is NULL or came from malloc in `malloc_copy`, freed once (contract).
    unsafe { libc::free(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> String {
        // SAFETY: lsm_errmsg returns a NUL-terminated string, valid until the next call.
        unsafe { CStr::from_ptr(lsm_errmsg()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let s = status(|| panic!("boom"));
        assert_eq!(s, LSM_INTERNAL);
        assert_eq!(message(), "internal error (a panic): boom");
        assert_eq!(status(|| Ok(())), LSM_OK);
        assert_eq!(message(), "");
    }

    #[test]
    fn errors_map_to_statuses() {
        let s = status(|| Err(LsmError::Locked("x".into()).into()));
        assert_eq!(s, LSM_LOCKED);
        assert!(message().contains("locked"));
        assert_eq!(status(|| Err(LsmError::Closed.into())), LSM_CLOSED);
        assert_eq!(status(|| Err(LsmError::Conflict.into())), LSM_CONFLICT);
        let purged = LsmError::ChangesPurged { oldest: 42 };
        assert_eq!(status(|| Err(purged.into())), LSM_CHANGES_PURGED);
        assert!(message().contains("42"));
        let s = status(|| Err(Failure::invalid("a\0b")));
        assert_eq!((s, message()), (LSM_INVALID_ARGUMENT, "a?b".to_string()));
    }

    #[test]
    fn every_status_has_a_text_and_unknown_ones_are_safe() {
        let text = |s: c_int| {
            // SAFETY: lsm_status_str returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(lsm_status_str(s)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(STATUSES.len(), LSM_CHANGES_PURGED as usize + 1);
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_ne!(text(i as c_int), "unknown status");
        }
        for bad in [-1, 12, 12345, c_int::MIN, c_int::MAX] {
            assert_eq!(text(bad), "unknown status");
        }
    }

    #[test]
    fn null_arguments_are_invalid() {
        // SAFETY: NULL pointers and a zero length are within every helper's contract.
        unsafe {
            assert!(handle::<u64>(std::ptr::null(), "h").is_err());
            assert!(bytes(std::ptr::null(), 1, "k").is_err());
            assert_eq!(bytes(std::ptr::null(), 0, "k").ok(), Some(&[][..]));
            assert!(text(std::ptr::null(), "t").is_err());
            assert!(out::<usize>(std::ptr::null_mut(), "o").is_err());
        }
    }
}
