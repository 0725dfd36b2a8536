//! `lsm.WriteBatch`: puts and deletes applied atomically, also as a context manager
//! (`with db.write_batch() as wb:`) that commits on a clean exit. Each operation goes
//! to the default keyspace or, with `keyspace=ks`, to `ks`.

use crate::bytes::byte_arg;
use crate::call::call;
use crate::handle::DbHandle;
use crate::keyspace::{invalid, keyspace_ref};
use lsm::{WriteBatch, WriteOptions};
use pyo3::prelude::*;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

/// The operations, and the database the keyspaces they name belong to.
#[derive(Default)]
struct Ops {
    batch: WriteBatch,
    /// The `close()` flag of the database of the first keyspace named (`None` while
    /// every operation is in the default keyspace): a batch only ever names keyspaces
    /// of one database, and only that one may apply it.
    owner: Option<Arc<AtomicBool>>,
}

/// A batch of writes, applied all or nothing by `DB.write` (or on leaving the
/// `with db.write_batch()` block without an exception).
#[pyclass(frozen, module = "lsm", name = "WriteBatch")]
pub struct Batch {
    ops: Mutex<Ops>,
    /// The database a `with` block commits to (`db.write_batch()`).
    db: Option<DbHandle>,
    sync: bool,
}

impl Batch {
    pub fn bound_to(db: DbHandle, sync: bool) -> Batch {
        Batch {
            ops: Mutex::new(Ops::default()),
            db: Some(db),
            sync,
        }
    }

    fn ops(&self) -> MutexGuard<'_, Ops> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the operations, for the database whose `close()` flag is
    /// `db_closed`: `InvalidArgumentError` when they name keyspaces of another one.
    pub fn ops_for(&self, py: Python<'_>, db_closed: &Arc<AtomicBool>) -> PyResult<WriteBatch> {
        let ops = self.ops();
        if let Some(owner) = &ops.owner {
            if !Arc::ptr_eq(owner, db_closed) {
                return Err(invalid(
                    py,
                    "the batch writes into keyspaces of another database".into(),
                ));
            }
        }
        Ok(ops.batch.clone())
    }

    /// The operations, leaving the batch empty.
    pub fn take_ops(&self) -> WriteBatch {
        std::mem::take(&mut *self.ops()).batch
    }

    /// Runs `f` on the batch with the engine keyspace `keyspace` names (`None`: the
    /// default one), once it is known to be live and of this batch's database.
    fn add(
        &self,
        py: Python<'_>,
        keyspace: Option<&Bound<'_, PyAny>>,
        f: impl FnOnce(&mut WriteBatch, Option<&lsm::Keyspace>),
    ) -> PyResult<()> {
        let Some(obj) = keyspace.filter(|o| !o.is_none()) else {
            f(&mut self.ops().batch, None);
            return Ok(());
        };
        let ks = keyspace_ref(obj)?.get();
        let engine = ks.live(py)?;
        let mut ops = self.ops();
        // The database this batch writes to: the one it is bound to, else the one of
        // the keyspaces already in it.
        let owner = self
            .db
            .as_ref()
            .map(|d| d.closed_flag())
            .or_else(|| ops.owner.clone());
        if let Some(owner) = &owner {
            ks.check_db(py, owner)?;
        }
        ops.owner.get_or_insert_with(|| ks.db_closed());
        f(&mut ops.batch, Some(engine));
        Ok(())
    }
}

#[pymethods]
impl Batch {
    #[new]
    fn new() -> Batch {
        Batch {
            ops: Mutex::new(Ops::default()),
            db: None,
            sync: false,
        }
    }

    /// Adds `key = value` (in `keyspace`, else the default keyspace); with `ttl`
    /// (seconds), expiring that long after the batch is written.
    #[pyo3(signature = (key, value, *, keyspace=None, ttl=None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        keyspace: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let v = byte_arg(value, "value")?;
        let ttl = ttl.map(crate::bytes::ttl_arg).transpose()?;
        let (k, v) = (k.as_slice(), v.as_slice());
        self.add(py, keyspace, |b, ks| match (ks, ttl) {
            (Some(ks), None) => drop(b.put_in(ks, k, v)),
            (None, None) => drop(b.put(k, v)),
            (Some(ks), Some(t)) => drop(b.put_with_ttl_in(ks, k, v, t)),
            (None, Some(t)) => drop(b.put_with_ttl(k, v, t)),
        })
    }

    /// Adds merge operand `operand` for `key` (in `keyspace`, else the default
    /// keyspace).
    #[pyo3(signature = (key, operand, *, keyspace=None))]
    fn merge(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        operand: &Bound<'_, PyAny>,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let v = byte_arg(operand, "operand")?;
        let (k, v) = (k.as_slice(), v.as_slice());
        self.add(py, keyspace, |b, ks| match ks {
            Some(ks) => drop(b.merge_in(ks, k, v)),
            None => drop(b.merge(k, v)),
        })
    }

    /// Adds a deletion of `key` (in `keyspace`, else the default keyspace).
    #[pyo3(signature = (key, *, keyspace=None))]
    fn delete(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        self.add(py, keyspace, |b, ks| match ks {
            Some(ks) => drop(b.delete_in(ks, k)),
            None => drop(b.delete(k)),
        })
    }

    /// Adds a deletion of every key in `[start, end)` (in `keyspace`, else the default
    /// keyspace).
    #[pyo3(signature = (start, end, *, keyspace=None))]
    fn delete_range(
        &self,
        py: Python<'_>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
        keyspace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let s = byte_arg(start, "start")?;
        let e = byte_arg(end, "end")?;
        let (s, e) = (s.as_slice(), e.as_slice());
        self.add(py, keyspace, |b, ks| match ks {
            Some(ks) => drop(b.delete_range_in(ks, s, e)),
            None => drop(b.delete_range(s, e)),
        })
    }

    /// Drops every operation.
    fn clear(&self) {
        *self.ops() = Ops::default();
    }

    fn __len__(&self) -> usize {
        self.ops().batch.len()
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
