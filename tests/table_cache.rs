//! The table cache on the real file system: with `cache.max_open_files = 20` and
//! hundreds of tables, every read path, compaction, checkpoint, verify and a reopen
//! agree with a model while the process never holds more than 20 (+ a few) table
//! files open, as counted in `/proc/self/fd`. And index and filter blocks stay inside
//! a block cache many times smaller than they are; a table damaged or missing on disk
//! is a clean error naming it when a read reopens it.

use lsm::{Config, Lsm, LsmError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_OPEN: usize = 20;
/// Table files open beyond the cache's bound, at most: the table a flush is writing
/// (1), the one a compaction is writing (1; one compaction runs at a time with the default two job slots), the one a
/// checkpoint copies if it cannot hard-link (1), and one open in progress while every
/// cached table is in use (1). The test's iterators (3 alive at once, each holding at
/// most one table per level and no level-0 tables once compacted) are in use, so they
/// are inside the cache's count, which stays under 20 with them.
const SLACK: usize = 4;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    let mut v = format!("v{round}-{i}-").into_bytes();
    v.resize(100, b'x');
    v
}

/// Small memtables and files, so a few megabytes make hundreds of tables.
fn config(root: &Path) -> Config {
    let mut c = Config::with_root(root);
    for (k, v) in [
        ("memtable.max_bytes", "32KiB"),
        ("compaction.target_file_bytes", "8KiB"),
        ("compaction.base_level_bytes", "256KiB"),
        ("sstable.block_size", "1KiB"),
        // Tables as large as the bytes put (the test values compress well), so the
        // sizes above give hundreds of them.
        ("sstable.compression", "none"),
        ("cache.key_cache_entries", "0"),
        ("cache.persist_on_close", "false"),
        ("cache.max_open_files", "20"),
        // A level-0 compaction reads all of level 0 at once, so its tables are in use
        // together: the stop limit keeps them (at most 12, plus one level-1 table at a
        // time) inside the 20. Writes are then held back instead (slowdown at 8).
        ("compaction.level0_slowdown_files", "8"),
        ("compaction.level0_stop_files", "12"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// Counts, in a background thread, the table files under `root` this process has
/// open, and remembers the most seen.
struct FdSampler {
    max: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn open_tables_under(root: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.starts_with(root) && t.to_string_lossy().contains(".sst"))
        .count()
}

/// Open table files under `root` that were deleted (Linux shows them as
/// "<path> (deleted)").
fn deleted_tables_open_under(root: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.starts_with(root) && t.to_string_lossy().ends_with(".sst (deleted)"))
        .collect()
}

impl FdSampler {
    fn start(root: &Path) -> FdSampler {
        let (max, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let root = root.to_path_buf();
        let thread = {
            let (max, stop) = (max.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max.fetch_max(open_tables_under(&root), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        FdSampler {
            max,
            stop,
            thread: Some(thread),
        }
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    fn assert_bounded(&self, at: &str) {
        let m = self.max();
        assert!(
            m <= MAX_OPEN + SLACK,
            "{at}: {m} table files open at once, the bound is {MAX_OPEN} + {SLACK}"
        );
    }
}

impl Drop for FdSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tables(db: &Lsm) -> usize {
    db.stats().levels.iter().map(|l| l.files).sum()
}

fn scan(db: &Lsm) -> Model {
    db.iter().map(|r| r.unwrap()).collect()
}

fn check_against(db: &Lsm, model: &Model) {
    // Point reads, present and absent.
    for (i, (k, v)) in model.iter().enumerate() {
        if i % 7 == 0 {
            assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "get {k:?}");
        }
    }
    for i in (0..40_000).step_by(997) {
        let mut k = key(i);
        k.push(b'!');
        assert_eq!(db.get(&k).unwrap(), None);
    }
    // A full scan, forward and backward, and range scans.
    assert_eq!(&scan(db), model);
    let back: Vec<_> = db.iter().rev().map(|r| r.unwrap()).collect();
    let want: Vec<_> = model
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(back == want, "a backward scan disagrees with the model");
    for (lo, hi) in [(100, 900), (5_000, 5_050), (17_000, 19_999)] {
        let (lo, hi) = (key(lo), key(hi));
        let got: Vec<_> = db
            .range(lo.as_slice()..hi.as_slice())
            .map(|r| r.unwrap())
            .collect();
        let want: Vec<_> = model
            .range(lo.clone()..hi.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(got, want, "range {lo:?}..{hi:?}");
    }
    // Several iterators alive at once, stepped in turns.
    let mut its = [db.iter(), db.range(key(9_000).as_slice()..), db.iter()];
    for _ in 0..500 {
        let [a, b, c] = &mut its;
        a.next().transpose().unwrap();
        b.next().transpose().unwrap();
        c.next_back().transpose().unwrap();
    }
}

#[test]
fn hundreds_of_tables_through_twenty_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let sampler = FdSampler::start(dir.path());
    let db = Lsm::open_with_config(config(&root)).unwrap();
    let mut model = Model::new();
    for round in 0..2 {
        for i in (0..20_000).filter(|i| round == 0 || i % 3 == 0) {
            db.put(&key(i), &value(i, round)).unwrap();
            model.insert(key(i), value(i, round));
        }
    }
    for i in (0..20_000).step_by(11) {
        db.delete(&key(i)).unwrap();
        model.remove(&key(i));
    }
    db.delete_range(&key(12_000), &key(12_500)).unwrap();
    model.retain(|k, _| {
        !(k.as_slice() >= key(12_000).as_slice() && k.as_slice() < key(12_500).as_slice())
    });
    db.flush().unwrap();
    // Everything below level 0, so the iterators below hold one table per level.
    db.compact_range(None, None).unwrap();
    let n = tables(&db);
    assert!(n > 200, "only {n} tables");
    sampler.assert_bounded("writes and compaction");
    // Replaced tables are deleted, and closed: none stays open in the cache.
    let on_disk = std::fs::read_dir(root.join("ss_tables")).unwrap().count();
    assert_eq!(on_disk, n, "obsolete tables are deleted");
    assert_eq!(deleted_tables_open_under(dir.path()), Vec::<PathBuf>::new());

    check_against(&db, &model);
    sampler.assert_bounded("reads");
    let s = db.stats();
    assert!(s.open_tables <= MAX_OPEN as u64, "{} open", s.open_tables);
    assert!(
        s.table_cache_misses > n as u64,
        "tables were reopened: {s:?}"
    );
    assert!(s.table_cache_hits > 0);

    db.compact_range(Some(&key(3_000)), Some(&key(8_000)))
        .unwrap();
    db.checkpoint(dir.path().join("cp")).unwrap();
    let report = db.verify().unwrap();
    assert!(report.files.len() > 200);
    check_against(&db, &model);
    sampler.assert_bounded("compact_range, checkpoint, verify");
    db.close().unwrap();
    assert_eq!(open_tables_under(dir.path()), 0, "close closes every table");

    for root in [root, dir.path().join("cp")] {
        let db = Lsm::open_with_config(config(&root)).unwrap();
        assert_eq!(db.stats().table_cache_misses, 0, "open reads no table");
        check_against(&db, &model);
        db.close().unwrap();
    }
    sampler.assert_bounded("reopen");
    assert!(
        sampler.max() > MAX_OPEN / 2,
        "the sampler saw {}",
        sampler.max()
    );
}

#[test]
fn index_and_filter_blocks_stay_inside_a_small_block_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir.path().join("db"));
    const BUDGET: u64 = 48 << 10;
    c.set("cache.block_cache_bytes", "48KiB").unwrap();
    // Big metadata: an index entry per 256-byte block, 64 filter bits per key.
    c.set("sstable.block_size", "256").unwrap();
    c.set("sstable.bloom_bits_per_key", "64").unwrap();
    c.set("cache.max_open_files", "-1").unwrap();
    let db = Lsm::open_with_config(c.clone()).unwrap();
    let mut model = Model::new();
    for i in 0..15_000 {
        db.put(&key(i), &value(i, 0)).unwrap();
        model.insert(key(i), value(i, 0));
    }
    db.compact_range(None, None).unwrap();
    let n = tables(&db) as u64;
    assert!(n > 150, "only {n} tables");
    db.close().unwrap();

    // Measured: with room for everything, every table's index and filter get cached.
    let mut roomy = c.clone();
    roomy.set("cache.block_cache_bytes", "256MiB").unwrap();
    let db = Lsm::open_with_config(roomy).unwrap();
    for k in model.keys() {
        db.get(k).unwrap();
    }
    let s = db.stats();
    let metadata = s.block_cache_index_bytes + s.block_cache_filter_bytes;
    assert!(
        metadata > 4 * BUDGET,
        "metadata {metadata} is not many times the budget"
    );
    db.close().unwrap();

    let db = Lsm::open_with_config(c).unwrap();
    let mut saw_meta = false;
    for (i, (k, v)) in model.iter().enumerate() {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
        if i % 500 == 0 {
            let s = db.stats();
            assert!(
                s.block_cache_bytes <= BUDGET,
                "{} > {BUDGET}",
                s.block_cache_bytes
            );
            assert!(s.block_cache_index_bytes + s.block_cache_filter_bytes <= s.block_cache_bytes);
            saw_meta |= s.block_cache_index_bytes > 0 && s.block_cache_filter_bytes > 0;
        }
    }
    assert!(
        saw_meta,
        "index and filter blocks are charged to the block cache"
    );
    assert_eq!(scan(&db), model);
    assert!(db.stats().block_cache_bytes <= BUDGET);
}

/// The table holding `k`, found as the only table whose removal makes `k` unreadable
/// would be slow; instead damage every table but read through the model.
fn table_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("ss_tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    v.sort();
    v
}

fn small_db(root: &Path) -> Model {
    let db = Lsm::open_with_config(config(root)).unwrap();
    let mut model = Model::new();
    for i in 0..3_000 {
        db.put(&key(i), &value(i, 0)).unwrap();
        model.insert(key(i), value(i, 0));
    }
    db.compact_range(None, None).unwrap();
    db.close().unwrap();
    model
}

fn expect_damage(r: lsm::Result<impl std::fmt::Debug>, path: &Path) {
    match r {
        Err(e @ (LsmError::Corruption { .. } | LsmError::Io { .. })) => {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(e.to_string().contains(&name), "{e} does not name {name}");
        }
        other => panic!("expected a corruption or I/O error naming {path:?}, got {other:?}"),
    }
}

/// Gets of every key: the error each failing one gave, by the table file it names.
fn get_all(db: &Lsm, model: &Model, tables: &[PathBuf]) -> BTreeMap<usize, LsmError> {
    let mut errors = BTreeMap::new();
    for (k, v) in model {
        match db.get(k) {
            Ok(got) => assert_eq!(got.as_ref(), Some(v)),
            Err(e) => {
                let s = e.to_string();
                let i = tables
                    .iter()
                    .position(|p| s.contains(&*p.file_name().unwrap().to_string_lossy()))
                    .unwrap_or_else(|| panic!("{e} names no table"));
                errors.entry(i).or_insert(e);
            }
        }
    }
    errors
}

#[test]
fn a_table_damaged_on_disk_is_an_error_naming_it_when_reopened_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let model = small_db(&root);
    let files = table_files(&root);
    assert!(files.len() > MAX_OPEN + 5, "{} tables", files.len());
    // Damage the footer of one table while the database is closed.
    let damaged = &files[1];
    let mut bytes = std::fs::read(damaged).unwrap();
    let n = bytes.len();
    bytes[n - 8..].fill(0);
    std::fs::write(damaged, bytes).unwrap();

    // Open reads no table, so it succeeds; the gets that need the table fail.
    let db = Lsm::open_with_config(config(&root)).unwrap();
    let errors = get_all(&db, &model, &files);
    assert_eq!(errors.keys().copied().collect::<Vec<_>>(), [1]);
    assert!(errors[&1].is_corruption(), "{}", errors[&1]);

    // Remove a table that the pass above opened and the cache has closed since (it
    // keeps the 20 used last): the next read reopens it and fails.
    std::fs::remove_file(&files[2]).unwrap();
    let errors = get_all(&db, &model, &files);
    assert_eq!(errors.keys().copied().collect::<Vec<_>>(), [1, 2]);
    expect_damage(Err::<(), _>(errors[&2].duplicate()), &files[2]);

    // A scan stops at the first damaged table, with its error.
    let r: lsm::Result<Vec<_>> = db.iter().collect();
    expect_damage(r, damaged);
    db.close().unwrap();

    // Reopening notices the missing table at once (from the directory listing).
    match Lsm::open_with_config(config(&root)) {
        Err(e) => {
            assert!(e.is_corruption(), "{e}");
            assert!(e
                .to_string()
                .contains(&*files[2].file_name().unwrap().to_string_lossy()));
        }
        Ok(_) => panic!("opened without a table it needs"),
    }
}

/// A sequential load moves tables down from level 0 without rewriting them (trivial
/// moves). The index and filter a table pinned while it was in level 0 must not go
/// with it: once nothing is left in level 0, no open table holds pinned metadata, and
/// reads still agree with the model. (Before the fix, the moved readers kept their
/// pins at every level: memory that grows with the data, outside every budget.)
#[test]
fn tables_moved_out_of_level_0_drop_their_pins() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir.path().join("db"));
    c.set("cache.max_open_files", "-1").unwrap();
    c.set("cache.pin_l0_index_and_filter", "true").unwrap();
    // Each flushed table is compacted alone, so it moves down as it is.
    c.set("compaction.level0_file_trigger", "1").unwrap();
    let db = Lsm::open_with_config(c).unwrap();
    let mut model = Model::new();
    for i in 0..6_000 {
        db.put(&key(i), &value(i, 0)).unwrap();
        model.insert(key(i), value(i, 0));
        if i % 500 == 0 {
            // Reads open the tables of every level, level 0's pinned.
            assert_eq!(
                db.get(&key(i / 2)).unwrap(),
                model.get(&key(i / 2)).cloned()
            );
        }
    }
    db.flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = db.stats();
        if s.levels.first().map_or(0, |l| l.files) == 0
            && s.compactions_running == 0
            && s.compactions_queued == 0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "level 0 never drained: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    check_against(&db, &model);
    let s = db.stats();
    assert!(s.trivial_moves > 0, "no table moved as it was: {s}");
    assert!(s.open_tables > 0);
    assert_eq!(
        s.pinned_index_filter_bytes, 0,
        "tables outside level 0 hold pinned metadata: {s}"
    );
    assert_eq!(scan(&db), model);
}
