//! `lsm`: an embedded key-value storage engine built as a log-structured merge tree.

pub mod batch;
pub(crate) mod coding;
pub mod config;
pub mod error;
pub mod fs;
pub(crate) mod iter;
pub(crate) mod key;
pub(crate) mod range_del;
pub(crate) mod sstable;

pub use batch::WriteBatch;
pub use error::{LsmError, Result};
