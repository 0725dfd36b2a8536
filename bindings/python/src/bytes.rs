//! Bytes-like arguments. The engine reads them with the GIL released, when any other
//! Python thread may run, so only memory nobody can change is lent to it as is: a
//! `bytes` object, or a read-only `memoryview` of one. Everything else that exports a
//! buffer of unsigned bytes (`bytearray`, a writable or read-only `memoryview` of
//! one, `array('B')`, `mmap`, a NumPy array) is copied while the GIL is still held,
//! since another thread could write it during the call; a read-only flag on a view
//! says nothing about its exporter, so when in doubt it is a copy.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

/// A byte string for an engine call; `as_slice` is valid while `self` lives.
pub enum ByteArg<'a> {
    Bytes(&'a [u8]),
    /// A read-only, C-contiguous view of a `bytes` object: immutable memory, kept
    /// alive and in place by the export until the buffer is released.
    Immutable(PyBuffer<u8>),
    Copied(Vec<u8>),
}

impl ByteArg<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ByteArg::Bytes(b) => b,
            ByteArg::Immutable(buf) => {
                // SAFETY: the buffer is C-contiguous (checked when it was taken), its
                // `len_bytes` bytes start at `buf_ptr`, the export keeps them alive and
                // in place until `buf` is released, which outlives the slice, and the
                // exporter is a `bytes`, which no one can write.
                unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) }
            }
            ByteArg::Copied(v) => v,
        }
    }
}

/// True for a `memoryview` that views a `bytes` object: the one buffer besides
/// `bytes` itself whose memory cannot change during a call.
fn views_bytes(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyMemoryView>().is_ok()
        && obj
            .getattr("obj")
            .is_ok_and(|exporter| exporter.cast::<PyBytes>().is_ok())
}

/// `obj` as bytes, or `TypeError: {what} must be bytes-like, not {type}`.
pub fn byte_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<ByteArg<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(ByteArg::Bytes(b.as_bytes()));
    }
    if let Ok(buf) = PyBuffer::<u8>::get(obj) {
        if buf.readonly() && buf.is_c_contiguous() && views_bytes(obj) {
            return Ok(ByteArg::Immutable(buf));
        }
        // Copied now, with the GIL held: no Python thread can write it meanwhile.
        return Ok(ByteArg::Copied(buf.to_vec(obj.py())?));
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes-like, not {type_name}"
    )))
}

/// An optional bytes-like argument (`None` stays `None`), copied.
pub fn opt_bytes(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<u8>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => Ok(Some(byte_arg(o, what)?.as_slice().to_vec())),
    }
}

/// The value found, as `bytes`, or `default` (`None` when not given) for a missing key.
/// A pinned value is copied once, straight into the new `bytes`.
pub fn value_or<V: AsRef<[u8]>>(
    py: Python<'_>,
    v: Option<V>,
    default: Option<Py<PyAny>>,
) -> Py<PyAny> {
    match v {
        Some(v) => PyBytes::new(py, v.as_ref()).into_any().unbind(),
        None => default.unwrap_or_else(|| py.None()),
    }
}

/// A time to live in seconds (an int or a float, more than 0 and finite) as a
/// duration; `TypeError` for another type, `ValueError` for a bad number.
pub fn ttl_arg(obj: &Bound<'_, PyAny>) -> PyResult<std::time::Duration> {
    use pyo3::types::{PyBool, PyFloat, PyInt};
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>())
    {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "ttl must be a number of seconds (int or float), not {}",
            obj.get_type().name()?
        )));
    }
    let secs: f64 = obj.extract()?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "ttl must be a positive, finite number of seconds, got {secs}"
        )));
    }
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("ttl {secs}: {e}")))
}

/// A `multi_get` of the Python classes: `keys`, any iterable of bytes-like objects,
/// looked up by `lookup` with the GIL released, as a list of `bytes` (each value
/// copied once) and `None`. `bytes` keys are lent as they are, like a single get's.
pub fn multi_get<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    lookup: impl FnOnce(&[&[u8]]) -> lsm::Result<Vec<Option<lsm::PinnedValue>>> + Send,
) -> PyResult<Bound<'py, pyo3::types::PyList>> {
    let not_iterable = |_| {
        let type_name = keys
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        PyTypeError::new_err(format!(
            "keys must be an iterable of bytes-like objects, not {type_name}"
        ))
    };
    let objects: Vec<Bound<'py, PyAny>> = keys
        .try_iter()
        .map_err(not_iterable)?
        .collect::<PyResult<_>>()?;
    let args: Vec<ByteArg<'_>> = objects
        .iter()
        .enumerate()
        .map(|(i, k)| match k.cast::<PyBytes>() {
            Ok(b) => Ok(ByteArg::Bytes(b.as_bytes())),
            // Named only when it is not `bytes`: no string built per key otherwise.
            Err(_) => byte_arg(k, &format!("keys[{i}]")),
        })
        .collect::<PyResult<_>>()?;
    let slices: Vec<&[u8]> = args.iter().map(ByteArg::as_slice).collect();
    let values = crate::call::call(py, || lookup(&slices))?;
    pyo3::types::PyList::new(py, values.into_iter().map(|v| value_or(py, v, None)))
}
