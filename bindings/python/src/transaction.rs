//! `lsm._lsm._Transaction`: an optimistic transaction. `lsm.Transaction` (Python)
//! subclasses it and adds the context manager and the `async` methods.

use crate::asyncio::submit;
use crate::bytes::{byte_arg, value_or};
use crate::call::call;
use crate::cursor::Bounds;
use crate::db::Db;
use crate::errors::{closed, to_py};
use crate::keyspace::{dropped, name_arg, type_name, Keyspace};
use lsm::{Lsm, LsmError};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
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

/// Runs `f` on the live transaction in `slot`, with the GIL released.
fn with_slot<T: Send>(
    py: Python<'_>,
    slot: &Slot,
    db_closed: &AtomicBool,
    f: impl FnOnce(&mut lsm::Transaction) -> lsm::Result<T> + Send,
) -> PyResult<T> {
    if db_closed.load(Ordering::Acquire) {
        return Err(closed(py));
    }
    call(py, || {
        let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
        f(g.as_mut().ok_or_else(over)?)
    })
}

/// The `(key, value)` pairs of `it` as a list of tuples.
fn pair_list<'py>(py: Python<'py>, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for (k, v) in pairs {
        out.append(PyTuple::new(
            py,
            [PyBytes::new(py, &k), PyBytes::new(py, &v)],
        )?)?;
    }
    Ok(out)
}

impl Transaction {
    /// Runs `f` on the live transaction, with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut lsm::Transaction) -> lsm::Result<T> + Send,
    ) -> PyResult<T> {
        with_slot(py, &self.tx, &self.db_closed, f)
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
        pair_list(py, pairs)
    }

    /// The keyspace `keyspace` (a name, opened or created like `db.keyspace(name)`,
    /// or an `lsm.Keyspace` of this database) as this transaction sees it: reads and
    /// writes through the view are the transaction's.
    fn keyspace(&self, py: Python<'_>, keyspace: &Bound<'_, PyAny>) -> PyResult<TxKeyspace> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let ks = if let Ok(k) = keyspace.cast::<Keyspace>() {
            let k = k.get();
            let engine = k.live(py)?;
            k.check_db(py, &self.db_closed)?;
            engine.clone()
        } else if keyspace.cast::<PyString>().is_ok() {
            let name = name_arg(keyspace, "keyspace name")?;
            let db = &self.db;
            call(py, || db.keyspace(&name))?
        } else {
            return Err(PyTypeError::new_err(format!(
                "keyspace must be a keyspace name (str) or an lsm.Keyspace, not {}",
                type_name(keyspace)
            )));
        };
        Ok(TxKeyspace {
            tx: self.tx.clone(),
            ks,
            db_closed: self.db_closed.clone(),
        })
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

/// A keyspace as a transaction sees it (`tx.keyspace(name)`): `view[k]`, `get`, `in`,
/// `items(...)` read through the transaction (its snapshot and its own writes, joining
/// its read set), `view[k] = v`, `put`, `delete` wait for its commit.
#[pyclass(frozen, module = "lsm", name = "TransactionKeyspace")]
pub struct TxKeyspace {
    tx: Slot,
    ks: lsm::Keyspace,
    db_closed: Arc<AtomicBool>,
}

impl TxKeyspace {
    /// Runs `f` on the live transaction with the keyspace, with the GIL released;
    /// the dropped-keyspace error once it was dropped.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut lsm::Transaction, &lsm::Keyspace) -> lsm::Result<T> + Send,
    ) -> PyResult<T> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        if self.ks.is_dropped() {
            return Err(dropped(py, &self.ks));
        }
        let ks = &self.ks;
        with_slot(py, &self.tx, &self.db_closed, |tx| f(tx, ks))
    }
}

#[pymethods]
impl TxKeyspace {
    /// The value of `key` in the keyspace (the transaction's own write, else the one
    /// at its start), or `default`. The key joins the read set.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        let v = self.with(py, |tx, ks| tx.get_in(ks, k))?;
        Ok(value_or(py, v, default))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?;
        let kk = k.as_slice();
        match self.with(py, |tx, ks| tx.get_in(ks, kk))? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any().unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        Ok(self.with(py, |tx, ks| tx.get_in(ks, k))?.is_some())
    }

    /// Sets `key` to `value` in the keyspace at commit.
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (k, v) = (byte_arg(key, "key")?, byte_arg(value, "value")?);
        let (k, v) = (k.as_slice(), v.as_slice());
        self.with(py, |tx, ks| {
            tx.put_in(ks, k, v);
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

    /// Deletes `key` in the keyspace at commit (a missing key is not an error).
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        self.with(py, |tx, ks| {
            tx.delete_in(ks, k);
            Ok(())
        })
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.delete(py, key)
    }

    /// The `(key, value)` pairs of the keyspace in `[start, stop)` (and under
    /// `prefix`) as the transaction sees them, as a list. The range joins the read set.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None))]
    fn items<'py>(
        &self,
        py: Python<'py>,
        start: Option<&Bound<'py, PyAny>>,
        stop: Option<&Bound<'py, PyAny>>,
        prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let b = Bounds::new(start, stop, prefix)?;
        let pairs = self.with(py, |tx, ks| {
            let it = match (b.lower, b.upper) {
                (Some(l), Some(u)) => tx.range_in(ks, l..u),
                (Some(l), None) => tx.range_in(ks, l..),
                (None, Some(u)) => tx.range_in(ks, ..u),
                (None, None) => tx.iter_in(ks),
            };
            it.collect::<lsm::Result<Vec<_>>>()
        })?;
        pair_list(py, pairs)
    }

    /// The keyspace's name.
    #[getter]
    fn name(&self) -> String {
        self.ks.name().to_string()
    }
}
