//! `DbHandle`: the engine of one `_Db` and the flag its `close()` sets, shared with
//! what is bound to that database (a `with db.write_batch()` batch), so those need
//! not know the `_Db` class itself.

use crate::errors::closed;
use lsm::Lsm;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An engine handle that answers `ClosedError` once its `_Db` was closed.
#[derive(Clone)]
pub struct DbHandle {
    db: Lsm,
    closed: Arc<AtomicBool>,
}

impl DbHandle {
    /// The handle of `db`, closed when `closed` is set.
    pub fn new(db: Lsm, closed: Arc<AtomicBool>) -> DbHandle {
        DbHandle { db, closed }
    }

    /// The flag `close()` sets (what tells two databases apart).
    pub fn closed_flag(&self) -> Arc<AtomicBool> {
        self.closed.clone()
    }

    /// The engine, or `ClosedError`.
    pub fn lsm(&self, py: Python<'_>) -> PyResult<&Lsm> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        Ok(&self.db)
    }
}
