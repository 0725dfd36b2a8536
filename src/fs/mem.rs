//! An in-memory file system that models what survives a power cut, and fails chosen
//! operations on demand. Tests run the engine on it to prove the durability contract.
//!
//! The model: a file's bytes become durable when the file is synced (appends only, so
//! a durable prefix length is enough); a directory entry (a create, rename or delete)
//! becomes durable when its directory is synced. [`MemFs::crash_with`] returns the file
//! system a machine would find after losing power now: only durable entries, each
//! file's durable prefix, and of its unsynced bytes what the [`CrashModel`] keeps (none,
//! a torn prefix, or any subset of its 4 KiB pages). Directories themselves are durable
//! as soon as they are created.

use super::{FileLock, FileSystem, RandomAccessFile, WritableFile};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Default, Clone)]
struct Dir {
    current: BTreeMap<String, InodeRef>,
    durable: BTreeMap<String, InodeRef>,
}

#[derive(Default)]
struct Faults {
    /// Mutating operations performed so far.
    ops: u64,
    /// Fail every mutating operation once `ops` reaches this number.
    fail_at: Option<u64>,
    /// Only the operation at `fail_at` fails; later ones succeed again.
    transient: bool,
    /// The operation with this number panics (a bug in I/O code, for poisoning tests).
    panic_at: Option<u64>,
    /// Total bytes of file data the file system may hold (a full disk past it).
    space_limit: Option<u64>,
}

#[derive(Default)]
struct State {
    dirs: BTreeMap<PathBuf, Dir>,
    locks: BTreeSet<PathBuf>,
    faults: Faults,
}

/// What a power cut keeps of the bytes appended to a file since its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashModel {
    /// Nothing: each file is its durable prefix.
    Synced,
    /// A pseudo-random prefix of the unsynced tail (a torn append), chosen by `seed`.
    Torn {
        /// Seeds the choice of each file's cut.
        seed: u64,
    },
    /// Each 4 KiB page (aligned to file offsets) holding unsynced bytes persists or is
    /// lost independently, chosen by `seed`, as a disk writes back dirty pages in any
    /// order. A lost page reads as zeros when a later page persisted; otherwise the
    /// file ends before it.
    Holes {
        /// Seeds the choice of each page.
        seed: u64,
    },
}

/// The size of the pages [`CrashModel::Holes`] keeps or loses.
pub const CRASH_PAGE_SIZE: usize = 4096;

/// The in-memory file system. Clones share the same files.
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let p = normalize(path);
    let name = p
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy()
        .into_owned();
    Ok((super::parent_dir(&p), name))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

impl State {
    /// Counts one mutating operation and decides whether it fails.
    fn tick(&mut self) -> io::Result<()> {
        let f = &mut self.faults;
        f.ops += 1;
        if f.panic_at == Some(f.ops) {
            panic!("injected panic at operation {}", f.ops);
        }
        if let Some(at) = f.fail_at {
            if f.ops >= at && (!f.transient || f.ops == at) {
                return Err(io::Error::other(format!(
                    "injected fault at operation {}",
                    f.ops
                )));
            }
        }
        Ok(())
    }

    fn dir(&mut self, path: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(path).ok_or_else(|| not_found(path))
    }

    fn used_bytes(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        let mut total = 0u64;
        for d in self.dirs.values() {
            for inode in d.current.values() {
                if seen.insert(Arc::as_ptr(inode)) {
                    total += inode.lock().data.len() as u64;
                }
            }
        }
        total
    }
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// The file system found after a power cut now. With `torn_seed`, each file keeps a
    /// pseudo-random part of its unsynced tail (a torn write); without, exactly its
    /// durable prefix. This file system is left as it was.
    pub fn crash(&self, torn_seed: Option<u64>) -> MemFs {
        self.crash_with(match torn_seed {
            None => CrashModel::Synced,
            Some(seed) => CrashModel::Torn { seed },
        })
    }

    /// The file system found after a power cut now, keeping of each file's unsynced
    /// bytes what `model` says. Directory entries survive only when their directory
    /// was synced, whatever the model. This file system is left as it was.
    pub fn crash_with(&self, model: CrashModel) -> MemFs {
        let st = self.state.lock();
        let mut rng = match model {
            CrashModel::Synced => 0,
            CrashModel::Torn { seed } => seed,
            // Mixed, so that nearby seeds (0, 1, 2, ...) do not draw alike first pages:
            // xorshift's first outputs keep the low bits of a small state.
            CrashModel::Holes { seed } => splitmix(seed),
        } | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut copies: HashMap<*const Mutex<Inode>, InodeRef> = HashMap::new();
        let mut dirs = BTreeMap::new();
        for (path, dir) in &st.dirs {
            let mut entries = BTreeMap::new();
            for (name, inode) in &dir.durable {
                let copy = copies.entry(Arc::as_ptr(inode)).or_insert_with(|| {
                    let src = inode.lock();
                    let data = after_power_cut(&src, model, &mut next);
                    Arc::new(Mutex::new(Inode {
                        synced_len: data.len(),
                        data,
                    }))
                });
                entries.insert(name.clone(), copy.clone());
            }
            dirs.insert(
                path.clone(),
                Dir {
                    current: entries.clone(),
                    durable: entries,
                },
            );
        }
        MemFs {
            state: Arc::new(Mutex::new(State {
                dirs,
                locks: BTreeSet::new(),
                faults: Faults::default(),
            })),
        }
    }

    /// Makes the `n`-th mutating operation from now fail (`n >= 1`), and every one
    /// after it unless `transient`.
    pub fn fail_after(&self, n: u64, transient: bool) {
        let mut st = self.state.lock();
        st.faults.fail_at = Some(st.faults.ops + n.max(1));
        st.faults.transient = transient;
    }

    /// Makes the `n`-th mutating operation from now panic, as a bug in I/O code would.
    pub fn panic_after(&self, n: u64) {
        let mut st = self.state.lock();
        st.faults.panic_at = Some(st.faults.ops + n.max(1));
    }

    /// Stops injecting faults.
    pub fn clear_faults(&self) {
        let mut st = self.state.lock();
        st.faults.fail_at = None;
        st.faults.panic_at = None;
        st.faults.space_limit = None;
    }

    /// Mutating operations (create, append, sync, rename, remove, sync_dir, link) so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().faults.ops
    }

    /// Limits the bytes all files may hold together; appends past it fail with
    /// `StorageFull` (a full disk).
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.state.lock().faults.space_limit = bytes;
    }

    /// Replaces the bytes of `path` (for corruption tests); the new bytes are durable.
    pub fn write_raw(&self, path: &Path, data: Vec<u8>) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        let d = st.dir(&dir)?;
        let inode = d.current.get(&name).ok_or_else(|| not_found(path))?;
        let mut i = inode.lock();
        i.synced_len = data.len();
        i.data = data;
        Ok(())
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bytes of `file` that a power cut under `model` leaves; `next` draws the chances.
fn after_power_cut(file: &Inode, model: CrashModel, next: &mut impl FnMut() -> u64) -> Vec<u8> {
    let synced = file.synced_len;
    let len = file.data.len();
    let mut out = file.data[..synced].to_vec();
    match model {
        CrashModel::Synced => {}
        CrashModel::Torn { .. } => {
            if len > synced {
                let keep = (next() % (len - synced + 1) as u64) as usize;
                out.extend_from_slice(&file.data[synced..synced + keep]);
            }
        }
        CrashModel::Holes { .. } => {
            let mut page = synced / CRASH_PAGE_SIZE * CRASH_PAGE_SIZE;
            let mut kept = Vec::new();
            while page < len {
                let from = page.max(synced);
                let to = (page + CRASH_PAGE_SIZE).min(len);
                if (next() >> 32) & 1 == 0 {
                    kept.push((from, to));
                }
                page += CRASH_PAGE_SIZE;
            }
            if let Some(&(_, end)) = kept.last() {
                out.resize(end, 0);
                for (from, to) in kept {
                    out[from..to].copy_from_slice(&file.data[from..to]);
                }
            }
        }
    }
    out
}

struct MemWritable {
    fs: MemFs,
    inode: InodeRef,
}

impl WritableFile for MemWritable {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let mut st = self.fs.state.lock();
        st.tick()?;
        if let Some(limit) = st.faults.space_limit {
            if st.used_bytes() + data.len() as u64 > limit {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
        }
        self.inode.lock().data.extend_from_slice(data);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.fs.state.lock().tick()?;
        let mut i = self.inode.lock();
        i.synced_len = i.data.len();
        Ok(())
    }

    fn len(&self) -> u64 {
        self.inode.lock().data.len() as u64
    }
}

struct MemReadable {
    inode: InodeRef,
    len: u64,
}

impl RandomAccessFile for MemReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let i = self.inode.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start
            .checked_add(buf.len())
            .and_then(|end| i.data.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end of file",
            )),
        }
    }

    fn len(&self) -> u64 {
        self.len
    }
}

struct MemLock {
    fs: MemFs,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.fs.state.lock().locks.remove(&self.path);
    }
}

impl FileSystem for MemFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let p = normalize(path);
        let mut st = self.state.lock();
        let mut cur = PathBuf::new();
        for c in p.components() {
            cur.push(c.as_os_str());
            st.dirs.entry(normalize(&cur)).or_default();
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        st.tick()?;
        let inode: InodeRef = Arc::default();
        st.dir(&dir)?.current.insert(name, inode.clone());
        Ok(Box::new(MemWritable {
            fs: self.clone(),
            inode,
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        let inode = st
            .dir(&dir)?
            .current
            .get(&name)
            .cloned()
            .ok_or_else(|| not_found(path))?;
        let len = inode.lock().data.len() as u64;
        Ok(Arc::new(MemReadable { inode, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (fdir, fname) = split(from)?;
        let (tdir, tname) = split(to)?;
        let mut st = self.state.lock();
        st.tick()?;
        st.dir(&tdir)?;
        let inode = st
            .dir(&fdir)?
            .current
            .remove(&fname)
            .ok_or_else(|| not_found(from))?;
        st.dir(&tdir)?.current.insert(tname, inode);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let (dir, name) = split(path)?;
        let mut st = self.state.lock();
        st.tick()?;
        st.dir(&dir)?
            .current
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut st = self.state.lock();
        let p = normalize(path);
        let mut names: Vec<String> = st.dir(&p)?.current.keys().cloned().collect();
        // Subdirectories are entries too.
        for d in st.dirs.keys() {
            if d.parent().map(normalize).as_deref() == Some(p.as_path()) && d != &p {
                if let Some(n) = d.file_name() {
                    names.push(n.to_string_lossy().into_owned());
                }
            }
        }
        Ok(names)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick()?;
        let d = st.dir(&normalize(path))?;
        d.durable = d.current.clone();
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let p = normalize(path);
        let st = self.state.lock();
        if st.dirs.contains_key(&p) {
            return true;
        }
        match split(&p) {
            Ok((dir, name)) => st
                .dirs
                .get(&dir)
                .is_some_and(|d| d.current.contains_key(&name)),
            Err(_) => false,
        }
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let p = normalize(path);
        let (dir, name) = split(&p)?;
        let mut st = self.state.lock();
        st.dir(&dir)?.current.entry(name).or_default();
        if !st.locks.insert(p.clone()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another handle",
            ));
        }
        Ok(Box::new(MemLock {
            fs: self.clone(),
            path: p,
        }))
    }

    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (fdir, fname) = split(from)?;
        let (tdir, tname) = split(to)?;
        let mut st = self.state.lock();
        st.tick()?;
        let inode = st
            .dir(&fdir)?
            .current
            .get(&fname)
            .cloned()
            .ok_or_else(|| not_found(from))?;
        {
            let mut i = inode.lock();
            i.synced_len = i.data.len();
        }
        st.dir(&tdir)?.current.insert(tname, inode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_cut_keeps_only_synced_bytes_and_entries() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db")).unwrap();
        let a = fs.create(Path::new("db/a")).unwrap();
        a.append(b"hello").unwrap();
        a.sync().unwrap();
        fs.sync_dir(Path::new("db")).unwrap();
        a.append(b" world").unwrap();
        let b = fs.create(Path::new("db/b")).unwrap();
        b.append(b"lost").unwrap();
        b.sync().unwrap(); // synced data, but the entry never was

        let after = fs.crash(None);
        assert_eq!(after.read_all(Path::new("db/a")).unwrap(), b"hello");
        assert!(!after.exists(Path::new("db/b")));

        let torn = fs.crash(Some(7));
        let a2 = torn.read_all(Path::new("db/a")).unwrap();
        assert!(a2.starts_with(b"hello") && b"hello world".starts_with(&a2[..]));
    }

    #[test]
    fn a_power_cut_with_holes_keeps_or_zeroes_each_unsynced_page() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("db")).unwrap();
        let f = fs.create(Path::new("db/f")).unwrap();
        fs.sync_dir(Path::new("db")).unwrap();
        let synced: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
        f.append(&synced).unwrap();
        f.sync().unwrap();
        let tail: Vec<u8> = (0..30_000u32).map(|i| (i % 241) as u8 + 1).collect();
        f.append(&tail).unwrap();
        let all = [synced.clone(), tail].concat();
        let (mut holes, mut lost_ends) = (0, 0);
        for seed in 0..64 {
            let got = fs
                .crash_with(CrashModel::Holes { seed })
                .read_all(Path::new("db/f"))
                .unwrap();
            assert!(got.len() >= synced.len() && got.len() <= all.len());
            assert_eq!(&got[..synced.len()], &synced[..], "seed {seed}");
            // The file ends at a page boundary or at its full length.
            assert!(got.len() == all.len() || got.len().is_multiple_of(CRASH_PAGE_SIZE));
            lost_ends += usize::from(got.len() < all.len());
            // Every unsynced page is whole or zeros.
            let mut page = synced.len();
            while page < got.len() {
                let end = ((page / CRASH_PAGE_SIZE + 1) * CRASH_PAGE_SIZE).min(got.len());
                let kept = got[page..end] == all[page..end];
                let zero = got[page..end].iter().all(|&b| b == 0);
                assert!(kept || zero, "seed {seed}: page at {page} is neither");
                holes += usize::from(zero);
                page = end;
            }
        }
        assert!(
            holes > 10 && lost_ends > 10,
            "{holes} holes, {lost_ends} cut ends"
        );
    }

    #[test]
    fn rename_is_durable_only_after_dir_sync() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("d")).unwrap();
        let f = fs.create(Path::new("d/tmp")).unwrap();
        f.append(b"x").unwrap();
        f.sync().unwrap();
        fs.sync_dir(Path::new("d")).unwrap();
        fs.rename(Path::new("d/tmp"), Path::new("d/final")).unwrap();
        let before = fs.crash(None);
        assert!(before.exists(Path::new("d/tmp")) && !before.exists(Path::new("d/final")));
        fs.sync_dir(Path::new("d")).unwrap();
        let after = fs.crash(None);
        assert_eq!(after.read_all(Path::new("d/final")).unwrap(), b"x");
    }

    #[test]
    fn faults_fire_at_the_chosen_operation() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("d")).unwrap();
        let f = fs.create(Path::new("d/f")).unwrap();
        fs.fail_after(2, true);
        f.append(b"1").unwrap();
        assert!(f.append(b"2").is_err());
        f.append(b"3").unwrap();
        assert_eq!(fs.read_all(Path::new("d/f")).unwrap(), b"13");
        fs.set_space_limit(Some(3));
        assert_eq!(
            f.append(b"45").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("d")).unwrap();
        let l = fs.lock(Path::new("d/LOCK")).unwrap();
        assert_eq!(
            fs.lock(Path::new("d/LOCK")).err().map(|e| e.kind()),
            Some(io::ErrorKind::WouldBlock)
        );
        drop(l);
        assert!(fs.lock(Path::new("d/LOCK")).is_ok());
    }
}
