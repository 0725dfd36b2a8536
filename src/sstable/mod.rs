//! Sorted string tables: immutable files of internal entries in key order, with a
//! bloom filter, the range tombstones of the same key range, and an index.
//!
//! [`TableBuilder`] writes one; [`SSTable`] opens it for point lookups and
//! [`TableIterator`] walks it. The byte layout lives in `format` and
//! `docs/FORMAT.md`.

// Decoders of on-disk bytes: a bad byte must be an error value, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod block;
mod block_builder;
mod bloom;
mod builder;
mod format;
mod index;
mod iter;
mod reader;

#[cfg(test)]
mod tests;

pub use block::Block;
pub(crate) use bloom::BloomFilter;
pub use builder::{TableBuilder, TableOptions};
pub use format::METADATA_BLOCK_SIZE;
pub(crate) use index::Index;
pub use iter::TableIterator;
pub use reader::SSTable;
