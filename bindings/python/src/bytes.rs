//! Bytes-like arguments: `bytes` borrowed as is, anything exporting a buffer of
//! unsigned bytes (`bytearray`, `memoryview`, `array('B')`) through the buffer
//! protocol, without copying when the buffer is contiguous.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A borrowed byte string; `as_slice` is valid while `self` lives.
pub enum ByteArg<'a> {
    Bytes(&'a [u8]),
    /// The exporter cannot be resized while the buffer is held (a `bytearray` raises
    /// `BufferError`), so the memory stays put while the GIL is released.
    Buffer(PyBuffer<u8>),
    Copied(Vec<u8>),
}

impl ByteArg<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ByteArg::Bytes(b) => b,
            ByteArg::Buffer(buf) => {
                // SAFETY: the buffer is C-contiguous (checked when it was taken), its
                // `len_bytes` bytes start at `buf_ptr`, and the export keeps them alive
                // and in place until `buf` is released, which outlives the slice.
                unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) }
            }
            ByteArg::Copied(v) => v,
        }
    }
}

/// `obj` as bytes, or `TypeError: {what} must be bytes-like, not {type}`.
pub fn byte_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<ByteArg<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(ByteArg::Bytes(b.as_bytes()));
    }
    if let Ok(buf) = PyBuffer::<u8>::get(obj) {
        if buf.is_c_contiguous() {
            return Ok(ByteArg::Buffer(buf));
        }
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
