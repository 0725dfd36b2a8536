//! `lsm._lsm._Db`: the database handle. `lsm.DB` (Python) subclasses it and adds
//! the `MutableMapping` mixins, the context manager and the `async` methods.

use crate::asyncio::submit;
use crate::batch::Batch;
use crate::bytes::{byte_arg, value_or};
use crate::call::call;
use crate::changes::{seq_arg, Feed, Watch};
use crate::cursor::{Bounds, Cursor, Mode};
use crate::errors::{closed, config_error, to_py};
use crate::handle::DbHandle;
use crate::keyspace::name_arg;
use crate::snapshot::Snapshot;
use lsm::config::KEYS;
use lsm::{Config, Directories, FileKind, Lsm, LsmError, VerifyReport, WriteOptions};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PySlice, PyString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An open database.
#[pyclass(subclass, frozen, module = "lsm._lsm", name = "_Db")]
pub struct Db {
    db: Lsm,
    /// Set by `close()`; shared with the snapshots and iterators made from this handle.
    closed: Arc<AtomicBool>,
}

impl Drop for Db {
    /// Closes the engine with the GIL released: closing waits for the engine's jobs,
    /// and an asyncio job needs the GIL to hand back its result.
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let db = &self.db;
            Python::attach(|py| {
                py.detach(|| {
                    if let Err(e) = db.close() {
                        eprintln!(
                            "lsm: closing {} on garbage collection: {e}",
                            db.path().display()
                        );
                    }
                })
            });
        }
    }
}

/// The text `Config::set` takes for a keyword argument's value.
pub(crate) fn option_text(v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Some(if b.is_true() { "true" } else { "false" }.into()));
    }
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyString>() {
        return Ok(Some(v.str()?.to_string()));
    }
    if v.hasattr("__fspath__")? {
        return Ok(Some(v.call_method0("__fspath__")?.str()?.to_string()));
    }
    Ok(None)
}

/// The configuration `lsm.open(path, config=..., **options)` describes.
fn build_config(
    py: Python<'_>,
    path: PathBuf,
    config: Option<PathBuf>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Config> {
    let mut c = match config {
        Some(file) => {
            let mut c = Config::load(&file).map_err(|e| to_py(py, e))?;
            c.directory = Directories {
                log: c.directory.log.clone(),
                ..Directories::under(&path)
            };
            c
        }
        None => Config::with_root(&path),
    };
    let Some(options) = options else {
        return Ok(c);
    };
    for (name, value) in options.iter() {
        let name: String = name.extract()?;
        let key = name.replacen('_', ".", 1);
        if !KEYS.contains(&key.as_str()) {
            let known: Vec<String> = KEYS.iter().map(|k| k.replacen('.', "_", 1)).collect();
            return Err(config_error(
                py,
                format!("unknown option {name:?} (options: {})", known.join(", ")),
            ));
        }
        let Some(text) = option_text(&value)? else {
            let t = value.get_type().name()?.to_string();
            return Err(config_error(
                py,
                format!("option {name:?}: expected an int, a str or a bool, not {t}"),
            ));
        };
        c.set(&key, &text).map_err(|e| match e {
            LsmError::Config { reason, .. } => {
                config_error(py, format!("option {name:?} ({key}): {reason}"))
            }
            other => to_py(py, other),
        })?;
    }
    Ok(c)
}

fn verify_dict(py: Python<'_>, report: VerifyReport) -> PyResult<Py<PyAny>> {
    let files = PyList::empty(py);
    for f in report.files {
        let d = PyDict::new(py);
        d.set_item("path", f.path.to_string_lossy())?;
        let kind = match f.kind {
            FileKind::Table => "table",
            FileKind::Wal => "wal",
            FileKind::Manifest => "manifest",
        };
        d.set_item("kind", kind)?;
        d.set_item("bytes", f.bytes)?;
        d.set_item("entries", f.entries)?;
        d.set_item("md5", f.md5)?;
        files.append(d)?;
    }
    let d = PyDict::new(py);
    d.set_item("files", files)?;
    d.set_item("total_bytes", report.total_bytes)?;
    Ok(d.into_any().unbind())
}

impl Db {
    /// The flag `close()` sets, for the objects made from this handle.
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

    fn cursor(
        &self,
        py: Python<'_>,
        mode: Mode,
        reverse: bool,
        bounds: Bounds,
    ) -> PyResult<Cursor> {
        let db = self.lsm(py)?;
        let raw = call(py, || Ok(db.raw_iter()))?;
        Ok(Cursor::new(
            raw,
            mode,
            reverse,
            bounds,
            self.closed.clone(),
            None,
        ))
    }
}

#[pymethods]
impl Db {
    #[new]
    #[pyo3(signature = (path, *, config=None, **options))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        config: Option<PathBuf>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Db> {
        let c = build_config(py, path, config, options)?;
        let db = call(py, move || Lsm::open_with_config(c))?;
        Ok(Db {
            db,
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The value of `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        let v = call(py, || db.get_pinned(k))?;
        Ok(value_or(py, v, default))
    }

    /// The values of `keys` (an iterable of bytes-like keys), as a list in the same
    /// order with `None` for a missing key, all read at one point in time.
    fn multi_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let db = self.lsm(py)?;
        crate::bytes::multi_get(py, keys, |keys| db.multi_get_pinned(keys))
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
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let v = byte_arg(value, "value")?;
        let ttl = ttl.map(crate::bytes::ttl_arg).transpose()?;
        let (k, v) = (k.as_slice(), v.as_slice());
        match (sync, ttl) {
            (false, None) => call(py, || db.put(k, v)),
            (false, Some(t)) => call(py, || db.put_with_ttl(k, v, t)),
            (true, t) => {
                let mut b = lsm::WriteBatch::new();
                match t {
                    Some(t) => b.put_with_ttl(k, v, t),
                    None => b.put(k, v),
                };
                call(py, || db.write_opt(b, WriteOptions { sync: true }))
            }
        }
    }

    /// Merges `operand` into `key` with the database's merge operator
    /// (`merge_operator="u64_add"` at open); without one, `InvalidArgumentError`.
    fn merge(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        operand: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let v = byte_arg(operand, "operand")?;
        let (k, v) = (k.as_slice(), v.as_slice());
        call(py, || db.merge(k, v))
    }

    /// Deletes `key` (a missing key is not an error).
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        call(py, || db.delete(k))
    }

    /// Deletes every key in `[start, end)`.
    fn delete_range(
        &self,
        py: Python<'_>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let db = self.lsm(py)?;
        let s = byte_arg(start, "start")?;
        let e = byte_arg(end, "end")?;
        let (s, e) = (s.as_slice(), e.as_slice());
        call(py, || db.delete_range(s, e))
    }

    /// Applies `batch` atomically (the batch keeps its operations).
    #[pyo3(signature = (batch, *, sync=false))]
    fn write(&self, py: Python<'_>, batch: &Bound<'_, Batch>, sync: bool) -> PyResult<()> {
        let db = self.lsm(py)?;
        let ops = batch.get().ops_for(py, &self.closed)?;
        call(py, || db.write_opt(ops, WriteOptions { sync }))
    }

    /// A batch that commits when its `with` block exits cleanly.
    #[pyo3(signature = (*, sync=false))]
    fn write_batch(slf: &Bound<'_, Self>, sync: bool) -> PyResult<Batch> {
        slf.get().lsm(slf.py())?;
        let me = slf.get();
        Ok(Batch::bound_to(
            DbHandle::new(me.db.clone(), me.closed.clone()),
            sync,
        ))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let bounds = Bounds::from_slice(slice)?;
            return Ok(Py::new(py, self.cursor(py, Mode::Items, false, bounds)?)?.into_any());
        }
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let ks = k.as_slice();
        match call(py, || db.get_pinned(ks))? {
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
        let db = self.lsm(py)?;
        let k = byte_arg(key, "key")?;
        let k = k.as_slice();
        Ok(call(py, || db.get(k))?.is_some())
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

    /// A consistent read-only view of the database as it is now.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        let db = self.lsm(py)?;
        let snap = call(py, || Ok(db.snapshot()))?;
        Ok(Snapshot::new(snap, self.closed.clone()))
    }

    /// fsyncs every acknowledged write.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.lsm(py)?;
        call(py, || db.sync())
    }

    /// Writes the memtable to an SSTable and waits.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.lsm(py)?;
        call(py, || db.flush())
    }

    /// Compacts everything (or the keys in `[start, end]`) and waits.
    #[pyo3(signature = (start=None, end=None))]
    fn compact(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let db = self.lsm(py)?;
        let s = crate::bytes::opt_bytes(start, "start")?;
        let e = crate::bytes::opt_bytes(end, "end")?;
        if s.is_none() && e.is_none() {
            call(py, || db.compact())
        } else {
            call(py, || db.compact_range(s.as_deref(), e.as_deref()))
        }
    }

    /// A consistent, openable copy in `path` (which must not exist).
    fn checkpoint(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let db = self.lsm(py)?;
        call(py, || db.checkpoint(&path))
    }

    /// Reads every file and checks every checksum.
    fn verify(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let db = self.lsm(py)?;
        let report = call(py, || db.verify())?;
        verify_dict(py, report)
    }

    /// About how many entries the database holds, from metadata (no scan): table
    /// entries plus memtable entries, overwritten versions and deletions included
    /// until a compaction drops them. `len(db)` is the exact count (a full scan).
    fn approximate_len(&self, py: Python<'_>) -> PyResult<u64> {
        let db = self.lsm(py)?;
        call(py, || Ok(db.approximate_len()))
    }

    /// About how many bytes of tables hold keys in `[start, stop)` (`None` is
    /// unbounded), from metadata: whole tables whose key range overlaps it; data not
    /// yet flushed is not counted.
    #[pyo3(signature = (start=None, stop=None))]
    fn approximate_size(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let db = self.lsm(py)?;
        let s = crate::bytes::opt_bytes(start, "start")?;
        let e = crate::bytes::opt_bytes(stop, "stop")?;
        call(py, || Ok(db.approximate_size(s.as_deref(), e.as_deref())))
    }

    fn _stats_json(&self, py: Python<'_>) -> PyResult<String> {
        let db = self.lsm(py)?;
        call(py, || Ok(db.stats().to_json()))
    }

    /// A named property (`"lsm.stats"`, `"lsm.stats.json"`), or None.
    fn get_property(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
        let db = self.lsm(py)?;
        call(py, || Ok(db.property(name)))
    }

    /// The names of the keyspaces, `"default"` first, then in creation order.
    fn keyspaces(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let db = self.lsm(py)?;
        call(py, || Ok(db.keyspaces()))
    }

    /// Drops the keyspace `name` and all its data, durably. `InvalidArgumentError`
    /// for `"default"` or a keyspace that does not exist.
    fn drop_keyspace(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = name_arg(name, "keyspace name")?;
        let db = self.lsm(py)?;
        call(py, || db.drop_keyspace(&name))
    }

    /// The sequence number of the last committed write (0 for a database never
    /// written): `changes(since=latest_sequence() + 1)` holds what commits next.
    fn latest_sequence(&self, py: Python<'_>) -> PyResult<u64> {
        let db = self.lsm(py)?;
        call(py, || Ok(db.latest_sequence()))
    }

    /// The committed batches from sequence number `since` on, oldest first, up to the
    /// last one committed now. `ChangesPurgedError` when that history is no longer
    /// kept (see the option `wal_retention`).
    #[pyo3(signature = (*, since=None))]
    fn changes(&self, py: Python<'_>, since: Option<&Bound<'_, PyAny>>) -> PyResult<Feed> {
        let since = match since {
            Some(s) if !s.is_none() => seq_arg(s, "since")?,
            _ => 1,
        };
        let db = self.lsm(py)?;
        let feed = call(py, || db.changes_since(since))?;
        Ok(Feed::new(feed, self.closed.clone()))
    }

    /// The native half of `watch`: subscribed now, so nothing committed from here on
    /// is missed.
    #[pyo3(signature = (prefix=None))]
    fn _watch(&self, py: Python<'_>, prefix: Option<&Bound<'_, PyAny>>) -> PyResult<Watch> {
        let prefix = crate::bytes::opt_bytes(prefix, "prefix")?.unwrap_or_default();
        let db = self.lsm(py)?;
        let sub = call(py, || db.subscribe(&prefix))?;
        Watch::new(sub, self.closed.clone())
            .map_err(|e| to_py(py, LsmError::io("make the watch's socket pair", e)))
    }

    /// Flushes, stops background work and releases the lock; closing twice is fine.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let db = &self.db;
        call(py, || db.close())
    }

    /// True after `close()`.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.db.path().to_path_buf()
    }

    // asyncio: each returns a future of `loop`, completed from the engine's runtime.

    fn _aget(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?.as_slice().to_vec();
        submit(
            py,
            self.lsm(py)?,
            loop_,
            move |db| db.get(&k),
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
        let mut b = lsm::WriteBatch::new();
        b.put(
            byte_arg(key, "key")?.as_slice(),
            byte_arg(value, "value")?.as_slice(),
        );
        submit(py, self.lsm(py)?, loop_, move |db| db.write(b), unit)
    }

    fn _adelete(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let k = byte_arg(key, "key")?.as_slice().to_vec();
        submit(py, self.lsm(py)?, loop_, move |db| db.delete(&k), unit)
    }

    fn _adelete_range(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let s = byte_arg(start, "start")?.as_slice().to_vec();
        let e = byte_arg(end, "end")?.as_slice().to_vec();
        submit(
            py,
            self.lsm(py)?,
            loop_,
            move |db| db.delete_range(&s, &e),
            unit,
        )
    }

    #[pyo3(signature = (loop_, batch, sync=false))]
    fn _awrite(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        batch: &Bound<'_, Batch>,
        sync: bool,
    ) -> PyResult<Py<PyAny>> {
        let ops = batch.get().ops_for(py, &self.closed)?;
        submit(
            py,
            self.lsm(py)?,
            loop_,
            move |db| db.write_opt(ops, WriteOptions { sync }),
            unit,
        )
    }

    fn _aflush(&self, py: Python<'_>, loop_: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        submit(py, self.lsm(py)?, loop_, |db| db.flush(), unit)
    }

    fn _async(&self, py: Python<'_>, loop_: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        submit(py, self.lsm(py)?, loop_, |db| db.sync(), unit)
    }

    fn _acompact(&self, py: Python<'_>, loop_: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        submit(py, self.lsm(py)?, loop_, |db| db.compact(), unit)
    }

    fn _acheckpoint(
        &self,
        py: Python<'_>,
        loop_: &Bound<'_, PyAny>,
        path: PathBuf,
    ) -> PyResult<Py<PyAny>> {
        submit(
            py,
            self.lsm(py)?,
            loop_,
            move |db| db.checkpoint(&path),
            unit,
        )
    }

    fn _averify(&self, py: Python<'_>, loop_: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        submit(py, self.lsm(py)?, loop_, |db| db.verify(), verify_dict)
    }
}

fn unit(py: Python<'_>, _: ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}
