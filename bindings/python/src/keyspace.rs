//! `lsm._lsm._Keyspace`: one keyspace of a database (`db.keyspace(name)`).
//! `lsm.Keyspace` (Python) subclasses it and adds the `MutableMapping` mixins and
//! the `async` methods, as `lsm.DB` does for `_Db`.
//!
//! Also what the other classes take a keyspace with: `keyspace_ref` and
//! `keyspace_arg` for the `keyspace=` keyword of write batches and snapshots,
//! `Keyspace::live` and `Keyspace::check_db` for the checks every use makes (the
//! database still open, the keyspace not dropped, of the same database).

use crate::asyncio::submit;
use crate::bytes::{byte_arg, opt_bytes, value_or};
use crate::call::call;
use crate::cursor::{Bounds, Cursor, Mode};
use crate::db::{option_text, Db};
use crate::errors::{closed, config_error, to_py};
use lsm::config::KEYS;
use lsm::{LsmError, KEYSPACE_KEYS};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PySlice, PyString};
use pyo3::PyTraverseError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A named key space of one database, used like the database itself.
#[pyclass(subclass, frozen, module = "lsm._lsm", name = "_Keyspace")]
pub struct Keyspace {
    ks: lsm::Keyspace,
    /// The database object it came from, kept alive: a keyspace keeps its database
    /// open (as an `lsm::Keyspace` does in Rust) until `db.close()`.
    db: Py<Db>,
    /// The database's `close()` flag; also what tells two databases apart.
    db_closed: Arc<AtomicBool>,
}

/// The Python name of a config key (`sstable.compression` → `sstable_compression`).
fn py_name(key: &str) -> String {
    key.replacen('.', "_", 1)
}

/// The Python names of the per-keyspace options (`lsm.KEYSPACE_OPTIONS`).
pub fn keyspace_option_names() -> Vec<String> {
    KEYSPACE_KEYS.iter().map(|k| py_name(k)).collect()
}

/// The `(dotted key, text)` pairs of `db.keyspace(name, **options)`, sorted by key
/// (so the same options given in another order name the same keyspace options).
fn keyspace_options(
    py: Python<'_>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let Some(options) = options else {
        return Ok(pairs);
    };
    for (name, value) in options.iter() {
        let name: String = name.extract()?;
        let key = name.replacen('_', ".", 1);
        if !KEYSPACE_KEYS.contains(&key.as_str()) {
            let known = keyspace_option_names().join(", ");
            let why = if KEYS.contains(&key.as_str()) {
                format!("option {name:?} ({key}) is the database's, not per keyspace")
            } else {
                format!("unknown option {name:?}")
            };
            return Err(config_error(
                py,
                format!("{why} (per-keyspace options: {known})"),
            ));
        }
        let Some(text) = option_text(&value)? else {
            let t = value.get_type().name()?.to_string();
            return Err(config_error(
                py,
                format!("option {name:?}: expected an int, a str or a bool, not {t}"),
            ));
        };
        pairs.push((key, text));
    }
    pairs.sort();
    Ok(pairs)
}

/// `name` as a keyspace name: a `str`, else `TypeError` saying what it is. Whether it
/// is a valid name is the engine's to say (`InvalidArgumentError`).
pub fn name_arg(name: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match name.cast::<PyString>() {
        Ok(s) => Ok(s.to_string_lossy().into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a str, not {}",
            type_name(name)
        ))),
    }
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `InvalidArgumentError` with `msg`.
pub fn invalid(py: Python<'_>, msg: String) -> PyErr {
    to_py(py, LsmError::InvalidArgument(msg))
}

/// The error every use of a dropped keyspace gets (the engine's words).
pub fn dropped(py: Python<'_>, ks: &lsm::Keyspace) -> PyErr {
    invalid(py, format!("keyspace {:?} was dropped", ks.name()))
}

/// The keyspace a `keyspace=` argument names: `None` for the default one (the
/// argument left out or `None`), else an `lsm.Keyspace` of the database whose
/// `close()` flag is `db_closed`, live. `TypeError` for anything else,
/// `InvalidArgumentError` for a keyspace of another database or a dropped one,
/// `ClosedError` once the database is closed.
pub fn keyspace_arg(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
    db_closed: &Arc<AtomicBool>,
) -> PyResult<Option<lsm::Keyspace>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let ks = keyspace_ref(obj)?.get();
    let engine = ks.live(py)?;
    ks.check_db(py, db_closed)?;
    Ok(Some(engine.clone()))
}

/// `obj` as an `lsm.Keyspace`, else `TypeError` saying what it is.
pub fn keyspace_ref<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, Keyspace>> {
    obj.cast::<Keyspace>().map_err(|_| {
        PyTypeError::new_err(format!(
            "keyspace must be an lsm.Keyspace (from db.keyspace(name)) or None, not {}",
            type_name(obj)
        ))
    })
}

impl Keyspace {
    /// The engine's keyspace, or `ClosedError` / the dropped error.
    pub fn live(&self, py: Python<'_>) -> PyResult<&lsm::Keyspace> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        if self.ks.is_dropped() {
            return Err(dropped(py, &self.ks));
        }
        Ok(&self.ks)
    }

    /// The `close()` flag of its database.
    pub fn db_closed(&self) -> Arc<AtomicBool> {
        self.db_closed.clone()
    }

    /// `InvalidArgumentError` unless it belongs to the database whose `close()` flag
    /// is `db_closed`.
    pub fn check_db(&self, py: Python<'_>, db_closed: &Arc<AtomicBool>) -> PyResult<()> {
        if Arc::ptr_eq(&self.db_closed, db_closed) {
            Ok(())
        } else {
            Err(invalid(
                py,
                format!(
                    "keyspace {:?} belongs to another database ({})",
                    self.ks.name(),
                    self.ks.db().path().display()
                ),
            ))
        }
    }

    fn cursor(
        &self,
        py: Python<'_>,
        mode: Mode,
        reverse: bool,
        bounds: Bounds,
    ) -> PyResult<Cursor> {
        let ks = self.live(py)?;
        let raw = call(py, || Ok(ks.raw_iter()))?;
        Ok(Cursor::new(
            raw,
            mode,
            reverse,
            bounds,
            self.db_closed.clone(),
            None,
        ))
    }
}

#[pymethods]
impl Keyspace {
    /// Opens the keyspace `name` of `db`, creating it with `options` (the per-keyspace
    /// config keys, first dot as an underscore) over the database's if it does not
    /// exist. Use `db.keyspace(name, **options)`.
    #[new]
    #[pyo3(signature = (db, name, **options))]
    fn new(
        py: Python<'_>,
        db: &Bound<'_, Db>,
        name: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Keyspace> {
        let name = name_arg(name, "keyspace name")?;
        let pairs = keyspace_options(py, options)?;
        let d = db.get();
        let lsm = d.lsm(py)?;
        // The engine's answer as a value (a panic is still caught by `call`), so a
        // bad option value names the keyword it came from.
        let opened = call(py, || {
            Ok(if pairs.is_empty() {
                lsm.keyspace(&name)
            } else {
                lsm.keyspace_with(&name, |o| pairs.iter().try_for_each(|(k, v)| o.set(k, v)))
            })
        })?;
        let ks = opened.map_err(|e| match e {
            LsmError::Config { key, reason } => {
                config_error(py, format!("option {:?} ({key}): {reason}", py_name(&key)))
            }
            other => to_py(py, other),
        })?;
        Ok(Keyspace {
            ks,
            db: db.clone().unbind(),
            db_closed: d.closed_flag(),
        })
    }

    /// Lets the garbage collector see the database reference, so a cycle through it
    /// (`db.users = db.keyspace("users")`) is collected (and the database closed).
    /// The reference never changes: the cycle is broken at its other, mutable end.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.db)
    }

    /// The value of `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        let v = call(py, || ks.get_pinned(k))?;
        Ok(value_or(py, v, default))
    }

    /// The values of `keys`, as a list in the same order with `None` for a missing
    /// key, all read at one point in time.
    fn multi_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let ks = self.live(py)?;
        crate::bytes::multi_get(py, keys, |keys| ks.multi_get_pinned(keys))
    }

    /// Sets `key` to `value`; with `ttl` (seconds), until that long from now.
    #[pyo3(signature = (key, value, *, sync=false, ttl=None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        sync: bool,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let v = byte_arg(value, "value")?;
        let ttl = ttl.map(crate::bytes::ttl_arg).transpose()?;
        let (k, v) = (k.as_slice(), v.as_slice());
        match ttl {
            None => call(py, || ks.put_opt(k, v, lsm::WriteOptions { sync })),
            Some(t) if !sync => call(py, || ks.put_with_ttl(k, v, t)),
            Some(t) => {
                let mut b = lsm::WriteBatch::new();
                b.put_with_ttl_in(ks, k, v, t);
                call(py, || {
                    ks.db().write_opt(b, lsm::WriteOptions { sync: true })
                })
            }
        }
    }

    /// Merges `operand` into `key` with the keyspace's merge operator.
    fn merge(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        operand: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let v = byte_arg(operand, "operand")?;
        let (k, v) = (k.as_slice(), v.as_slice());
        call(py, || ks.merge(k, v))
    }

    /// Deletes `key` (a missing key is not an error).
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        call(py, || ks.delete(k))
    }

    /// Deletes every key in `[start, end)`.
    fn delete_range(
        &self,
        py: Python<'_>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ks = self.live(py)?;
        let s = byte_arg(start, "start")?;
        let e = byte_arg(end, "end")?;
        let (s, e) = (s.as_slice(), e.as_slice());
        call(py, || ks.delete_range(s, e))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let bounds = Bounds::from_slice(slice)?;
            return Ok(Py::new(py, self.cursor(py, Mode::Items, false, bounds)?)?.into_any());
        }
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let kk = k.as_slice();
        match call(py, || ks.get_pinned(kk))? {
            Some(v) => Ok(PyBytes::new(py, &v).into_any().unbind()),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, key, value, false, None)
    }

    /// Like `delete`: no `KeyError` for a missing key (that would cost a read).
    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.delete(py, key)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let ks = self.live(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        Ok(call(py, || ks.get(k))?.is_some())
    }

    /// Counts the keys: a full scan.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.cursor(py, Mode::Keys, false, Bounds::default())?
            .count(py)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Cursor> {
        self.cursor(py, Mode::Keys, false, Bounds::default())
    }

    fn __reversed__(&self, py: Python<'_>) -> PyResult<Cursor> {
        self.cursor(py, Mode::Keys, true, Bounds::default())
    }

    /// `(key, value)` pairs in key order.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false))]
    fn items(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Items, reverse, b)
    }

    /// Keys in key order.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false))]
    fn keys(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Keys, reverse, b)
    }

    /// Values in key order.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false))]
    fn values(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<Cursor> {
        let b = Bounds::new(start, stop, prefix)?;
        self.cursor(py, Mode::Values, reverse, b)
    }

    /// `(key, value)` pairs, like `items`.
    #[pyo3(signature = (*, start=None, stop=None, prefix=None, reverse=false))]
    fn iter(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<Cursor> {
        self.items(py, start, stop, prefix, reverse)
    }

    /// Compacts the keyspace (or its keys in `[start, end]`) and waits.
    #[pyo3(signature = (start=None, end=None))]
    fn compact(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ks = self.live(py)?;
        let s = opt_bytes(start, "start")?;
        let e = opt_bytes(end, "end")?;
        call(py, || ks.compact_range(s.as_deref(), e.as_deref()))
    }

    /// About how many entries the keyspace holds, from metadata (no scan).
    fn approximate_len(&self, py: Python<'_>) -> PyResult<u64> {
        let ks = self.live(py)?;
        call(py, || Ok(ks.approximate_len()))
    }

    /// Its name.
    #[getter]
    fn name(&self) -> String {
        self.ks.name().to_string()
    }

    /// The database it belongs to.
    #[getter]
    fn db(&self, py: Python<'_>) -> Py<Db> {
        self.db.clone_ref(py)
    }

    /// True once the keyspace was dropped (`db.drop_keyspace(name)`).
    #[getter]
    fn dropped(&self) -> bool {
        self.ks.is_dropped()
    }

    // asyncio: each returns a future of `loop`, completed from the engine's runtime.

    fn _aget(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?.clone();
        let k = byte_arg(key, "key")?.as_slice().to_vec();
        submit(
            py,
            self.ks.db(),
            loop_,
            move |_| ks.get(&k),
            |py, v| Ok(value_or(py, v, None)),
        )
    }

    fn _aput(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?.clone();
        let mut b = lsm::WriteBatch::new();
        b.put_in(
            &ks,
            byte_arg(key, "key")?.as_slice(),
            byte_arg(value, "value")?.as_slice(),
        );
        submit(py, self.ks.db(), loop_, move |db| db.write(b), unit)
    }

    fn _adelete(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?.clone();
        let k = byte_arg(key, "key")?.as_slice().to_vec();
        submit(py, self.ks.db(), loop_, move |_| ks.delete(&k), unit)
    }

    fn _adelete_range(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?.clone();
        let s = byte_arg(start, "start")?.as_slice().to_vec();
        let e = byte_arg(end, "end")?.as_slice().to_vec();
        submit(
            py,
            self.ks.db(),
            loop_,
            move |_| ks.delete_range(&s, &e),
            unit,
        )
    }

    fn _acompact(&self, py: Python<'_>, loop_: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ks = self.live(py)?.clone();
        submit(py, self.ks.db(), loop_, move |_| ks.compact(), unit)
    }
}

fn unit(py: Python<'_>, _: ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}
