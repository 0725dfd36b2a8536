//! The change feed: `lsm.Change` and `lsm.ChangeOp` (a committed batch and its
//! operations, as Python objects made once), `lsm.ChangeFeed` (the history,
//! `db.changes(since=...)`) and `_Watch`, the native half of `db.watch(prefix=...)`.
//!
//! `_Watch` never blocks: `poll()` hands out a batch that is ready or leaves a waker
//! with the subscription. The waker writes a byte to a socket pair, whose read end
//! the asyncio loop watches (`loop.add_reader`, in `lsm/__init__.py`); the engine's
//! commit path so never takes the GIL, and no thread waits on behalf of the loop.

use crate::errors::{closed, panicked, to_py};
use lsm::{ChangeBatch, ChangeFeed, ChangeKind, LsmError, Subscription};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// One operation of a committed batch.
#[pyclass(frozen, module = "lsm", name = "ChangeOp")]
pub struct ChangeOp {
    /// Its sequence number.
    #[pyo3(get)]
    seq: u64,
    /// The keyspace's name (`"default"` for the database's own operations; `""` for
    /// a keyspace dropped before the feed read it).
    #[pyo3(get)]
    keyspace: Py<PyString>,
    /// `"put"`, `"delete"`, `"delete_range"` or `"merge"`.
    #[pyo3(get)]
    kind: Py<PyString>,
    /// The key; a range delete's start.
    #[pyo3(get)]
    key: Py<PyBytes>,
    /// A range delete's (exclusive) end, else `None`.
    #[pyo3(get)]
    end: Option<Py<PyBytes>>,
    /// A put's value or a merge's operand, else `None`.
    #[pyo3(get)]
    value: Option<Py<PyBytes>>,
}

#[pymethods]
impl ChangeOp {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = |o: &Option<Py<PyBytes>>| -> PyResult<String> {
            match o {
                Some(b) => Ok(b.bind(py).repr()?.to_string()),
                None => Ok("None".into()),
            }
        };
        Ok(format!(
            "ChangeOp(seq={}, keyspace={}, kind={}, key={}, end={}, value={})",
            self.seq,
            self.keyspace.bind(py).repr()?,
            self.kind.bind(py).repr()?,
            self.key.bind(py).repr()?,
            r(&self.end)?,
            r(&self.value)?
        ))
    }
}

/// One committed batch: its operations, with consecutive sequence numbers.
#[pyclass(frozen, module = "lsm", name = "Change")]
pub struct Change {
    /// The sequence number of its first operation.
    #[pyo3(get)]
    seq: u64,
    /// The sequence number of its last operation (of the whole batch, also when a
    /// watch hands out only the operations under its prefix): resume with
    /// `db.changes(since=last_seq + 1)`.
    #[pyo3(get)]
    last_seq: u64,
    /// Its operations, in commit order.
    #[pyo3(get)]
    ops: Py<PyTuple>,
}

#[pymethods]
impl Change {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Change(seq={}, last_seq={}, ops=<{} operations>)",
            self.seq,
            self.last_seq,
            self.ops.bind(py).len()
        )
    }
}

fn change(py: Python<'_>, b: ChangeBatch) -> PyResult<Change> {
    let mut ops = Vec::with_capacity(b.ops().len());
    for op in b.ops() {
        let kind = match op.kind() {
            ChangeKind::Put => intern!(py, "put"),
            ChangeKind::Delete => intern!(py, "delete"),
            ChangeKind::DeleteRange => intern!(py, "delete_range"),
            ChangeKind::Merge => intern!(py, "merge"),
        };
        let o = ChangeOp {
            seq: op.seq(),
            keyspace: PyString::new(py, op.keyspace()).unbind(),
            kind: kind.clone().unbind(),
            key: PyBytes::new(py, op.key()).unbind(),
            end: op.end().map(|e| PyBytes::new(py, e).unbind()),
            value: op.value().map(|v| PyBytes::new(py, v).unbind()),
        };
        ops.push(Py::new(py, o)?);
    }
    Ok(Change {
        seq: b.seq(),
        last_seq: b.last_seq(),
        ops: PyTuple::new(py, ops)?.unbind(),
    })
}

/// A sequence number argument: an `int` >= 0 (not a `bool`).
pub fn seq_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        let t = obj.get_type().name()?.to_string();
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {t}"
        )));
    }
    obj.extract::<u64>()
        .map_err(|_| PyValueError::new_err(format!("{what} must be >= 0, not {obj}")))
}

/// The committed batches from a sequence number on, oldest first, up to the last one
/// committed when it was made (`db.changes(since=...)`).
#[pyclass(frozen, module = "lsm", name = "ChangeFeed")]
pub struct Feed {
    /// Locked only with the GIL released (see `cursor.rs`).
    feed: Mutex<ChangeFeed>,
    db_closed: Arc<AtomicBool>,
}

impl Feed {
    pub fn new(feed: ChangeFeed, db_closed: Arc<AtomicBool>) -> Feed {
        Feed {
            feed: Mutex::new(feed),
            db_closed,
        }
    }
}

#[pymethods]
impl Feed {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Change>> {
        if self.db_closed.load(Ordering::Acquire) {
            return Err(closed(py));
        }
        let next = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                self.feed.lock().unwrap_or_else(|p| p.into_inner()).next()
            }))
        });
        match next {
            Ok(None) => Ok(None),
            Ok(Some(Ok(b))) => Ok(Some(change(py, b)?)),
            Ok(Some(Err(e))) => Err(to_py(py, e)),
            Err(p) => Err(panicked(py, p)),
        }
    }
}

/// Wakes a `_Watch`'s asyncio loop: one byte into the socket pair. Never blocks (a
/// full socket already holds a wake-up) and never takes the GIL.
struct SocketWake(UnixStream);

impl Wake for SocketWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = (&self.0).write(&[1]);
    }
}

struct WatchState {
    sub: Subscription,
    /// The read end, which the loop watches.
    reader: UnixStream,
    waker: Waker,
}

/// The native half of `db.watch(prefix=...)` (see `lsm.Watch`).
#[pyclass(frozen, module = "lsm._lsm", name = "_Watch")]
pub struct Watch {
    /// `None` once closed. Locked only with the GIL released.
    state: Mutex<Option<WatchState>>,
    fd: i32,
    db_closed: Arc<AtomicBool>,
}

impl Watch {
    pub fn new(sub: Subscription, db_closed: Arc<AtomicBool>) -> std::io::Result<Watch> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let fd = reader.as_raw_fd();
        Ok(Watch {
            state: Mutex::new(Some(WatchState {
                sub,
                reader,
                waker: Waker::from(Arc::new(SocketWake(writer))),
            })),
            fd,
            db_closed,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<WatchState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What `poll` found, without the GIL.
enum Polled {
    Batch(ChangeBatch),
    Pending,
    Ended,
    Failed(LsmError),
}

#[pymethods]
impl Watch {
    /// The file descriptor that becomes readable when `poll` may have a batch.
    fn fileno(&self) -> i32 {
        self.fd
    }

    /// The next batch if one is ready, else `None` (the descriptor becomes readable
    /// when one may be). `StopAsyncIteration` once the database or the watch is closed.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<Change>> {
        let polled = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut guard = self.lock();
                if self.db_closed.load(Ordering::Acquire) {
                    *guard = None;
                }
                let Some(st) = guard.as_mut() else {
                    return Polled::Ended;
                };
                // Drained first: a wake-up from now on is for this poll.
                let mut sink = [0u8; 64];
                loop {
                    match (&st.reader).read(&mut sink) {
                        Ok(0) => break,
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                let mut cx = Context::from_waker(&st.waker);
                match st.sub.poll_batch(&mut cx) {
                    Poll::Pending => Polled::Pending,
                    Poll::Ready(Ok(b)) => Polled::Batch(b),
                    Poll::Ready(Err(LsmError::Closed)) => {
                        *guard = None;
                        Polled::Ended
                    }
                    Poll::Ready(Err(e)) => {
                        *guard = None;
                        Polled::Failed(e)
                    }
                }
            }))
        });
        match polled {
            Ok(Polled::Batch(b)) => Ok(Some(change(py, b)?)),
            Ok(Polled::Pending) => Ok(None),
            Ok(Polled::Ended) => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
            Ok(Polled::Failed(e)) => Err(to_py(py, e)),
            Err(p) => Err(panicked(py, p)),
        }
    }

    /// Ends the watch: the subscription and the socket pair are released.
    fn close(&self, py: Python<'_>) {
        let state = py.detach(|| self.lock().take());
        drop(state);
    }

    /// True after `close()` (or once the watch ended).
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| self.lock().is_none())
    }
}
