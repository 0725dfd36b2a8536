//! The one place that builds and parses the names of the database's files.

use std::path::{Path, PathBuf};

/// `CURRENT`: names the live manifest.
pub const CURRENT: &str = "CURRENT";
/// `LOCK`: held for the life of an open handle.
pub const LOCK: &str = "LOCK";
/// Suffix of files being written that are not yet referenced.
pub const TEMP_SUFFIX: &str = ".tmp";

/// `MANIFEST-000007`.
pub fn manifest(root: &Path, number: u64) -> PathBuf {
    root.join(format!("MANIFEST-{number:06}"))
}

/// The number of a manifest file name.
pub fn parse_manifest(name: &str) -> Option<u64> {
    name.strip_prefix("MANIFEST-")?.parse().ok()
}

/// `000012.sst`.
pub fn table(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

/// The number of a table file name.
pub fn parse_table(name: &str) -> Option<u64> {
    name.strip_suffix(".sst")?.parse().ok()
}

/// The temporary file written before `CURRENT` is replaced.
pub fn current_temp(root: &Path) -> PathBuf {
    root.join(format!("{CURRENT}{TEMP_SUFFIX}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let m = manifest(Path::new("db"), 7);
        assert_eq!(m, PathBuf::from("db/MANIFEST-000007"));
        assert_eq!(parse_manifest("MANIFEST-000007"), Some(7));
        assert_eq!(parse_table("000012.sst"), Some(12));
        assert_eq!(parse_table("12.log"), None);
        assert_eq!(
            table(Path::new("t"), 1234567),
            PathBuf::from("t/1234567.sst")
        );
    }
}
