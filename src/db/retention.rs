//! `wal.retention`: which flushed WAL segments go, and where the change feed's
//! history starts.

use super::DbInner;
use crate::wal;
use std::path::PathBuf;
use std::time::SystemTime;

impl DbInner {
    /// Of the flushed segments `flushed` (ascending; their writes are in tables), the
    /// paths of those `wal.retention` no longer keeps: all of them by default; with a
    /// size, the oldest past that many bytes of newer flushed segments; with an age,
    /// those last written longer ago than that.
    pub(super) fn past_retention(&self, flushed: Vec<u64>) -> Vec<PathBuf> {
        let r = self.config.wal.retention;
        let path = |n| self.paths.wal_dir.join(wal::segment_file_name(n));
        if !r.keeps_any() {
            return flushed.into_iter().map(path).collect();
        }
        let now = SystemTime::now();
        let mut kept_bytes = 0u64;
        let mut doomed = Vec::new();
        let mut over_size = false;
        for n in flushed.into_iter().rev() {
            let p = path(n);
            let len = self.fs.open(&p).map(|f| f.len()).unwrap_or(0);
            kept_bytes = kept_bytes.saturating_add(len);
            over_size |= r.max_bytes.is_some_and(|max| kept_bytes > max);
            let too_old = r.max_age.is_some_and(|max| {
                // A file system that keeps no times keeps the segment.
                self.fs
                    .modified(&p)
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age > max)
            });
            if over_size || too_old {
                doomed.push(p);
            }
        }
        doomed.reverse();
        doomed
    }
}
