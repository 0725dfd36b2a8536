//! Snapshot archives: one file holding a checkpoint of the state machine's database
//! and the openraft metadata that describes it (`docs/FORMAT.md`, "lsm-raft snapshot
//! archive").
//!
//! A snapshot is built by checkpointing the state machine's lsm database (hard links,
//! no copy of the data) and packing that directory into one file, which the leader
//! streams to a follower as the body of one HTTP request. Installing unpacks it into a
//! new directory that becomes the state machine in one atomic step (see
//! [`crate::store`]). Every file in the archive carries a CRC32C, and the archive ends
//! with a trailer, so a truncated or corrupted transfer is an error, never a state
//! machine with missing data.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::{Node, NodeId};
use openraft::SnapshotMeta;

const MAGIC: &[u8; 8] = b"LSMRSNAP";
const TRAILER: &[u8; 8] = b"LSMREND\0";
/// The archive format's version; readers accept this one.
pub const ARCHIVE_VERSION: u32 = 1;
// Bounds that a corrupt or hostile header cannot push past.
const MAX_META: u32 = 64 << 20;
const MAX_NAME: u16 = 4096;
const MAX_FILES: u32 = 1 << 20;

/// A snapshot's data as openraft carries it: an open archive file and its path.
///
/// The handle is opened when the snapshot is handed out, so a newer snapshot may
/// replace (unlink) the file while this one is still being streamed.
#[derive(Debug)]
pub struct SnapshotFile {
    /// The open archive.
    pub file: File,
    /// Where it was opened from.
    pub path: PathBuf,
}

impl SnapshotFile {
    /// Opens the archive at `path` for reading.
    pub fn open(path: &Path) -> io::Result<SnapshotFile> {
        Ok(SnapshotFile {
            file: File::open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Creates a new, empty file in `dir` to receive an archive into; its name ends in
    /// `.tmp`, so an open removes it if the node stops before installing it.
    pub fn create_in(dir: &Path) -> io::Result<SnapshotFile> {
        let path = dir.join(format!("recv-{}.tmp", unique()));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(SnapshotFile { file, path })
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Whether the archive is empty (nothing received yet).
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A second handle on the same archive, positioned at its start.
    pub fn reopen(&self) -> io::Result<SnapshotFile> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(SnapshotFile {
            file,
            path: self.path.clone(),
        })
    }
}

/// A name unique within this process and, with the pid and clock in it, across
/// restarts.
pub(crate) fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("snapshot archive {}: {what}", path.display()),
    )
}

/// Packs every file under `dir` with `meta` into the archive `out`, written under a
/// temporary name, fsynced and renamed into place, so `out` is whole or absent.
pub fn pack(dir: &Path, meta: &SnapshotMeta<NodeId, Node>, out: &Path) -> io::Result<u64> {
    let mut files = Vec::new();
    list_files(dir, Path::new(""), &mut files)?;
    files.sort();
    let tmp = out.with_extension("snap.tmp");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let meta_json = serde_json::to_vec(meta)?;
    w.write_all(MAGIC)?;
    w.write_all(&ARCHIVE_VERSION.to_le_bytes())?;
    w.write_all(&(meta_json.len() as u32).to_le_bytes())?;
    w.write_all(&meta_json)?;
    w.write_all(&crc32c::crc32c(&meta_json).to_le_bytes())?;
    w.write_all(&(files.len() as u32).to_le_bytes())?;
    let mut buf = vec![0u8; 1 << 20];
    for rel in &files {
        let name = rel
            .to_str()
            .ok_or_else(|| corrupt(rel, "file name is not UTF-8"))?;
        let name = name.replace(std::path::MAIN_SEPARATOR, "/");
        let mut f = File::open(dir.join(rel))?;
        let len = f.metadata()?.len();
        w.write_all(&(name.len() as u16).to_le_bytes())?;
        w.write_all(name.as_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        // The CRC precedes the data but is known only after it: a placeholder now,
        // patched in once the file has been read (once).
        let crc_at = w.stream_position()?;
        w.write_all(&[0; 4])?;
        let crc = stream_crc(&mut f, len, name.as_bytes(), &mut w, &mut buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", rel.display())))?;
        let end = w.stream_position()?;
        w.seek(SeekFrom::Start(crc_at))?;
        w.write_all(&crc.to_le_bytes())?;
        w.seek(SeekFrom::Start(end))?;
    }
    w.write_all(TRAILER)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    fs::rename(&tmp, out)?;
    sync_dir(out.parent().unwrap_or(Path::new(".")))?;
    Ok(size)
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(root, &rel, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_header(path: &Path, r: &mut impl Read) -> io::Result<SnapshotMeta<NodeId, Node>> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| corrupt(path, "shorter than its header"))?;
    if &magic != MAGIC {
        return Err(corrupt(path, "not a snapshot archive (bad magic)"));
    }
    let version = read_u32(r)?;
    if version != ARCHIVE_VERSION {
        return Err(corrupt(path, format!("unknown archive version {version}")));
    }
    let meta_len = read_u32(r)?;
    if meta_len > MAX_META {
        return Err(corrupt(
            path,
            format!("metadata length {meta_len} is implausible"),
        ));
    }
    let mut meta = vec![0u8; meta_len as usize];
    r.read_exact(&mut meta)
        .map_err(|_| corrupt(path, "truncated in its metadata"))?;
    if read_u32(r)? != crc32c::crc32c(&meta) {
        return Err(corrupt(path, "metadata checksum mismatch"));
    }
    serde_json::from_slice(&meta).map_err(|e| corrupt(path, format!("metadata: {e}")))
}

/// The metadata at the head of the archive `path`.
pub fn read_meta(path: &Path) -> io::Result<SnapshotMeta<NodeId, Node>> {
    read_header(path, &mut BufReader::new(File::open(path)?))
}

/// Unpacks the archive `path` into the directory `dest` (created; it must not exist),
/// checking every checksum and the trailer, and fsyncs what it wrote. Names that would
/// leave `dest` are refused.
pub fn unpack(path: &Path, dest: &Path) -> io::Result<SnapshotMeta<NodeId, Node>> {
    unpack_from(&File::open(path)?, path, dest)
}

/// [`unpack`] from an open archive (read from its start; `path` names it in errors).
pub fn unpack_from(
    file: &File,
    path: &Path,
    dest: &Path,
) -> io::Result<SnapshotMeta<NodeId, Node>> {
    walk(file, path, Some(dest))
}

/// Reads the whole archive `file` and checks it as [`unpack`] would (every checksum,
/// every name, the trailer) without writing anything: how a node refuses a corrupt
/// transfer before handing it to openraft, for which a failed install is fatal.
pub fn check(file: &File, path: &Path) -> io::Result<SnapshotMeta<NodeId, Node>> {
    walk(file, path, None)
}

fn walk(file: &File, path: &Path, dest: Option<&Path>) -> io::Result<SnapshotMeta<NodeId, Node>> {
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let meta = read_header(path, &mut r)?;
    let count = read_u32(&mut r)?;
    if count > MAX_FILES {
        return Err(corrupt(path, format!("file count {count} is implausible")));
    }
    if let Some(dest) = dest {
        fs::create_dir(dest)?;
    }
    let mut dirs: Vec<PathBuf> = dest.map(Path::to_path_buf).into_iter().collect();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..count {
        let mut b2 = [0u8; 2];
        r.read_exact(&mut b2)
            .map_err(|_| corrupt(path, "truncated"))?;
        let name_len = u16::from_le_bytes(b2);
        if name_len == 0 || name_len > MAX_NAME {
            return Err(corrupt(path, format!("file name length {name_len}")));
        }
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name)
            .map_err(|_| corrupt(path, "truncated"))?;
        let name = String::from_utf8(name).map_err(|_| corrupt(path, "file name is not UTF-8"))?;
        let rel = Path::new(&name);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(corrupt(
                path,
                format!("file name {name:?} leaves the archive"),
            ));
        }
        let mut b8 = [0u8; 8];
        r.read_exact(&mut b8)
            .map_err(|_| corrupt(path, "truncated"))?;
        let len = u64::from_le_bytes(b8);
        let want_crc = read_u32(&mut r).map_err(|_| corrupt(path, "truncated"))?;
        let mut out = match dest {
            None => None,
            Some(dest) => {
                let target = dest.join(rel);
                if let Some(parent) = target.parent() {
                    if !parent.exists() {
                        fs::create_dir_all(parent)?;
                        dirs.push(parent.to_path_buf());
                    }
                }
                Some(File::create(&target)?)
            }
        };
        let crc = match out.as_mut() {
            Some(out) => stream_crc(&mut r, len, name.as_bytes(), out, &mut buf),
            None => stream_crc(&mut r, len, name.as_bytes(), &mut io::sink(), &mut buf),
        }
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt(path, format!("truncated inside {name}")),
            _ => e,
        })?;
        if crc != want_crc {
            return Err(corrupt(path, format!("checksum mismatch in {name}")));
        }
        if let Some(out) = out {
            out.sync_all()?;
        }
    }
    let mut trailer = [0u8; 8];
    r.read_exact(&mut trailer)
        .map_err(|_| corrupt(path, "truncated before its trailer"))?;
    if &trailer != TRAILER {
        return Err(corrupt(path, "bad trailer"));
    }
    let mut extra = [0u8; 1];
    if r.read(&mut extra)? != 0 {
        return Err(corrupt(path, "bytes after the trailer"));
    }
    for d in dirs.iter().rev() {
        sync_dir(d)?;
    }
    Ok(meta)
}

/// Copies exactly `len` bytes from `r` to `out` and returns the CRC-32C of `name`
/// followed by them (an archive entry's checksum); fewer bytes is `UnexpectedEof`.
fn stream_crc(
    r: &mut impl Read,
    len: u64,
    name: &[u8],
    out: &mut impl Write,
    buf: &mut [u8],
) -> io::Result<u32> {
    // The CRC covers the name too, so a flipped bit cannot rename a file.
    let mut crc = crc32c::crc32c(name);
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "ended early"));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(crc)
}

/// fsyncs a directory, so the names created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{LogId, StoredMembership};

    fn meta() -> SnapshotMeta<NodeId, Node> {
        SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(3, 1), 42)),
            last_membership: StoredMembership::default(),
            snapshot_id: "3-42-x".into(),
        }
    }

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("MANIFEST"), b"manifest bytes").unwrap();
        fs::write(root.join("data/000001.sst"), vec![7u8; 3 << 20]).unwrap();
        fs::write(root.join("data/sub/empty"), b"").unwrap();
    }

    #[test]
    fn packs_and_unpacks_a_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        tree(&src);
        let archive = tmp.path().join("a.snap");
        pack(&src, &meta(), &archive).unwrap();
        assert_eq!(read_meta(&archive).unwrap(), meta());
        assert_eq!(
            check(&File::open(&archive).unwrap(), &archive).unwrap(),
            meta()
        );
        let dest = tmp.path().join("dest");
        assert_eq!(unpack(&archive, &dest).unwrap(), meta());
        assert_eq!(fs::read(dest.join("MANIFEST")).unwrap(), b"manifest bytes");
        assert_eq!(
            fs::read(dest.join("data/000001.sst")).unwrap(),
            vec![7u8; 3 << 20]
        );
        assert_eq!(fs::read(dest.join("data/sub/empty")).unwrap(), b"");
        assert!(!tmp.path().join("a.snap.tmp").exists());
    }

    #[test]
    fn every_truncation_and_a_flipped_byte_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("f"), b"0123456789").unwrap();
        let archive = tmp.path().join("a.snap");
        pack(&src, &meta(), &archive).unwrap();
        let bytes = fs::read(&archive).unwrap();
        for cut in 0..bytes.len() {
            let p = tmp.path().join("cut.snap");
            fs::write(&p, &bytes[..cut]).unwrap();
            let d = tmp.path().join(format!("cut{cut}"));
            assert!(
                unpack(&p, &d).is_err(),
                "a cut at {cut} of {} unpacked",
                bytes.len()
            );
            assert!(
                check(&File::open(&p).unwrap(), &p).is_err(),
                "a cut at {cut} passed the check"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let p = tmp.path().join("flip.snap");
            fs::write(&p, &b).unwrap();
            let d = tmp.path().join(format!("flip{i}"));
            assert!(unpack(&p, &d).is_err(), "a flip at {i} unpacked");
            assert!(
                check(&File::open(&p).unwrap(), &p).is_err(),
                "a flip at {i} passed the check"
            );
        }
    }

    #[test]
    fn refuses_names_that_leave_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let meta_json = serde_json::to_vec(&meta()).unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&ARCHIVE_VERSION.to_le_bytes());
        b.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
        b.extend_from_slice(&meta_json);
        b.extend_from_slice(&crc32c::crc32c(&meta_json).to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        let name = b"../evil";
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&crc32c::crc32c_append(crc32c::crc32c(name), b"x").to_le_bytes());
        b.push(b'x');
        b.extend_from_slice(TRAILER);
        let p = tmp.path().join("evil.snap");
        fs::write(&p, &b).unwrap();
        let err = unpack(&p, &tmp.path().join("d")).unwrap_err();
        assert!(err.to_string().contains("leaves the archive"), "{err}");
        assert!(!tmp.path().join("evil").exists());
    }
}
