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

/// The exclusive upper bound of the keys starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
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
            if let Some(pe) = prefix_end(&p) {
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

struct State {
    raw: RawIterator,
    started: bool,
    done: bool,
    error: Option<LsmError>,
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    chunk: usize,
}

/// Items per chunk: small at first (a loop that stops early reads little), growing.
const FIRST_CHUNK: usize = 8;
const MAX_CHUNK: usize = 256;

/// An iterator over a database or a snapshot (`lsm.Iterator`).
#[pyclass(frozen, module = "lsm", name = "Iterator")]
pub struct Cursor {
    state: Mutex<State>,
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
                buf: VecDeque::new(),
                chunk: FIRST_CHUNK,
            }),
            mode,
            reverse,
            bounds,
            db_closed,
            _snapshot: snapshot,
        }
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
                Vec::new()
            } else {
                raw.value().to_vec()
            };
            let k = if self.mode == Mode::Values {
                Vec::new()
            } else {
                k.to_vec()
            };
            st.buf.push_back((k, v));
            if self.reverse {
                raw.prev();
            } else {
                raw.next();
            }
        }
    }

    fn convert(&self, py: Python<'_>, (k, v): (Vec<u8>, Vec<u8>)) -> PyResult<Py<PyAny>> {
        Ok(match self.mode {
            Mode::Keys => PyBytes::new(py, &k).into_any().unbind(),
            Mode::Values => PyBytes::new(py, &v).into_any().unbind(),
            Mode::Items => PyTuple::new(py, [PyBytes::new(py, &k), PyBytes::new(py, &v)])?
                .into_any()
                .unbind(),
        })
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
                let mut st = self.lock();
                if let Some(item) = st.buf.pop_front() {
                    drop(st);
                    return self.convert(py, item).map(Some);
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
