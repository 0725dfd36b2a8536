//! `lsm.WriteBatch`: puts and deletes applied atomically, also as a context manager
//! (`with db.write_batch() as wb:`) that commits on a clean exit.

use crate::bytes::byte_arg;
use crate::call::call;
use crate::handle::DbHandle;
use lsm::{WriteBatch, WriteOptions};
use pyo3::prelude::*;
use std::sync::{Mutex, MutexGuard};

/// A batch of writes, applied all or nothing by `DB.write` (or on leaving the
/// `with db.write_batch()` block without an exception).
#[pyclass(frozen, module = "lsm", name = "WriteBatch")]
pub struct Batch {
    ops: Mutex<WriteBatch>,
    /// The database a `with` block commits to (`db.write_batch()`).
    db: Option<DbHandle>,
    sync: bool,
}

impl Batch {
    pub fn bound_to(db: DbHandle, sync: bool) -> Batch {
        Batch {
            ops: Mutex::new(WriteBatch::new()),
            db: Some(db),
            sync,
        }
    }

    fn ops(&self) -> MutexGuard<'_, WriteBatch> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the operations.
    pub fn snapshot_ops(&self) -> WriteBatch {
        self.ops().clone()
    }

    /// The operations, leaving the batch empty.
    pub fn take_ops(&self) -> WriteBatch {
        std::mem::take(&mut *self.ops())
    }
}

#[pymethods]
impl Batch {
    #[new]
    fn new() -> Batch {
        Batch {
            ops: Mutex::new(WriteBatch::new()),
            db: None,
            sync: false,
        }
    }

    /// Adds `key = value`.
    fn put(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let v = byte_arg(value, "value")?;
        self.ops().put(k.as_slice(), v.as_slice());
        Ok(())
    }

    /// Adds a deletion of `key`.
    fn delete(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        self.ops().delete(k.as_slice());
        Ok(())
    }

    /// Adds a deletion of every key in `[start, end)`.
    fn delete_range(&self, start: &Bound<'_, PyAny>, end: &Bound<'_, PyAny>) -> PyResult<()> {
        let s = byte_arg(start, "start")?;
        let e = byte_arg(end, "end")?;
        self.ops().delete_range(s.as_slice(), e.as_slice());
        Ok(())
    }

    /// Drops every operation.
    fn clear(&self) {
        self.ops().clear();
    }

    fn __len__(&self) -> usize {
        self.ops().len()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits on a clean exit (when made by `db.write_batch()`); drops the operations
    /// when the block raised.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let ops = self.take_ops();
        let clean = exc_type.is_none_or(|t| t.is_none());
        if let (true, Some(db)) = (clean, &self.db) {
            let db = db.lsm(py)?.clone();
            let opts = WriteOptions { sync: self.sync };
            call(py, move || db.write_opt(ops, opts))?;
        }
        Ok(false)
    }
}
