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
//!   7 keyspace created  id: varint | name: varint len ++ bytes | options: varint count
//!                       | (key: varint len ++ bytes | value: varint len ++ bytes){count}
//!   8 keyspace dropped  id: varint
//!   9 keyspace          id: varint  the keyspace tags 4 and 5 of this edit are about
//!                                   (absent: the keyspace "default", id 0)
//!  10 keyspace log      id: varint | log_number: varint   WAL segments below this number
//!                                   hold nothing of keyspace `id` that is not in tables
//!  11 next_keyspace_id  varint      ids below it were given out (never reused)
//!  12 merge_operator    varint len ++ UTF-8   the name of the database's merge operator
//! ```
//!
//! Tag 1 is the log number of the keyspace "default". Tag 6 is new in manifest format
//! version 2; tags 7 to 11 in version 3; tag 12 in version 4. Older manifests never
//! hold them.

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
    /// The keyspace `deleted` and `added` belong to (0, "default", when `None`).
    pub keyspace: Option<u32>,
    /// Per keyspace, WAL segments below this number hold nothing of it that is not in
    /// tables (`log_number` says it for keyspace 0 in older manifests).
    pub keyspace_logs: Vec<(u32, u64)>,
    /// Keyspaces created.
    pub created: Vec<KeyspaceMeta>,
    /// Keyspaces dropped, by id.
    pub dropped: Vec<u32>,
    /// The next unused keyspace id (kept so that ids of dropped keyspaces, which old
    /// WAL records may still name, are never given out again).
    pub next_keyspace_id: Option<u32>,
    /// The name of the merge operator the database was opened with (recorded the
    /// first time it is opened with one).
    pub merge_operator: Option<String>,
}

/// What the manifest knows about a keyspace: its id, name and own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyspaceMeta {
    /// Never reused, so a stale reference cannot reach a newer keyspace.
    pub id: u32,
    /// 1-64 bytes of `[A-Za-z0-9_.-]`.
    pub name: String,
    /// The options set at creation, as `(dotted key, value)`, applied over the
    /// database's.
    pub options: Vec<(String, String)>,
}

const TAG_LOG_NUMBER: u64 = 1;
const TAG_NEXT_FILE: u64 = 2;
const TAG_LAST_SEQ: u64 = 3;
const TAG_DELETED: u64 = 4;
const TAG_ADDED: u64 = 5;
const TAG_WAL_SEGMENT: u64 = 6;
const TAG_KEYSPACE_CREATED: u64 = 7;
const TAG_KEYSPACE_DROPPED: u64 = 8;
const TAG_KEYSPACE: u64 = 9;
const TAG_KEYSPACE_LOG: u64 = 10;
const TAG_NEXT_KEYSPACE: u64 = 11;
const TAG_MERGE_OPERATOR: u64 = 12;

impl VersionEdit {
    /// The encoding logged in the manifest.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for k in &self.created {
            put_varint(&mut out, TAG_KEYSPACE_CREATED);
            put_varint(&mut out, u64::from(k.id));
            put_length_prefixed(&mut out, k.name.as_bytes());
            put_varint(&mut out, k.options.len() as u64);
            for (key, value) in &k.options {
                put_length_prefixed(&mut out, key.as_bytes());
                put_length_prefixed(&mut out, value.as_bytes());
            }
        }
        for id in &self.dropped {
            put_varint(&mut out, TAG_KEYSPACE_DROPPED);
            put_varint(&mut out, u64::from(*id));
        }
        if let Some(id) = self.next_keyspace_id {
            put_varint(&mut out, TAG_NEXT_KEYSPACE);
            put_varint(&mut out, u64::from(id));
        }
        if let Some(name) = &self.merge_operator {
            put_varint(&mut out, TAG_MERGE_OPERATOR);
            put_length_prefixed(&mut out, name.as_bytes());
        }
        if let Some(id) = self.keyspace {
            put_varint(&mut out, TAG_KEYSPACE);
            put_varint(&mut out, u64::from(id));
        }
        for (id, n) in &self.keyspace_logs {
            put_varint(&mut out, TAG_KEYSPACE_LOG);
            put_varint(&mut out, u64::from(*id));
            put_varint(&mut out, *n);
        }
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
                TAG_KEYSPACE_CREATED => {
                    let id = keyspace_id(r.varint().ok_or_else(short)?)?;
                    let name = text(r.length_prefixed().ok_or_else(short)?)?;
                    let count = r.varint().ok_or_else(short)?;
                    let mut options = Vec::new();
                    for _ in 0..count {
                        let k = text(r.length_prefixed().ok_or_else(short)?)?;
                        let v = text(r.length_prefixed().ok_or_else(short)?)?;
                        options.push((k, v));
                    }
                    e.created.push(KeyspaceMeta { id, name, options });
                }
                TAG_KEYSPACE_DROPPED => {
                    e.dropped.push(keyspace_id(r.varint().ok_or_else(short)?)?);
                }
                TAG_NEXT_KEYSPACE => {
                    e.next_keyspace_id = Some(keyspace_id(r.varint().ok_or_else(short)?)?);
                }
                TAG_MERGE_OPERATOR => {
                    e.merge_operator = Some(text(r.length_prefixed().ok_or_else(short)?)?);
                }
                TAG_KEYSPACE => e.keyspace = Some(keyspace_id(r.varint().ok_or_else(short)?)?),
                TAG_KEYSPACE_LOG => {
                    let id = keyspace_id(r.varint().ok_or_else(short)?)?;
                    e.keyspace_logs.push((id, r.varint().ok_or_else(short)?));
                }
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

fn keyspace_id(v: u64) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("keyspace id {v} out of range"))
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "keyspace name or option is not UTF-8".to_string())
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
            keyspace: Some(3),
            keyspace_logs: vec![(0, 5), (3, 11)],
            created: vec![KeyspaceMeta {
                id: 3,
                name: "users".into(),
                options: vec![("sstable.compression".into(), "lz4".into())],
            }],
            dropped: vec![2],
            next_keyspace_id: Some(4),
            merge_operator: Some("u64_add".into()),
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
