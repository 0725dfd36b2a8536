//! File pins: while a checkpoint or a verification copies or reads files, deletions of
//! WAL segments and orphans wait in a list instead of happening, and the last pin to go
//! carries them out. Nothing ever blocks on a pin, so pinning cannot join a lock cycle
//! (a copier waiting for the WAL lock while a stalled writer waits for the flush that
//! waits for the copier).

use crate::fs::FileSystem;
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Default)]
struct PinState {
    pins: usize,
    deferred: Vec<PathBuf>,
}

/// Pins and the deletions they hold back.
#[derive(Default)]
pub(crate) struct FilePins {
    state: Mutex<PinState>,
}

/// Holds deletions back until dropped.
pub(crate) struct Pin<'a> {
    pins: &'a FilePins,
    fs: &'a dyn FileSystem,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let mut st = self.pins.state.lock();
        st.pins -= 1;
        if st.pins == 0 {
            let doomed = std::mem::take(&mut st.deferred);
            remove_all(self.fs, doomed);
        }
    }
}

impl FilePins {
    /// Holds deletions back until the returned pin is dropped.
    pub fn pin<'a>(&'a self, fs: &'a dyn FileSystem) -> Pin<'a> {
        self.state.lock().pins += 1;
        Pin { pins: self, fs }
    }

    /// Deletes `paths` (and syncs their directories) now, or when the last pin goes.
    pub fn delete(&self, fs: &dyn FileSystem, paths: Vec<PathBuf>) {
        let mut st = self.state.lock();
        if st.pins > 0 {
            st.deferred.extend(paths);
        } else {
            remove_all(fs, paths);
        }
    }
}

/// Deletion failures are logged, not returned: a file left behind is an orphan that the
/// next open removes, never a correctness problem.
fn remove_all(fs: &dyn FileSystem, paths: Vec<PathBuf>) {
    let mut dirs = BTreeSet::new();
    for p in paths {
        match fs.remove_file(&p) {
            Ok(()) => {
                log::debug!("deleted {}", p.display());
                dirs.insert(crate::fs::parent_dir(&p));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot delete {}: {e}", p.display()),
        }
    }
    for d in dirs {
        if let Err(e) = fs.sync_dir(&d) {
            log::warn!("cannot sync directory {}: {e}", d.display());
        }
    }
}
