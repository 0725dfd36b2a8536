//! `Failure`: the error of every command of `lsm`. Each variant decides the exit status
//! (`Failure::exit_code`); `main` prints it as `lsm: error: ...`.

use lsm::LsmError;
use std::fmt;
use std::io;

/// Why a command failed, and so which exit status `lsm` returns.
#[derive(Debug)]
pub enum Failure {
    /// `get` of a missing key (exit status 3).
    NotFound(String),
    /// The engine refused or failed.
    Lsm(LsmError),
    /// A bad argument: an escape, a hex string, an option.
    Invalid(String),
    /// Writing the output failed.
    Io(io::Error),
}

impl Failure {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::NotFound(_) => 3,
            _ => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotFound(k) => write!(f, "key not found: {k}"),
            Failure::Lsm(e) => write!(f, "{e}"),
            Failure::Invalid(s) => write!(f, "{s}"),
            Failure::Io(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl From<LsmError> for Failure {
    fn from(e: LsmError) -> Self {
        Failure::Lsm(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}
