//! Logging setup: `log` records go to whatever log4rs configuration the database's
//! `directory.log` names. A missing file keeps logging quiet.

use std::path::Path;
use std::sync::Once;

static INIT: Once = Once::new();

/// Installs the log4rs configuration at `path` once per process. Later opens (or a
/// logger the application installed itself) win over nothing: the first one stays.
pub fn init(path: &str) {
    if path.is_empty() || !Path::new(path).is_file() {
        return;
    }
    INIT.call_once(|| {
        if let Err(e) = log4rs::init_file(path, Default::default()) {
            // Logging is optional: a bad file must not stop the database.
            eprintln!("lsm: ignoring logging configuration {path}: {e}");
        }
    });
}
