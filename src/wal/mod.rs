//! The write-ahead log: every batch is appended here before it reaches the memtable, so
//! that a crash loses no acknowledged write.
//!
//! The log is a sequence of segments `000001.log`, `000002.log`, ...; a new one starts
//! when the memtable is frozen, and one is deleted once its memtable is flushed. The
//! framing ([`format`]) is LevelDB's, 32 KiB blocks of checksummed fragments, with each
//! fragment naming its log and how much of the file was synced when it was framed
//! (v2); that lets recovery tell what a power cut left (a torn tail, or holes in the
//! unsynced end) from damage in the middle of the log.
//! [`LogWriter`] and [`read_log`] know nothing of batches, so the MANIFEST uses them too.

// Decoders of on-disk bytes: a bad byte must be an error value, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod format;
mod log_reader;
mod log_writer;
mod recovery;
mod writer;

pub use log_reader::read_log;
#[cfg(any(test, feature = "fuzzing"))]
pub use log_writer::encode_log_v1;
pub use log_writer::LogWriter;
pub use recovery::replay_segments;
pub use writer::WriteAheadLogger;

/// File name of WAL segment `n`, e.g. `000042.log`.
pub fn segment_file_name(n: u64) -> String {
    format!("{n:06}.log")
}

/// The segment number of a WAL segment file name, or `None` for any other name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    // Only names `segment_file_name` produces, so `+1.log` or `1.log` are not taken for
    // segments and deleted or replayed by mistake.
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.parse().ok()?;
    (segment_file_name(n) == name).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_file_names_round_trip() {
        for n in [0, 1, 42, 999_999, 1_000_000, u64::MAX] {
            let name = segment_file_name(n);
            assert_eq!(parse_segment_file_name(&name), Some(n), "{name}");
        }
        assert_eq!(segment_file_name(7), "000007.log");
        for bad in [
            "1.log",
            "0000001.log",
            "+00001.log",
            "000001.sst",
            "000001.log.tmp",
            "abcdef.log",
            ".log",
            "MANIFEST-000001",
            "99999999999999999999.log",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }
}
