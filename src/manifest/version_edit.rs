//! `VersionEdit`: one change to the set of live files, as logged in the manifest.
//!
//! ```text
//! edit  := field*
//! field := tag: varint, then by tag
//!   1 log_number        varint      WAL segments below this number are no longer needed
//!   2 next_file_number  varint
//!   3 last_sequence     varint
//!   4 deleted file      level: varint | number: varint
//!   5 new file          level: varint | number: varint | size: varint | entries: varint
//!                       | min_seq: varint | max_seq: varint
//!                       | smallest: varint len ++ internal key | largest: varint len ++ internal key
//!                       | md5: 16 bytes
//!   6 wal_segment       varint      a WAL segment was created: every segment from
//!                                   log_number up to this number must exist
//! ```
//!
//! Tag 6 is new in manifest format version 2; version 1 manifests never hold it.

use crate::coding::{put_length_prefixed, put_varint, Reader};

/// What the manifest knows about one SSTable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// File number (the name is `{number:06}.sst`).
    pub number: u64,
    /// Size in bytes.
    pub size: u64,
    /// Point entries.
    pub entries: u64,
    /// Smallest internal key (covering range deletions too).
    pub smallest: Vec<u8>,
    /// Largest internal key (covering range deletions too).
    pub largest: Vec<u8>,
    /// Smallest sequence number in the file.
    pub min_seq: u64,
    /// Largest sequence number in the file.
    pub max_seq: u64,
    /// md5 of the whole file, as `md5sum` prints it.
    pub md5: [u8; 16],
}

/// A change to the live file set and the counters beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// WAL segments numbered below this hold only flushed data.
    pub log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The last sequence number used.
    pub last_sequence: Option<u64>,
    /// The newest WAL segment created (recorded when it is created, so an open can
    /// tell a segment deleted by hand from one never written).
    pub wal_segment: Option<u64>,
    /// Files removed: `(level, number)`.
    pub deleted: Vec<(u32, u64)>,
    /// Files added: `(level, meta)`.
    pub added: Vec<(u32, FileMeta)>,
}

const TAG_LOG_NUMBER: u64 = 1;
const TAG_NEXT_FILE: u64 = 2;
const TAG_LAST_SEQ: u64 = 3;
const TAG_DELETED: u64 = 4;
const TAG_ADDED: u64 = 5;
const TAG_WAL_SEGMENT: u64 = 6;

impl VersionEdit {
    /// The encoding logged in the manifest.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, v) in [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE, self.next_file_number),
            (TAG_LAST_SEQ, self.last_sequence),
            (TAG_WAL_SEGMENT, self.wal_segment),
        ] {
            if let Some(v) = v {
                put_varint(&mut out, tag);
                put_varint(&mut out, v);
            }
        }
        for (level, number) in &self.deleted {
            put_varint(&mut out, TAG_DELETED);
            put_varint(&mut out, u64::from(*level));
            put_varint(&mut out, *number);
        }
        for (level, f) in &self.added {
            put_varint(&mut out, TAG_ADDED);
            put_varint(&mut out, u64::from(*level));
            for v in [f.number, f.size, f.entries, f.min_seq, f.max_seq] {
                put_varint(&mut out, v);
            }
            put_length_prefixed(&mut out, &f.smallest);
            put_length_prefixed(&mut out, &f.largest);
            out.extend_from_slice(&f.md5);
        }
        out
    }

    /// Decodes an edit; `Err` says what is malformed.
    pub fn decode(buf: &[u8]) -> Result<VersionEdit, String> {
        let mut r = Reader::new(buf);
        let mut e = VersionEdit::default();
        let short = || "version edit truncated".to_string();
        while !r.is_empty() {
            let tag = r.varint().ok_or_else(short)?;
            match tag {
                TAG_LOG_NUMBER => e.log_number = Some(r.varint().ok_or_else(short)?),
                TAG_NEXT_FILE => e.next_file_number = Some(r.varint().ok_or_else(short)?),
                TAG_LAST_SEQ => e.last_sequence = Some(r.varint().ok_or_else(short)?),
                TAG_WAL_SEGMENT => e.wal_segment = Some(r.varint().ok_or_else(short)?),
                TAG_DELETED => {
                    let level = level(r.varint().ok_or_else(short)?)?;
                    e.deleted.push((level, r.varint().ok_or_else(short)?));
                }
                TAG_ADDED => {
                    let level = level(r.varint().ok_or_else(short)?)?;
                    let mut n = [0u64; 5];
                    for v in &mut n {
                        *v = r.varint().ok_or_else(short)?;
                    }
                    let smallest = r.length_prefixed().ok_or_else(short)?.to_vec();
                    let largest = r.length_prefixed().ok_or_else(short)?.to_vec();
                    let mut md5 = [0u8; 16];
                    md5.copy_from_slice(r.bytes(16).ok_or_else(short)?);
                    e.added.push((
                        level,
                        FileMeta {
                            number: n[0],
                            size: n[1],
                            entries: n[2],
                            min_seq: n[3],
                            max_seq: n[4],
                            smallest,
                            largest,
                            md5,
                        },
                    ));
                }
                other => return Err(format!("unknown version edit tag {other}")),
            }
        }
        Ok(e)
    }
}

fn level(v: u64) -> Result<u32, String> {
    if v < 64 {
        Ok(v as u32)
    } else {
        Err(format!("level {v} out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_round_trip_and_cuts_never_decode_to_the_original() {
        let e = VersionEdit {
            log_number: Some(3),
            next_file_number: Some(9),
            last_sequence: Some(1 << 40),
            wal_segment: Some(12),
            deleted: vec![(0, 4)],
            added: vec![(
                1,
                FileMeta {
                    number: 8,
                    size: 1234,
                    entries: 10,
                    smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
                    largest: b"z\0\0\0\0\0\0\0\0".to_vec(),
                    min_seq: 1,
                    max_seq: 99,
                    md5: [7; 16],
                },
            )],
        };
        let enc = e.encode();
        assert_eq!(VersionEdit::decode(&enc).unwrap(), e);
        // Records are checksummed by the log, so a cut only has to decode to
        // something else (or fail), never panic.
        for cut in 0..enc.len() {
            assert_ne!(
                VersionEdit::decode(&enc[..cut]).ok(),
                Some(e.clone()),
                "cut {cut}"
            );
        }
    }
}
