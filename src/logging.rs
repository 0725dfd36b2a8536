//! Logging setup: `log` records go to whatever log4rs configuration the database's
//! `directory.log` names. A missing file keeps logging quiet.
//!
//! Under tests, `LSM_LOG_CAPTURE=<level>` (set for every cargo command of this
//! repository by `.cargo/config.toml`) replaces log4rs with [`CaptureLogger`], which
//! writes each record with `eprintln!`. libtest captures that output per test (a thread
//! spawned by a test, such as the engine's runtime threads, inherits the capture) and
//! prints it only when the test fails, so a passing run is quiet and a failing test
//! shows the engine's log beside its panic.

use std::path::Path;
use std::sync::Once;

static INIT: Once = Once::new();

/// The environment variable that selects [`CaptureLogger`] and its level.
pub const CAPTURE_ENV: &str = "LSM_LOG_CAPTURE";

/// Installs the log4rs configuration at `path` once per process. Later opens (or a
/// logger the application installed itself) win over nothing: the first one stays.
pub fn init(path: &str) {
    if let Some(level) = std::env::var_os(CAPTURE_ENV) {
        let level = level.to_str().and_then(|l| l.parse().ok());
        INIT.call_once(|| CaptureLogger::install(level.unwrap_or(log::LevelFilter::Info)));
        return;
    }
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

/// Writes every record through `eprintln!`, the one stderr path the test harness
/// captures (log4rs's console appender writes to the file descriptor, which it cannot).
struct CaptureLogger;

impl CaptureLogger {
    fn install(level: log::LevelFilter) {
        // An application's (or a test's) own logger stays: `set_logger` fails then.
        if log::set_logger(&CaptureLogger).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl log::Log for CaptureLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let thread = std::thread::current();
            eprintln!(
                "{:<5} [{}] {} - {}",
                record.level(),
                thread.name().unwrap_or("?"),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}
