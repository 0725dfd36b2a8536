//! `lsm.Snapshot`: a consistent read-only view of every keyspace, also a context
//! manager that releases it on exit. Reads go to the default keyspace or, with
//! `keyspace=ks`, to `ks`.

use crate::bytes::{byte_arg, value_or};
use crate::call::call;
use crate::cursor::{Bounds, Cursor, Mode};
use crate::errors::closed;
use crate::keyspace::keyspace_arg;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Reads through a snapshot see the database as it was when the snapshot was taken.
#[pyclass(frozen, module = "lsm", name = "Snapshot")]
pub struct Snapshot {
    /// `None` once released.
    snap: Mutex<Option<Arc<lsm::Snapshot>>>,
    db_closed: Arc<AtomicBool>,
}

impl Snapshot {
    pub fn new(snap: lsm::Snapshot, db_closed: Arc<AtomicBool>) -> Snapshot {
        Snapshot {
            snap: Mutex::new(Some(Arc::new(snap))),
            db_closed,
        }
    }

    /// The view, or `ClosedError` after the snapshot or the database was closed.
    fn view(&self, py: Python<'_>) -> PyResult<Arc<lsm::Snapshot>> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let guard = self.snap.lock().unwrap_or_else(|p| p.into_inner());
        guard.clone().ok_or_else(|| closed(py))
    }

    fn cursor(
        &self,
        py: Python<'_>,
        mode: Mode,
        reverse: bool,
        b: Bounds,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Cursor> {
        let snap = self.view(py)?;
        let ks = keyspace_arg(py, keyspace, &self.db_closed)?;
        let raw = call(py, || {
            Ok(match &ks {
                Some(ks) => snap.raw_iter_in(ks),
                None => snap.raw_iter(),
            })
        })?;
        Ok(Cursor::new(
            raw,
            mode,
            reverse,
            b,
            self.db_closed.clone(),
            Some(snap),
        ))
    }
}

#[pymethods]
impl Snapshot {
    /// The value of `key` in this view (of `keyspace`, else the default keyspace),
    /// or `default`.
    #[pyo3(signature = (key, default=None, *, keyspace=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let snap = self.view(py)?;
        let ks = keyspace_arg(py, keyspace, &self.db_closed)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        let v = call(py, || match &ks {
            Some(ks) => snap.get_in(ks, k),
            None => snap.get(k),
        })?;
        Ok(value_or(py, v, default))
    }

    /// The values of `keys` in this view (of `keyspace`, else the default keyspace),
    /// as a list in the same order with `None` for a missing key.
    #[pyo3(signature = (keys, *, keyspace=None))]
    fn multi_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        keyspace: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let snap = self.view(py)?;
        let ks = keyspace_arg(py, keyspace, &self.db_closed)?;
        crate::bytes::multi_get(py, keys, |keys| match &ks {
            Some(ks) => snap.multi_get_pinned_in(ks, keys),
            None => snap.multi_get_pinned(keys),
        })
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let b = Bounds::from_slice(slice)?;
            return Ok(Py::new(py, self.cursor(py, Mode::Items, false, b, None)?)?.into_any());
        }
        let snap = self.view(py)?;
        let k = byte_arg(key, "key")?;
        let ks = k.as_slice();
        match call(py, || snap.get(ks))? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any().unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let snap = self.view(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        Ok(call(py, || snap.get(k))?.is_some())
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Cursor> {
        self.cursor(py, Mode::Keys, false, Bounds::default(), None)
    }

    /// Counts the keys in this view: a full scan.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.cursor(py, Mode::Keys, false, Bounds::default(), None)?
            .count(py)
    }

    /// `(key, value)` pairs in key order (of `keyspace`, else the default keyspace).
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false, keyspace=None))]
    fn items(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Items, reverse, b, keyspace)
    }

    /// Keys in key order (of `keyspace`, else the default keyspace).
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false, keyspace=None))]
    fn keys(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Keys, reverse, b, keyspace)
    }

    /// Values in key order (of `keyspace`, else the default keyspace).
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false, keyspace=None))]
    fn values(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Values, reverse, b, keyspace)
    }

    /// `(key, value)` pairs, like `items`.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false, keyspace=None))]
    fn iter(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Cursor> {
        self.items(py, start, stop, prefix, reverse, keyspace)
    }

    /// The sequence number this view reads at.
    #[getter]
    fn sequence(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.view(py)?.sequence())
    }

    /// Releases the view (iterators already made from it keep working); later use
    /// raises `ClosedError`.
    fn close(&self) {
        let taken = self.snap.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }
}
