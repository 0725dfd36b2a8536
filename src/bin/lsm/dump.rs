//! `lsm dump FILE`: a WAL segment, an SSTable or a manifest as readable lines, with keys
//! and values escaped as everywhere else in the tool.

use crate::escape;
use crate::failure::Failure;
use std::io::Write;
use std::path::Path;

/// Dumps `file` to `out`. What was read before any damage is printed first.
pub fn run(file: &Path, out: &mut dyn Write) -> Result<(), Failure> {
    if !file.is_file() {
        return Err(Failure::Invalid(format!(
            "{}: no such file",
            file.display()
        )));
    }
    lsm::tools::dump_file(file, out, &escape::show)?;
    Ok(())
}
