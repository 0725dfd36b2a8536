//! `close()` ends every piece of work of an instance before it returns: compactions
//! and flushes on request, checkpoints, verifications, iterators, writes and the async
//! calls. Another thread closes and reopens the database while all of those run, for
//! hundreds of cycles; through the file-system seam, no file operation of an old
//! instance may happen after its `close()` returned, and every acknowledged write is
//! found after the reopen.

use lsm::fs::{FileLock, FileSystem, MemFs, RandomAccessFile, WritableFile};
use lsm::{AsyncLsm, Config, Lsm, LsmError};
use parking_lot::Mutex;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What one instance did to the files after its `close()` returned.
#[derive(Default)]
struct Watch {
    closed: AtomicBool,
    late: Mutex<Vec<String>>,
}

impl Watch {
    fn note(&self, op: &str, path: &Path) {
        if self.closed.load(Ordering::SeqCst) {
            self.late.lock().push(format!("{op} {}", path.display()));
        }
    }
}

/// The shared file system as one instance sees it: every call, and every call on a
/// file it opened, is checked against that instance's `closed` mark.
struct WatchedFs {
    fs: MemFs,
    watch: Arc<Watch>,
}

struct WatchedWritable {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    watch: Arc<Watch>,
}

impl WritableFile for WatchedWritable {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.watch.note("append", &self.path);
        self.file.append(data)
    }
    fn sync(&self) -> io::Result<()> {
        self.watch.note("sync", &self.path);
        self.file.sync()
    }
    fn len(&self) -> u64 {
        self.file.len()
    }
}

struct WatchedReadable {
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    watch: Arc<Watch>,
}

impl RandomAccessFile for WatchedReadable {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.watch.note("read", &self.path);
        self.file.read_exact_at(offset, buf)
    }
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl FileSystem for WatchedFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.watch.note("create_dir_all", path);
        self.fs.create_dir_all(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.watch.note("create", path);
        Ok(Box::new(WatchedWritable {
            file: self.fs.create(path)?,
            path: path.to_path_buf(),
            watch: self.watch.clone(),
        }))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.watch.note("open", path);
        Ok(Arc::new(WatchedReadable {
            file: self.fs.open(path)?,
            path: path.to_path_buf(),
            watch: self.watch.clone(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.watch.note("rename", from);
        self.fs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.watch.note("remove_file", path);
        self.fs.remove_file(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.watch.note("list_dir", path);
        self.fs.list_dir(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.watch.note("sync_dir", path);
        self.fs.sync_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.watch.note("exists", path);
        self.fs.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.watch.note("lock", path);
        self.fs.lock(path)
    }
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.watch.note("link_or_copy", from);
        self.fs.link_or_copy(from, to)
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.watch.note("read_all", path);
        self.fs.read_all(path)
    }
}

fn config() -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = 300;
    c.sstable.block_size = 512;
    for (k, v) in [
        ("compaction.base_level_bytes", "16KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "4KiB"),
        ("compaction.level0_file_trigger", "2"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// `Ok` when `r` succeeded, `Err(())` when the database was closed under it; any other
/// error fails the test.
fn ok_or_closed<T>(what: &str, r: lsm::Result<T>) -> Result<T, ()> {
    match r {
        Ok(v) => Ok(v),
        Err(LsmError::Closed) => Err(()),
        Err(e) => panic!("{what}: {e}"),
    }
}

fn cycles() -> usize {
    std::env::var("LSM_CLOSE_CYCLES")
        .ok()
        .map(|v| v.parse().expect("LSM_CLOSE_CYCLES must be a number"))
        .unwrap_or(200)
}

#[test]
fn close_waits_for_every_operation_and_nothing_of_the_old_instance_touches_files_after_it() {
    let fs = MemFs::new();
    // Every acknowledged put: key -> value. A put that failed with `Closed` may or may
    // not have landed, so its key is forgotten until it is written again.
    let acked: Arc<Mutex<std::collections::BTreeMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    let checkpoints = Arc::new(AtomicU64::new(0));
    let mut closes_during_work = 0usize;
    for cycle in 0..cycles() {
        let watch = Arc::new(Watch::default());
        let db = Lsm::open_on(
            config(),
            Arc::new(WatchedFs {
                fs: fs.clone(),
                watch: watch.clone(),
            }),
        )
        .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        for (k, v) in acked.lock().iter() {
            assert_eq!(
                db.get(k).unwrap().as_deref(),
                Some(v.as_slice()),
                "cycle {cycle}: an acknowledged write is gone"
            );
        }
        let busy = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        // A writer.
        {
            let (db, acked, busy) = (db.clone(), acked.clone(), busy.clone());
            workers.push(std::thread::spawn(move || {
                for i in 0u32.. {
                    let k = format!("k{:04}", (i * 7919 + cycle as u32 * 31) % 2000).into_bytes();
                    let v = format!("{cycle}:{i}").into_bytes();
                    acked.lock().remove(&k);
                    if ok_or_closed("put", db.put(&k, &v)).is_err() {
                        return;
                    }
                    acked.lock().insert(k, v);
                    busy.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // Compactions and flushes on request.
        {
            let (db, busy) = (db.clone(), busy.clone());
            workers.push(std::thread::spawn(move || loop {
                if ok_or_closed("compact", db.compact()).is_err()
                    || ok_or_closed("flush", db.flush()).is_err()
                {
                    return;
                }
                busy.fetch_add(1, Ordering::Relaxed);
            }));
        }
        // Checkpoints and verifications.
        {
            let (db, busy, checkpoints) = (db.clone(), busy.clone(), checkpoints.clone());
            workers.push(std::thread::spawn(move || loop {
                let n = checkpoints.fetch_add(1, Ordering::Relaxed);
                if ok_or_closed("checkpoint", db.checkpoint(format!("ckpt/{n}"))).is_err()
                    || ok_or_closed("verify", db.verify()).is_err()
                {
                    return;
                }
                busy.fetch_add(1, Ordering::Relaxed);
            }));
        }
        // Iterators, kept across the close too: they must end with `Closed`.
        {
            let (db, busy) = (db.clone(), busy.clone());
            workers.push(std::thread::spawn(move || loop {
                for item in db.iter() {
                    if ok_or_closed("iterate", item).is_err() {
                        return;
                    }
                }
                let mut raw = db.raw_iter();
                raw.seek(b"k1");
                while raw.valid() {
                    raw.next();
                }
                if ok_or_closed("raw iterator", raw.status()).is_err() {
                    return;
                }
                busy.fetch_add(1, Ordering::Relaxed);
            }));
        }
        // The async API, on its own runtime.
        {
            let (adb, busy) = (AsyncLsm::from_lsm(db.clone()), busy.clone());
            workers.push(std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    loop {
                        if ok_or_closed("async get", adb.get(b"k0001").await).is_err()
                            || ok_or_closed("async flush", adb.flush().await).is_err()
                        {
                            return;
                        }
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                })
            }));
        }
        // Let the work get going, then close under it.
        let start = std::time::Instant::now();
        while busy.load(Ordering::Relaxed) < 20 && start.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        std::thread::sleep(std::time::Duration::from_micros(
            (cycle as u64 * 7919) % 3000,
        ));
        if busy.load(Ordering::Relaxed) >= 20 {
            closes_during_work += 1;
        }
        db.close()
            .unwrap_or_else(|e| panic!("cycle {cycle}: close failed: {e}"));
        watch.closed.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().unwrap();
        }
        drop(db);
        let late = watch.late.lock();
        assert!(
            late.is_empty(),
            "cycle {cycle}: the closed instance touched files: {:?}",
            &late[..late.len().min(10)]
        );
    }
    assert!(
        closes_during_work * 2 > cycles(),
        "only {closes_during_work} of {} closes landed during work",
        cycles()
    );
}
