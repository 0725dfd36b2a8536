//! The manifest: version edits, the current `Version`, and the `CURRENT` swap.

// Decoders of on-disk bytes: a bad byte must be an error value, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod version;
mod version_edit;
mod version_set;

pub use version::{TableFile, Version};
pub use version_edit::{FileMeta, KeyspaceMeta, VersionEdit};
pub use version_set::DEFAULT_KEYSPACE;
#[cfg(any(test, feature = "fuzzing"))]
pub use version_set::MANIFEST_VERSION_V1;
pub use version_set::{set_current, write_manifest, VersionSet};
