//! The C API: `liblsm.so` / `liblsm.a` and the header `include/lsm.h`, generated from
//! this module by cbindgen (see `build.rs` and `cbindgen.toml`).
//!
//! One file per handle type, each only translating to the Rust API:
//! [`options`] (`lsm_options`, a [`crate::Config`] in the making), [`db`] (`lsm_db`, an
//! [`crate::Lsm`]), [`batch`] (`lsm_write_batch`), [`snapshot`] (`lsm_snapshot`),
//! [`iter`] (`lsm_iterator`, a [`crate::RawIterator`]), [`transaction`]
//! (`lsm_transaction`), [`keyspace`] (`lsm_keyspace`, a [`crate::Keyspace`], with
//! the `_ks` forms of the other handles' calls) and [`changes`] (`lsm_changes`, a
//! [`crate::Subscription`]: the change feed). [`boundary`] holds what every
//! function shares: the status enum, the thread-local error message, the one helper
//! that catches panics, and the argument checks.
//!
//! # Safety contract (stated once, for every `unsafe extern "C" fn` here)
//!
//! A handle argument is NULL or a pointer this library returned and that has not been
//! freed or closed; a `(pointer, length)` pair is NULL with length 0 or `length`
//! readable bytes; a `const char *` is NULL or NUL-terminated; an out-pointer is NULL
//! or writable. NULL where a value is required is `LSM_INVALID_ARGUMENT`, never a crash.
//! An `lsm_db`, an `lsm_snapshot`, an `lsm_keyspace` or an `lsm_transaction` may be
//! used by many threads at once (its free function waits for the calls running, see
//! [`gate`]); an iterator, a change feed, a batch or an options object by one thread
//! at a time, and freeing one while another thread uses it is the caller's bug.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// The safety contract of the exported functions is the one above and in the header.
#![allow(clippy::missing_safety_doc)]
// The exported names are C names (`lsm_db`, `lsm_status`, `LSM_OK`).
#![allow(non_camel_case_types)]

// The order here is the order of the header.
pub mod boundary;

mod gate;

pub mod options;

pub mod db;

pub mod batch;

pub mod snapshot;

pub mod iter;

pub mod transaction;

pub mod keyspace;

pub mod merge;

pub mod filter;

pub mod changes;

pub mod pinned;
