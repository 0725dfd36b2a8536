//! asyncio: futures completed from the engine's own Tokio runtime.
//!
//! `submit` makes a future on the caller's running loop, runs the engine call with
//! `Lsm::spawn_blocking` and hands the outcome back with `loop.call_soon_threadsafe`
//! to the package's `_resolve(future, exception, value)`, which does nothing when the
//! future is already done (cancelled by then).

use crate::errors::{panicked, registry, to_py};
use lsm::Lsm;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Turns an engine result into a Python object (with the GIL).
pub type Convert<T> = fn(Python<'_>, T) -> PyResult<Py<PyAny>>;

pub fn submit<T: Send + 'static>(
    py: Python<'_>,
    db: &Lsm,
    loop_: &Bound<'_, PyAny>,
    job: impl FnOnce(&Lsm) -> lsm::Result<T> + Send + 'static,
    convert: Convert<T>,
) -> PyResult<Py<PyAny>> {
    let resolve = registry(py)?.resolve.clone_ref(py);
    let fut = loop_.call_method0("create_future")?.unbind();
    let fut_for_job = fut.clone_ref(py);
    let loop_ = loop_.clone().unbind();
    let engine = db.clone();
    let spawned = db.spawn_blocking(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&engine)));
        // The Python handle outlives this job (closing waits for it), so this clone
        // is never the last one: dropping it never closes the engine from here.
        drop(engine);
        Python::attach(|py| {
            let (exc, value) = match outcome {
                Ok(Ok(v)) => match convert(py, v) {
                    Ok(obj) => (py.None(), obj),
                    Err(e) => (e.into_value(py).into_any(), py.None()),
                },
                Ok(Err(e)) => (to_py(py, e).into_value(py).into_any(), py.None()),
                Err(p) => (panicked(py, p).into_value(py).into_any(), py.None()),
            };
            // Fails only when the loop is closed: nobody is waiting any more.
            let _ = loop_.call_method1(
                py,
                "call_soon_threadsafe",
                (resolve, fut_for_job, exc, value),
            );
        });
    });
    spawned.map_err(|e| to_py(py, e))?;
    Ok(fut)
}
