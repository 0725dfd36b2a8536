//! The manifest: version edits, the current `Version`, and the `CURRENT` swap.

mod version;
mod version_edit;
mod version_set;

pub use version::{TableFile, Version};
pub use version_edit::{FileMeta, VersionEdit};
pub use version_set::{set_current, write_manifest, VersionSet, MANIFEST_VERSION_V1};
