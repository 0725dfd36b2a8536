//! `lsm._lsm`: the native half of the `lsm` Python package.
//!
//! It converts arguments, releases the GIL around every engine call and maps
//! `LsmError` to exceptions; `python/lsm/__init__.py` adds the Pythonic layer
//! (`MutableMapping`, the context manager, `async` methods, `stats()` as a dict).

// `unsafe` is allowed only where a module says why (the buffer protocol).
#![deny(unsafe_code)]

mod asyncio;
mod batch;
#[expect(
    unsafe_code,
    reason = "reads the memory of an immutable `bytes` object through the buffer protocol"
)]
mod bytes;
mod call;
mod changes;
mod cursor;
mod db;
mod errors;
mod handle;
mod keyspace;
mod snapshot;
mod transaction;

use pyo3::prelude::*;

#[pymodule]
fn _lsm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<db::Db>()?;
    m.add_class::<batch::Batch>()?;
    m.add_class::<snapshot::Snapshot>()?;
    m.add_class::<transaction::Transaction>()?;
    m.add_class::<transaction::TxKeyspace>()?;
    m.add_class::<keyspace::Keyspace>()?;
    m.add_class::<cursor::Cursor>()?;
    m.add_class::<changes::Change>()?;
    m.add_class::<changes::ChangeOp>()?;
    m.add_class::<changes::Feed>()?;
    m.add_class::<changes::Watch>()?;
    m.add_function(wrap_pyfunction!(errors::_register, m)?)?;
    let keys: Vec<String> = lsm::config::KEYS
        .iter()
        .map(|k| k.replacen('.', "_", 1))
        .collect();
    m.add("OPTIONS", keys)?;
    m.add("KEYSPACE_OPTIONS", keyspace::keyspace_option_names())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
