//! `LsmError` → the exception classes of `python/lsm/__init__.py`.
//!
//! The classes are defined in Python (so `lsm.IOError` can subclass both `lsm.Error`
//! and `OSError`) and handed to the native module once, by `_register`, when the
//! package is imported.

use lsm::LsmError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::io::ErrorKind;

/// The Python side's exception classes and its future-resolving helper.
pub struct Registry {
    pub error: Py<PyType>,
    pub corruption: Py<PyType>,
    pub locked: Py<PyType>,
    pub config: Py<PyType>,
    pub closed: Py<PyType>,
    pub io: Py<PyType>,
    pub invalid_argument: Py<PyType>,
    pub conflict: Py<PyType>,
    /// `ChangesPurgedError(message, oldest)`.
    pub changes_purged: Py<PyType>,
    /// `_resolve(future, exception, value)`: completes `future` unless it is done.
    pub resolve: Py<PyAny>,
}

static REGISTRY: PyOnceLock<Registry> = PyOnceLock::new();

/// Called once by `lsm/__init__.py`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _register(
    py: Python<'_>,
    error: Py<PyType>,
    corruption: Py<PyType>,
    locked: Py<PyType>,
    config: Py<PyType>,
    closed: Py<PyType>,
    io: Py<PyType>,
    invalid_argument: Py<PyType>,
    conflict: Py<PyType>,
    changes_purged: Py<PyType>,
    resolve: Py<PyAny>,
) {
    // A second registration (a reloaded package) keeps the first classes.
    let _ = REGISTRY.set(
        py,
        Registry {
            error,
            corruption,
            locked,
            config,
            closed,
            io,
            invalid_argument,
            conflict,
            changes_purged,
            resolve,
        },
    );
}

pub fn registry(py: Python<'_>) -> PyResult<&Registry> {
    REGISTRY
        .get(py)
        .ok_or_else(|| PyRuntimeError::new_err("lsm._lsm used before the lsm package registered"))
}

/// The errno for an `io::Error` that carries none (errors copied with
/// `LsmError::duplicate` keep only their kind).
fn errno_of(e: &std::io::Error) -> Option<i32> {
    if let Some(n) = e.raw_os_error() {
        return Some(n);
    }
    Some(match e.kind() {
        ErrorKind::NotFound => 2,            // ENOENT
        ErrorKind::PermissionDenied => 13,   // EACCES
        ErrorKind::AlreadyExists => 17,      // EEXIST
        ErrorKind::StorageFull => 28,        // ENOSPC
        ErrorKind::ReadOnlyFilesystem => 30, // EROFS
        _ => return None,
    })
}

/// The exception for `e`.
pub fn to_py(py: Python<'_>, e: LsmError) -> PyErr {
    let Ok(r) = registry(py) else {
        return PyRuntimeError::new_err(e.to_string());
    };
    let msg = e.to_string();
    let class = match &e {
        LsmError::Io { source, .. } => {
            let io = r.io.bind(py).clone();
            return match errno_of(source) {
                Some(errno) => PyErr::from_type(io, (errno, msg)),
                None => PyErr::from_type(io, (msg,)),
            };
        }
        LsmError::Corruption { .. } => &r.corruption,
        LsmError::Config { .. } => &r.config,
        LsmError::Locked(_) => &r.locked,
        LsmError::Closed => &r.closed,
        LsmError::InvalidArgument(_) => &r.invalid_argument,
        LsmError::Conflict => &r.conflict,
        LsmError::ChangesPurged { oldest } => {
            let class = r.changes_purged.bind(py).clone();
            return PyErr::from_type(class, (msg, *oldest));
        }
        _ => &r.error,
    };
    PyErr::from_type(class.bind(py).clone(), (msg,))
}

/// `lsm.ClosedError`.
pub fn closed(py: Python<'_>) -> PyErr {
    to_py(py, LsmError::Closed)
}

/// `lsm.ConfigError` with `msg`.
pub fn config_error(py: Python<'_>, msg: String) -> PyErr {
    match registry(py) {
        Ok(r) => PyErr::from_type(r.config.bind(py).clone(), (msg,)),
        Err(e) => e,
    }
}

/// `lsm.Error` for a panic caught at the boundary (a bug, but never a crash or a
/// `PanicException`).
pub fn panicked(py: Python<'_>, payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let msg = format!("internal error in lsm (please report): {what}");
    match registry(py) {
        Ok(r) => PyErr::from_type(r.error.bind(py).clone(), (msg,)),
        Err(e) => e,
    }
}
