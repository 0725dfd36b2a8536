//! `lsm._lsm._Transaction`: an optimistic transaction. `lsm.Transaction` (Python)
//! subclasses it and adds the context manager and the `async` methods.

use crate::asyncio::submit;
use crate::bytes::{byte_arg, value_or};
use crate::call::call;
use crate::cursor::Bounds;
use crate::db::Db;
use crate::errors::{closed, to_py};
use lsm::{Lsm, LsmError};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Slot = Arc<Mutex<Option<lsm::Transaction>>>;

/// Reads see the database as it was when the transaction began, plus its own writes;
/// writes wait for `commit()`.
#[pyclass(subclass, frozen, module = "lsm._lsm", name = "_Transaction")]
pub struct Transaction {
    db: Lsm,
    /// `None` once committed, rolled back or failed: the transaction is over.
    tx: Slot,
    db_closed: Arc<AtomicBool>,
}

fn over() -> LsmError {
    LsmError::InvalidArgument(
        "the transaction is over (committed, rolled back, or its commit failed)".into(),
    )
}

impl Transaction {
    /// Runs `f` on the live transaction, with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut lsm::Transaction) -> lsm::Result<T> + Send,
    ) -> PyResult<T> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let slot = &self.tx;
        call(py, || {
            let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
            f(g.as_mut().ok_or_else(over)?)
        })
    }

    fn take(&self, py: Python<'_>) -> PyResult<lsm::Transaction> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let mut g = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        g.take().ok_or_else(|| to_py(py, over()))
    }
}

#[pymethods]
impl Transaction {
    /// Begins a transaction on `db` (use `db.transaction()`).
    #[new]
    fn new(py: Python<'_>, db: &Bound<'_, Db>) -> PyResult<Self> {
        let d = db.get();
        let lsm = d.lsm(py)?.clone();
        let tx = lsm.transaction();
        Ok(Transaction {
            db: lsm,
            tx: Arc::new(Mutex::new(Some(tx))),
            db_closed: d.closed_flag(),
        })
    }

    /// The value of `key` (its own write, else the one at its start), or `default`.
    /// The key joins the read set.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        let v = self.with(py, |tx| tx.get(k))?;
        Ok(value_or(py, v, default))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?;
        let ks = k.as_slice();
        match self.with(py, |tx| tx.get(ks))? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any().unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        Ok(self.with(py, |tx| tx.get(k))?.is_some())
    }

    /// Sets `key` to `value` at commit.
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (k, v) = (byte_arg(key, "key")?, byte_arg(value, "value")?);
        let (k, v) = (k.as_slice(), v.as_slice());
        self.with(py, |tx| {
            tx.put(k, v);
            Ok(())
        })
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, key, value)
    }

    /// Deletes `key` at commit (a missing key is not an error).
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        self.with(py, |tx| {
            tx.delete(k);
            Ok(())
        })
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.delete(py, key)
    }

    /// The `(key, value)` pairs in `[start, stop)` (and under `prefix`) as the
    /// transaction sees them, as a list. The range joins the read set.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None))]
    fn items<'py>(
        &self,
        py: Python<'py>,
        start: Option<&Bound<'py, PyAny>>,
        stop: Option<&Bound<'py, PyAny>>,
        prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let b = Bounds::new(start, stop, prefix)?;
        let pairs = self.with(py, |tx| {
            let it = match (b.lower, b.upper) {
                (Some(l), Some(u)) => tx.range(l..u),
                (Some(l), None) => tx.range(l..),
                (None, Some(u)) => tx.range(..u),
                (None, None) => tx.iter(),
            };
            it.collect::<lsm::Result<Vec<_>>>()
        })?;
        let out = PyList::empty(py);
        for (k, v) in pairs {
            out.append(PyTuple::new(
                py,
                [PyBytes::new(py, &k), PyBytes::new(py, &v)],
            )?)?;
        }
        Ok(out)
    }

    /// Applies every write at once, or raises `lsm.ConflictError` (nothing applied)
    /// when something it read was written by another commit after it began. Either
    /// way the transaction is over.
    #[pyo3(signature = (*, sync=false))]
    fn commit(&self, py: Python<'_>, sync: bool) -> PyResult<()> {
        let tx = self.take(py)?;
        call(py, || tx.commit_opt(sync))
    }

    /// Discards the transaction's writes; it is over. A no-op when it already is.
    fn rollback(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// True once committed, rolled back or failed.
    #[getter]
    fn done(&self) -> bool {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    fn _aget(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let k = byte_arg(key, "key")?.as_slice().to_vec();
        let slot = self.tx.clone();
        submit(
            py,
            &self.db,
            loop_,
            move |_| {
                let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
                g.as_mut().ok_or_else(over)?.get(&k)
            },
            |py, v| Ok(value_or(py, v, None)),
        )
    }

    fn _acommit(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        sync: bool,
    ) -> PyResult<Py<PyAny>> {
        let tx = self.take(py)?;
        submit(
            py,
            &self.db,
            loop_,
            move |_| tx.commit_opt(sync),
            |py, ()| Ok(py.None()),
        )
    }
}
