//! Iteration: a `RawIterator` walked in small chunks with the GIL released, handed
//! to Python one item at a time.

use crate::bytes::opt_bytes;
use crate::errors::{closed, panicked, to_py};
use lsm::{LsmError, RawIterator, Snapshot};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice, PyTuple};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What an iterator yields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Keys,
    Values,
    Items,
}

/// `[lower, upper)`; `None` is unbounded.
#[derive(Default)]
pub struct Bounds {
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

impl Bounds {
    /// The keys in `[start, stop)` that also start with `prefix`.
    pub fn new(
        start: Option<&Bound<'_, PyAny>>,
        stop: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bounds> {
        let mut lower = opt_bytes(start, "start")?;
        let mut upper = opt_bytes(stop, "stop")?;
        if let Some(p) = opt_bytes(prefix, "prefix")? {
            if lower.as_ref().is_none_or(|l| *l < p) {
                lower = Some(p.clone());
            }
            if let Some(pe) = lsm::prefix_end(&p) {
                if upper.as_ref().is_none_or(|u| *u > pe) {
                    upper = Some(pe);
                }
            }
        }
        Ok(Bounds { lower, upper })
    }

    /// The bounds of `db[start:stop]`; a step is a `TypeError`.
    pub fn from_slice(slice: &Bound<'_, PySlice>) -> PyResult<Bounds> {
        let step = slice.getattr("step")?;
        if !step.is_none() {
            return Err(PyTypeError::new_err(
                "slicing a database takes no step: use db[start:stop] (or items(reverse=True))",
            ));
        }
        let start = slice.getattr("start")?;
        let stop = slice.getattr("stop")?;
        Bounds::new(Some(&start), Some(&stop), None)
    }
}

/// Items read from the engine, back to back in one buffer: a chunk costs two
/// allocations at most, not two per item.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Per item: (key start, key end = value start, value end) in `bytes`.
    items: Vec<(usize, usize, usize)>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn push(&mut self, k: &[u8], v: &[u8]) {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(k);
        self.bytes.extend_from_slice(v);
        self.items.push((s, s + k.len(), s + k.len() + v.len()));
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

struct State {
    raw: RawIterator,
    started: bool,
    done: bool,
    error: Option<LsmError>,
    buf: Chunk,
    chunk: usize,
}

/// Items per chunk: small at first (a loop that stops early reads little), growing.
const FIRST_CHUNK: usize = 8;
const MAX_CHUNK: usize = 256;

/// An iterator over a database or a snapshot (`lsm.Iterator`).
#[pyclass(frozen, module = "lsm", name = "Iterator")]
pub struct Cursor {
    state: Mutex<State>,
    /// Items already turned into Python objects, handed out one per `__next__`.
    ready: Mutex<VecDeque<Py<PyAny>>>,
    mode: Mode,
    reverse: bool,
    bounds: Bounds,
    /// Set when the database handle is closed.
    db_closed: Arc<AtomicBool>,
    /// Keeps the snapshot the iterator reads alive.
    _snapshot: Option<Arc<Snapshot>>,
}

impl Cursor {
    pub fn new(
        raw: RawIterator,
        mode: Mode,
        reverse: bool,
        bounds: Bounds,
        db_closed: Arc<AtomicBool>,
        snapshot: Option<Arc<Snapshot>>,
    ) -> Cursor {
        let empty = matches!((&bounds.lower, &bounds.upper), (Some(l), Some(u)) if l >= u);
        Cursor {
            state: Mutex::new(State {
                raw,
                started: false,
                done: empty,
                error: None,
                buf: Chunk::default(),
                chunk: FIRST_CHUNK,
            }),
            ready: Mutex::new(VecDeque::new()),
            mode,
            reverse,
            bounds,
            db_closed,
            _snapshot: snapshot,
        }
    }

    fn ready_lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Py<PyAny>>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover the state if it ever did.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the next chunk into the buffer. Called without the GIL.
    fn fill(&self, st: &mut State) {
        let raw = &mut st.raw;
        if !st.started {
            st.started = true;
            if self.reverse {
                match &self.bounds.upper {
                    Some(u) => {
                        raw.seek_for_prev(u);
                        if raw.valid() && raw.key() == u.as_slice() {
                            raw.prev();
                        }
                    }
                    None => raw.seek_to_last(),
                }
            } else {
                match &self.bounds.lower {
                    Some(l) => raw.seek(l),
                    None => raw.seek_to_first(),
                }
            }
        }
        let want = st.chunk;
        st.chunk = (st.chunk * 2).min(MAX_CHUNK);
        while st.buf.len() < want {
            if !raw.valid() {
                st.done = true;
                st.error = raw.status().err();
                return;
            }
            let k = raw.key();
            let out = if self.reverse {
                self.bounds.lower.as_deref().is_some_and(|l| k < l)
            } else {
                self.bounds.upper.as_deref().is_some_and(|u| k >= u)
            };
            if out {
                st.done = true;
                return;
            }
            let v = if self.mode == Mode::Keys {
                &[][..]
            } else {
                raw.value()
            };
            let k = if self.mode == Mode::Values {
                &[][..]
            } else {
                k
            };
            st.buf.push(k, v);
            if self.reverse {
                raw.prev();
            } else {
                raw.next();
            }
        }
    }

    fn convert(&self, py: Python<'_>, k: &[u8], v: &[u8]) -> PyResult<Py<PyAny>> {
        Ok(match self.mode {
            Mode::Keys => PyBytes::new(py, k).into_any().unbind(),
            Mode::Values => PyBytes::new(py, v).into_any().unbind(),
            Mode::Items => PyTuple::new(py, [PyBytes::new(py, k), PyBytes::new(py, v)])?
                .into_any()
                .unbind(),
        })
    }

    /// Turns a whole chunk into Python objects (with the GIL, without the state lock:
    /// creating objects may run arbitrary Python code through the garbage collector).
    fn convert_chunk(&self, py: Python<'_>, chunk: &Chunk) -> PyResult<VecDeque<Py<PyAny>>> {
        let mut out = VecDeque::with_capacity(chunk.len());
        for &(ks, ke, ve) in &chunk.items {
            let (k, v) = (&chunk.bytes[ks..ke], &chunk.bytes[ke..ve]);
            out.push_back(self.convert(py, k, v)?);
        }
        Ok(out)
    }

    /// The next item, or `None` at the end.
    pub fn next_item(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if self.db_closed.load(Ordering::Acquire) {
                return Err(closed(py));
            }
            {
                // Never held while the GIL is released (that could deadlock with a
                // thread holding the GIL and waiting for this lock).
                if let Some(item) = self.ready_lock().pop_front() {
                    return Ok(Some(item));
                }
                let mut st = self.lock();
                if st.buf.len() > 0 {
                    let chunk = std::mem::take(&mut st.buf);
                    drop(st);
                    let objects = self.convert_chunk(py, &chunk);
                    // Hand the buffer back, emptied, so its capacity is reused.
                    let mut chunk = chunk;
                    chunk.clear();
                    {
                        let mut st = self.lock();
                        if st.buf.len() == 0 {
                            st.buf = chunk;
                        }
                    }
                    // Appended, not replaced: items of one chunk never get lost, even if
                    // two threads share one iterator.
                    self.ready_lock().extend(objects?);
                    continue;
                }
                if st.done {
                    return match st.error.take() {
                        Some(e) => Err(to_py(py, e)),
                        None => Ok(None),
                    };
                }
            }
            let r = py.detach(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    let mut st = self.lock();
                    self.fill(&mut st);
                }))
            });
            if let Err(p) = r {
                self.lock().done = true;
                return Err(panicked(py, p));
            }
        }
    }

    /// Counts the remaining items (for `len()`), without the GIL.
    pub fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let r = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut st = self.lock();
                let mut n = 0usize;
                n += std::mem::take(&mut *self.ready_lock()).len();
                loop {
                    n += st.buf.len();
                    st.buf.clear();
                    if st.done {
                        return match st.error.take() {
                            Some(e) => Err(e),
                            None => Ok(n),
                        };
                    }
                    st.chunk = MAX_CHUNK;
                    self.fill(&mut st);
                }
            }))
        });
        match r {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(to_py(py, e)),
            Err(p) => Err(panicked(py, p)),
        }
    }
}

#[pymethods]
impl Cursor {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next_item(py)
    }
}
