//! Runs one database command on an open database; shared by the command line and the
//! shell, so both print exactly the same.

use crate::args::{ChangesArgs, DbCommand, ScanArgs};
use crate::escape;
use crate::failure::Failure;
use lsm::{ChangeBatch, ChangeKind, FileKind, Keyspace, Lsm};
use std::io::Write;
use std::ops::Bound;

/// The bytes of a key or value argument.
pub fn bytes(arg: &str) -> Result<Vec<u8>, Failure> {
    escape::parse(arg).map_err(Failure::Invalid)
}

/// Runs `cmd` on `db`, printing its output to `out`.
pub fn run(db: &Lsm, cmd: &DbCommand, out: &mut dyn Write) -> Result<(), Failure> {
    match cmd {
        DbCommand::Put {
            key,
            value,
            keyspace,
        } => {
            let ks = match keyspace {
                Some(name) => db.keyspace(name)?,
                None => db.keyspace("default")?,
            };
            ks.put(&bytes(key)?, &bytes(value)?)?
        }
        DbCommand::Get { key, keyspace } => {
            let k = bytes(key)?;
            match existing(db, keyspace.as_deref())?.get(&k)? {
                Some(v) => writeln!(out, "{}", escape::show(&v))?,
                None => return Err(Failure::NotFound(escape::show(&k))),
            }
        }
        DbCommand::Delete { key, keyspace } => {
            existing(db, keyspace.as_deref())?.delete(&bytes(key)?)?
        }
        DbCommand::Keyspaces => {
            for name in db.keyspaces() {
                writeln!(out, "{name}")?;
            }
        }
        DbCommand::Scan(args) => scan(&existing(db, args.keyspace.as_deref())?, args, out)?,
        DbCommand::Stats => write!(out, "{}", db.stats())?,
        DbCommand::Flush => db.flush()?,
        DbCommand::Compact { start, end } => compact(db, start.as_ref(), end.as_ref())?,
        DbCommand::Verify => verify(db, out)?,
        DbCommand::Changes(args) => changes(db, args, out)?,
    }
    Ok(())
}

/// The keyspace `name` (`None`: "default"), which must exist: reading or deleting
/// in a misspelt keyspace is an error, not an empty answer.
fn existing(db: &Lsm, name: Option<&str>) -> Result<Keyspace, Failure> {
    let name = name.unwrap_or("default");
    if !db.keyspaces().iter().any(|n| n == name) {
        return Err(Failure::Invalid(format!(
            "keyspace {name:?} does not exist (lsm keyspaces lists them)"
        )));
    }
    Ok(db.keyspace(name)?)
}

fn compact(db: &Lsm, start: Option<&String>, end: Option<&String>) -> Result<(), Failure> {
    let start = start.map(|a| bytes(a)).transpose()?;
    let end = end.map(|b| bytes(b)).transpose()?;
    db.compact_range(start.as_deref(), end.as_deref())?;
    Ok(())
}

fn scan(db: &Keyspace, args: &ScanArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let iter = if let Some(p) = &args.prefix {
        db.prefix(&bytes(p)?)
    } else {
        let lo = match &args.start {
            Some(a) => Bound::Included(bytes(a)?),
            None => Bound::Unbounded,
        };
        let hi = match &args.end {
            Some(b) => Bound::Excluded(bytes(b)?),
            None => Bound::Unbounded,
        };
        db.range::<Vec<u8>, _>((lo, hi))
    };
    type KeyValue = lsm::Result<(Vec<u8>, Vec<u8>)>;
    let iter: Box<dyn Iterator<Item = KeyValue>> = if args.reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    for item in iter.take(args.limit.unwrap_or(usize::MAX)) {
        let (k, v) = item?;
        writeln!(out, "{}\t{}", escape::show(&k), escape::show(&v))?;
    }
    Ok(())
}

fn changes(db: &Lsm, args: &ChangesArgs, out: &mut dyn Write) -> Result<(), Failure> {
    if !args.follow {
        for batch in db.changes_since(args.since)? {
            print_batch(&batch?, out)?;
        }
        return Ok(());
    }
    // The history, then each batch as it commits, flushed at once: until the process
    // is interrupted (or the database closes, which ends the subscription).
    for batch in db.subscribe_since(b"", args.since)? {
        print_batch(&batch?, out)?;
        out.flush()?;
    }
    Ok(())
}

/// One line per operation: `SEQ KEYSPACE KIND KEY [VALUE | END]`, tab-separated, keys
/// and values escaped (so a tab in one shows as \x09).
fn print_batch(batch: &ChangeBatch, out: &mut dyn Write) -> Result<(), Failure> {
    for op in batch.ops() {
        let keyspace = match op.keyspace() {
            "" => "(dropped)",
            name => name,
        };
        let (kind, last) = match op.kind() {
            ChangeKind::Put => ("put", op.value()),
            ChangeKind::Merge => ("merge", op.value()),
            ChangeKind::Delete => ("delete", None),
            ChangeKind::DeleteRange => ("delete_range", op.end()),
        };
        write!(
            out,
            "{}\t{keyspace}\t{kind}\t{}",
            op.seq(),
            escape::show(op.key())
        )?;
        match last {
            Some(v) => writeln!(out, "\t{}", escape::show(v))?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

fn verify(db: &Lsm, out: &mut dyn Write) -> Result<(), Failure> {
    let report = db.verify()?;
    for f in &report.files {
        let kind = match f.kind {
            FileKind::Table => "table",
            FileKind::Wal => "wal",
            FileKind::Manifest => "manifest",
        };
        write!(
            out,
            "{kind:<8} {} {} bytes, {} entries",
            f.path.display(),
            f.bytes,
            f.entries
        )?;
        match &f.md5 {
            Some(md5) => writeln!(out, ", md5 {md5}")?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "ok: {} files, {} bytes, every checksum matches",
        report.files.len(),
        report.total_bytes
    )?;
    Ok(())
}
