//! Tools for looking inside the files of a database: what `lsm dump` prints, in the
//! spirit of RocksDB's `sst_dump` and `ldb dump_wal`.
//!
//! [`dump_file`] decodes one file — a WAL segment, an SSTable or a manifest — into
//! readable lines. It reads the file on its own, with no database open, so it also
//! works on a copy, on a database another process holds, or on a damaged file (it then
//! prints what it could read and returns the `Corruption` error).
//!
//! ```no_run
//! let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
//! lsm::tools::dump_file(
//!     std::path::Path::new("data/ss_tables/000007.sst"),
//!     &mut std::io::stdout(),
//!     &show,
//! )?;
//! # Ok::<(), lsm::LsmError>(())
//! ```

use crate::batch::{BatchOp, DecodedBatch};
use crate::error::{LsmError, Result};
use crate::fs::{FileSystem, OsFs};
use crate::iter::InternalIterator;
use crate::key::{self, ValueKind};
use crate::manifest::VersionEdit;
use crate::sstable::SSTable;
use crate::wal;
use std::io::Write;
use std::path::Path;

/// What kind of file [`detect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// A write-ahead log segment (`NNNNNN.log`).
    Wal,
    /// A sorted string table (`NNNNNN.sst`).
    Table,
    /// A manifest (`MANIFEST-NNNNNN`).
    Manifest,
}

/// The kind of the file at `path`: by its name (`*.log`, `*.sst`, `MANIFEST-*`), and
/// otherwise by its contents (a WAL segment header, or a table footer).
pub fn detect(path: &Path) -> Result<DumpKind> {
    detect_on(&OsFs, path)
}

/// [`detect`] for a file on `fs` (for example a `lsm::fs::MemFs` (feature `sim`) in a test).
pub fn detect_on(fs: &dyn FileSystem, path: &Path) -> Result<DumpKind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".log") {
        return Ok(DumpKind::Wal);
    }
    if name.ends_with(".sst") {
        return Ok(DumpKind::Table);
    }
    if name.starts_with("MANIFEST-") {
        return Ok(DumpKind::Manifest);
    }
    let data = fs
        .read_all(path)
        .map_err(|e| LsmError::io_at("read", path, e))?;
    let log = wal::read_log(&data, path, log_number(path, &data));
    if let Some((_, first)) = log.records.first() {
        if wal::format::decode_segment_header(first).is_ok() {
            return Ok(DumpKind::Wal);
        }
    }
    if SSTable::open(fs, path, 0).is_ok() {
        return Ok(DumpKind::Table);
    }
    Err(LsmError::InvalidArgument(format!(
        "{} is not a WAL segment, an SSTable or a manifest",
        path.display()
    )))
}

/// Writes a readable dump of the file at `path` to `out`, one item per line; `show`
/// renders keys and values (the `lsm` tool passes its escaping, which prints binary
/// bytes as `\xHH`).
///
/// - WAL segment: the header, then each record (one commit group) as
///   `batch seq=S count=N offset=O` followed by its operations
///   (`put K => V`, `delete K`, `delete_range A .. B`), then any damage and torn tail.
/// - SSTable: a summary (size, entries, key and sequence ranges), then each entry as
///   `K @ seq put => V` or `K @ seq delete`, then the range tombstones.
/// - Manifest: each version edit.
///
/// Damage is printed where it is met and then returned as a `Corruption` error.
pub fn dump_file(path: &Path, out: &mut dyn Write, show: &dyn Fn(&[u8]) -> String) -> Result<()> {
    dump_file_on(&OsFs, path, out, show)
}

/// [`dump_file`] for a file on `fs`: the tools read through the same file-system seam
/// as the engine, so they can dump a file of a `lsm::fs::MemFs` (feature `sim`).
pub fn dump_file_on(
    fs: &dyn FileSystem,
    path: &Path,
    out: &mut dyn Write,
    show: &dyn Fn(&[u8]) -> String,
) -> Result<()> {
    match detect_on(fs, path)? {
        DumpKind::Wal => dump_wal(fs, path, out, show),
        DumpKind::Table => dump_table(fs, path, out, show),
        DumpKind::Manifest => dump_manifest(fs, path, out, show),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LsmError + '_ {
    move |e| LsmError::io(format!("write dump of {}", path.display()), e)
}

fn file_number(path: &Path) -> u64 {
    let name = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.trim_start_matches("MANIFEST-").parse().unwrap_or(0)
}

/// The number a log's fragments should carry: the one in its file name, else (a file
/// renamed by hand) the one its first fragment claims.
fn log_number(path: &Path, data: &[u8]) -> u64 {
    match file_number(path) {
        0 => wal::format::first_log_number(data).map_or(0, u64::from),
        n => n,
    }
}

fn dump_wal(
    fs: &dyn FileSystem,
    path: &Path,
    out: &mut dyn Write,
    show: &dyn Fn(&[u8]) -> String,
) -> Result<()> {
    let w = io(path);
    let data = fs
        .read_all(path)
        .map_err(|e| LsmError::io_at("read", path, e))?;
    let log = wal::read_log(&data, path, log_number(path, &data));
    writeln!(
        out,
        "# WAL segment {} ({} bytes)",
        path.display(),
        data.len()
    )
    .map_err(&w)?;
    let mut records = log.records.iter();
    match records.next() {
        Some((_, first)) => match wal::format::decode_segment_header(first) {
            Ok(h) => writeln!(
                out,
                "header: segment {}, format version {}",
                h.number, h.version
            ),
            Err(reason) => writeln!(out, "header: bad ({reason})"),
        }
        .map_err(&w)?,
        None => writeln!(out, "header: none (empty segment)").map_err(&w)?,
    }
    let (mut batches, mut ops, mut first_seq, mut last_seq) = (0u64, 0u64, None, 0u64);
    let mut malformed = None;
    for (offset, rec) in records {
        let parsed = DecodedBatch::parse(rec).and_then(|b| b.ops().map(|ops| (b.seq, ops)));
        let (seq, list) = match parsed {
            Ok(x) => x,
            Err(reason) => {
                writeln!(out, "bad record at offset {offset}: {reason}").map_err(&w)?;
                malformed.get_or_insert((*offset, reason));
                continue;
            }
        };
        writeln!(out, "batch seq={seq} count={} offset={offset}", list.len()).map_err(&w)?;
        for (i, (ks, op)) in list.iter().enumerate() {
            let s = seq + i as u64;
            let s = match ks {
                0 => s.to_string(),
                ks => format!("{s} [keyspace {ks}]"),
            };
            match op {
                BatchOp::Put(k, v) => writeln!(out, "  {s} put {} => {}", show(k), show(v)),
                BatchOp::Delete(k) => writeln!(out, "  {s} delete {}", show(k)),
                BatchOp::Merge(k, v) => writeln!(out, "  {s} merge {} => {}", show(k), show(v)),
                BatchOp::PutExpiring(k, raw) => match crate::ttl::split(raw) {
                    Some((at, v)) => writeln!(
                        out,
                        "  {s} put {} => {} (expires at {at} ms)",
                        show(k),
                        show(v)
                    ),
                    None => writeln!(out, "  {s} put {} (malformed expiry)", show(k)),
                },
                BatchOp::DeleteRange(a, b) => {
                    writeln!(out, "  {s} delete_range {} .. {}", show(a), show(b))
                }
            }
            .map_err(&w)?;
        }
        batches += 1;
        ops += list.len() as u64;
        first_seq.get_or_insert(seq);
        last_seq = last_seq.max(seq + (list.len() as u64).saturating_sub(1));
    }
    for d in &log.damage {
        writeln!(out, "damage at offset {}: {}", d.offset, d.reason).map_err(&w)?;
    }
    if let Some(t) = log.torn_tail {
        writeln!(out, "torn tail at offset {t} (an incomplete last record)").map_err(&w)?;
    }
    match first_seq {
        Some(f) => writeln!(out, "# {batches} batches, {ops} ops, seq {f}..={last_seq}"),
        None => writeln!(out, "# 0 batches"),
    }
    .map_err(&w)?;
    if let Some(d) = log.damage.first() {
        return Err(LsmError::corruption(path, d.offset, d.reason.clone()));
    }
    if let Some((offset, reason)) = malformed {
        return Err(LsmError::corruption(path, offset, reason));
    }
    Ok(())
}

fn kind_name(k: Option<ValueKind>) -> &'static str {
    match k {
        Some(ValueKind::Put) => "put",
        Some(ValueKind::Delete) => "delete",
        Some(ValueKind::RangeDelete) => "range_delete",
        Some(ValueKind::Merge) => "merge",
        Some(ValueKind::PutExpiring) => "put",
        None => "unknown",
    }
}

fn dump_table(
    fs: &dyn FileSystem,
    path: &Path,
    out: &mut dyn Write,
    show: &dyn Fn(&[u8]) -> String,
) -> Result<()> {
    let w = io(path);
    let table = SSTable::open(fs, path, file_number(path))?;
    // First pass: the summary.
    let (mut puts, mut deletes, mut merges) = (0u64, 0u64, 0u64);
    let (mut min_seq, mut max_seq) = (u64::MAX, 0u64);
    let (mut smallest, mut largest): (Option<Vec<u8>>, Vec<u8>) = (None, Vec::new());
    let mut it = table.iter();
    it.seek_to_first();
    while it.valid() {
        let k = it.key();
        match key::kind(k) {
            Some(ValueKind::Delete) => deletes += 1,
            Some(ValueKind::Merge) => merges += 1,
            _ => puts += 1,
        }
        min_seq = min_seq.min(key::seq(k));
        max_seq = max_seq.max(key::seq(k));
        if smallest.is_none() {
            smallest = Some(key::user_key(k).to_vec());
        }
        largest.clear();
        largest.extend_from_slice(key::user_key(k));
        it.next();
    }
    let first_pass = it.status();
    writeln!(out, "# SSTable {}", path.display()).map_err(&w)?;
    writeln!(out, "file number: {}", table.file_number()).map_err(&w)?;
    writeln!(out, "file size: {} bytes", table.file_size()).map_err(&w)?;
    writeln!(
        out,
        "format: {}, {} index partitions",
        table.format_version(),
        table.partitions()
    )
    .map_err(&w)?;
    writeln!(
        out,
        "entries: {} (footer), {puts} puts, {deletes} deletes, {merges} merges",
        table.entries()
    )
    .map_err(&w)?;
    writeln!(out, "range tombstones: {}", table.range_tombstones().len()).map_err(&w)?;
    if let Some(s) = &smallest {
        writeln!(out, "keys: {} .. {}", show(s), show(&largest)).map_err(&w)?;
        writeln!(out, "sequence numbers: {min_seq}..={max_seq}").map_err(&w)?;
    }
    first_pass?;
    writeln!(out, "# entries").map_err(&w)?;
    let mut it = table.iter();
    it.seek_to_first();
    while it.valid() {
        let k = it.key();
        let (uk, seq, kind) = (key::user_key(k), key::seq(k), key::kind(k));
        if kind == Some(ValueKind::PutExpiring) {
            match crate::ttl::split(it.value()) {
                Some((at, v)) => writeln!(
                    out,
                    "{} @ {seq} put => {} (expires at {at} ms)",
                    show(uk),
                    show(v)
                ),
                None => writeln!(out, "{} @ {seq} put (malformed expiry)", show(uk)),
            }
        } else if matches!(kind, Some(ValueKind::Put | ValueKind::Merge)) {
            let k = kind_name(kind);
            writeln!(out, "{} @ {seq} {k} => {}", show(uk), show(it.value()))
        } else {
            writeln!(out, "{} @ {seq} {}", show(uk), kind_name(kind))
        }
        .map_err(&w)?;
        it.next();
    }
    it.status()?;
    if !table.range_tombstones().is_empty() {
        writeln!(out, "# range tombstones").map_err(&w)?;
        for t in table.range_tombstones() {
            writeln!(
                out,
                "[{} .. {}) @ {} range_delete",
                show(&t.start),
                show(&t.end),
                t.seq
            )
            .map_err(&w)?;
        }
    }
    Ok(())
}

fn dump_manifest(
    fs: &dyn FileSystem,
    path: &Path,
    out: &mut dyn Write,
    show: &dyn Fn(&[u8]) -> String,
) -> Result<()> {
    let w = io(path);
    let data = fs
        .read_all(path)
        .map_err(|e| LsmError::io_at("read", path, e))?;
    let log = wal::read_log(&data, path, log_number(path, &data));
    writeln!(out, "# manifest {} ({} bytes)", path.display(), data.len()).map_err(&w)?;
    for (i, (offset, rec)) in log.records.iter().enumerate() {
        if i == 0 {
            writeln!(out, "header: {}", show(rec)).map_err(&w)?;
            continue;
        }
        let edit = VersionEdit::decode(rec).map_err(|r| LsmError::corruption(path, *offset, r))?;
        writeln!(out, "edit offset={offset}").map_err(&w)?;
        for (name, v) in [
            ("log_number", edit.log_number),
            ("next_file_number", edit.next_file_number),
            ("last_sequence", edit.last_sequence),
        ] {
            if let Some(v) = v {
                writeln!(out, "  {name} {v}").map_err(&w)?;
            }
        }
        if let Some(n) = edit.next_keyspace_id {
            writeln!(out, "  next_keyspace_id {n}").map_err(&w)?;
        }
        for k in &edit.created {
            let opts: Vec<String> = k.options.iter().map(|(a, b)| format!("{a}={b}")).collect();
            writeln!(
                out,
                "  create keyspace {} {:?} options [{}]",
                k.id,
                k.name,
                opts.join(", ")
            )
            .map_err(&w)?;
        }
        for id in &edit.dropped {
            writeln!(out, "  drop keyspace {id}").map_err(&w)?;
        }
        if let Some(id) = edit.keyspace {
            writeln!(out, "  keyspace {id}").map_err(&w)?;
        }
        for (id, n) in &edit.keyspace_logs {
            writeln!(out, "  keyspace {id} log_number {n}").map_err(&w)?;
        }
        for (level, n) in &edit.deleted {
            writeln!(out, "  delete L{level} {n:06}.sst").map_err(&w)?;
        }
        for (level, m) in &edit.added {
            let md5: String = m.md5.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(
                out,
                "  add L{level} {:06}.sst size={} entries={} seq={}..={} keys={} .. {} md5={md5}",
                m.number,
                m.size,
                m.entries,
                m.min_seq,
                m.max_seq,
                show(key::user_key(&m.smallest)),
                show(key::user_key(&m.largest)),
            )
            .map_err(&w)?;
        }
    }
    for d in &log.damage {
        writeln!(out, "damage at offset {}: {}", d.offset, d.reason).map_err(&w)?;
    }
    if let Some(t) = log.torn_tail {
        writeln!(out, "torn tail at offset {t}").map_err(&w)?;
    }
    if let Some(d) = log.damage.first() {
        return Err(LsmError::corruption(path, d.offset, d.reason.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::{Config, Lsm};
    use std::sync::Arc;

    /// The tools read through the seam: every file of a database on a `MemFs` dumps,
    /// and the dumps show what was written.
    #[test]
    fn dumps_the_files_of_a_database_on_a_mem_fs() {
        let fs = MemFs::new();
        let db = Lsm::open_on(Config::with_root("db"), Arc::new(fs.clone())).unwrap();
        db.put(b"in-a-table", b"v1").unwrap();
        db.flush().unwrap();
        db.put(b"in-the-wal", b"v2").unwrap();
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let dump = |path: &Path| {
            let mut out = Vec::new();
            dump_file_on(&fs, path, &mut out, &show).unwrap();
            String::from_utf8(out).unwrap()
        };
        let files = |dir: &str, suffix: &str| -> Vec<std::path::PathBuf> {
            fs.list_dir(Path::new(dir))
                .unwrap()
                .into_iter()
                .filter(|n| n.ends_with(suffix) || n.starts_with(suffix))
                .map(|n| Path::new(dir).join(n))
                .collect()
        };
        let tables = files("db/ss_tables", ".sst");
        assert_eq!(tables.len(), 1);
        assert_eq!(detect_on(&fs, &tables[0]).unwrap(), DumpKind::Table);
        assert!(dump(&tables[0]).contains("in-a-table"));
        let wal: String = files("db/wals", ".log").iter().map(|p| dump(p)).collect();
        assert!(wal.contains("in-the-wal"), "{wal}");
        let manifests = files("db", "MANIFEST-");
        assert_eq!(manifests.len(), 1);
        let manifest = dump(&manifests[0]);
        assert!(manifest.contains("edit offset="), "{manifest}");
        assert!(dump_file_on(&fs, Path::new("db/missing.sst"), &mut Vec::new(), &show).is_err());
        db.close().unwrap();
    }
}
