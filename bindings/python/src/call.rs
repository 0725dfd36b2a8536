//! Running engine calls from Python: without the GIL, with panics caught.

use crate::errors::{panicked, to_py};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` with the GIL released and maps its error (or a panic) to an exception.
pub fn call<T: Send>(py: Python<'_>, f: impl FnOnce() -> lsm::Result<T> + Send) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(p) => Err(panicked(py, p)),
    }
}
