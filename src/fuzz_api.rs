//! Entry points for fuzzers and for `tests/fuzz_corpus.rs` only: NOT a stable API.
//!
//! Each function takes arbitrary bytes, feeds them to one decoder (or to a whole
//! database on [`MemFs`]) and panics only when the engine breaks a promise: a wrong
//! value, an untyped error, an iteration out of order. A plain error for bad input is
//! the expected outcome. The `fuzz/` crate (libFuzzer, `cargo fuzz`) calls them from its
//! targets; the corpus replay test calls the same functions on stable Rust.
//!
//! Where the public API and [`MemFs`] can reach a decoder, they are used; only the WAL
//! framing, the table reader and the block, footer and filter decoders are called
//! directly (the footer and filter decoders through the table reader).

use crate::batch::DecodedBatch;
use crate::fs::{FileSystem, MemFs};
use crate::iter::InternalIterator;
use crate::{Config, Lsm, LsmError, RecoveryMode, WriteBatch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The configuration every fuzz target opens its database with: on MemFs under `db`,
/// quiet logging, one background thread.
pub fn config() -> Config {
    let mut c = Config::with_root("db");
    c.directory.log = String::new();
    c.compaction.background_threads = 1;
    c
}

/// An error must be typed: `Corruption` for damaged bytes, or `Io` naming what failed.
fn check_error(e: &LsmError, what: &str) {
    match e {
        LsmError::Corruption { .. } | LsmError::Io { .. } => {}
        other => panic!("{what}: unexpected error kind: {other}"),
    }
}

/// Opens `fs` with `c` and returns the database if the open succeeded.
fn open(fs: &MemFs, c: &Config, what: &str) -> Option<Lsm> {
    match Lsm::open_on(c.clone(), Arc::new(fs.clone())) {
        Ok(db) => Some(db),
        Err(e) => {
            check_error(&e, what);
            None
        }
    }
}

/// Reads every key in order and backwards; every item must be in strict order and the
/// two directions must agree unless an error stops one of them.
fn scan(db: &Lsm, what: &str) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut last: Option<Vec<u8>> = None;
    for item in db.iter() {
        match item {
            Ok((k, v)) => {
                if let Some(l) = &last {
                    assert!(*l < k, "{what}: iteration out of order");
                }
                last = Some(k.clone());
                out.insert(k, v);
            }
            Err(e) => {
                check_error(&e, what);
                return None;
            }
        }
    }
    let mut n = 0;
    for item in db.iter().rev() {
        match item {
            Ok((k, v)) => {
                assert_eq!(out.get(&k), Some(&v), "{what}: reverse iteration differs");
                n += 1;
            }
            Err(e) => {
                check_error(&e, what);
                return None;
            }
        }
    }
    assert_eq!(n, out.len(), "{what}: reverse iteration differs in length");
    for (k, v) in &out {
        match db.get(k) {
            Ok(got) => assert_eq!(got.as_ref(), Some(v), "{what}: get disagrees with iter"),
            Err(e) => check_error(&e, what),
        }
    }
    Some(out)
}

/// `bytes` as a WAL segment (log framing v1 or v2 + batches), decoded directly, as the
/// segment of [`wal_replay`]'s database (whose number v2 fragments must carry). Returns
/// the number of well-formed batches.
pub fn wal_read(bytes: &[u8]) -> usize {
    let (_, seg) = wal_base();
    let log = crate::wal::read_log(bytes, seg, segment_number(seg));
    let mut batches = 0;
    for (_, rec) in &log.records {
        if let Ok(b) = DecodedBatch::parse(rec) {
            if b.ops().is_ok() {
                batches += 1;
            }
        }
    }
    batches
}

/// A closed database on MemFs with an empty live WAL segment, and that segment's path.
fn wal_base() -> &'static (MemFs, PathBuf) {
    static BASE: OnceLock<(MemFs, PathBuf)> = OnceLock::new();
    BASE.get_or_init(|| {
        let fs = MemFs::new();
        let mut c = config();
        c.cache.persist_on_close = false;
        let db = Lsm::open_on(c, Arc::new(fs.clone())).expect("fuzz base: open");
        db.close().expect("fuzz base: close");
        let wal_dir = Path::new("db/wals");
        let name = fs
            .list_dir(wal_dir)
            .unwrap()
            .into_iter()
            .find(|n| n.ends_with(".log"))
            .expect("fuzz base: a WAL segment");
        (fs.crash(None), wal_dir.join(name))
    })
}

fn segment_number(seg: &Path) -> u64 {
    seg.file_name()
        .and_then(|n| crate::wal::parse_segment_file_name(&n.to_string_lossy()))
        .expect("fuzz base: a segment name")
}

/// `bytes` as the live WAL segment of a database, opened under every recovery mode:
/// no panic, a typed error or a database that reads consistently.
pub fn wal_replay(bytes: &[u8]) {
    wal_read(bytes);
    let (base, seg) = wal_base();
    for mode in [
        RecoveryMode::TolerateTail,
        RecoveryMode::Absolute,
        RecoveryMode::Salvage,
    ] {
        let fs = base.crash(None);
        fs.write_raw(seg, bytes.to_vec()).unwrap();
        let mut c = config();
        c.cache.persist_on_close = false;
        c.wal.recovery = mode;
        if let Some(db) = open(&fs, &c, "wal replay") {
            scan(&db, "wal replay");
            let _ = db.verify();
            let _ = db.close();
        }
    }
}

/// `bytes` as an SSTable: open, scan both ways, look up every key seen, verify.
pub fn sstable_open_and_scan(bytes: &[u8]) {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("t")).unwrap();
    let path = Path::new("t/000001.sst");
    let f = fs.create(path).unwrap();
    f.append(bytes).unwrap();
    drop(f);
    let table = match crate::sstable::SSTable::open(&fs, path, 1) {
        Ok(t) => t,
        Err(e) => return check_error(&e, "sstable open"),
    };
    let _ = table.range_tombstones().len();
    let mut keys = Vec::new();
    let mut it = table.iter();
    it.seek_to_first();
    while it.valid() && keys.len() < 100_000 {
        keys.push(it.key().to_vec());
        it.next();
    }
    if let Err(e) = it.status() {
        check_error(&e, "sstable iter");
    }
    let mut it = table.iter();
    it.seek_to_last();
    let mut steps = 0;
    while it.valid() && steps < 100_000 {
        it.prev();
        steps += 1;
    }
    if let Err(e) = it.status() {
        check_error(&e, "sstable reverse iter");
    }
    for k in keys.iter().take(2_000) {
        if crate::key::is_well_formed(k) {
            let uk = crate::key::user_key(k);
            let mut it = table.iter();
            it.seek(k);
            if let Err(e) = table.get(uk, crate::key::MAX_SEQ, crate::key::hash(uk)) {
                check_error(&e, "sstable get");
            }
        }
    }
    if let Err(e) = table.verify() {
        check_error(&e, "sstable verify");
    }
}

/// `bytes` given to the data-block decoder (restart array, prefix-compressed
/// entries), iterated both ways. The footer, block-handle and bloom-filter decoders are
/// private to the table reader and reached through [`sstable_open_and_scan`].
pub fn block_decoders(bytes: &[u8]) {
    let path: Arc<Path> = Arc::from(Path::new("fuzz.block"));
    if let Ok(b) = crate::sstable::Block::from_raw(bytes.to_vec(), path, 0) {
        let b = Arc::new(b);
        let mut it = b.clone().iter();
        it.seek_to_first();
        let mut n = 0;
        let mut first = None;
        while it.valid() && n < 100_000 {
            if first.is_none() {
                first = Some(it.key().to_vec());
            }
            n += 1;
            it.next();
        }
        let mut it = b.iter();
        it.seek_to_last();
        while it.valid() && n > 0 {
            it.prev();
            n -= 1;
        }
        if let Some(k) = first {
            it.seek(&k);
        }
    }
}

/// The model database of the manifest and key-cache targets: its files on MemFs after
/// a clean close (a valid key cache file included) and its content.
pub struct Base {
    /// The file system after the close.
    pub fs: MemFs,
    /// Everything the database holds.
    pub model: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Builds [`Base`] once: 200 keys in two tables and a memtable flushed at close, half of
/// them read twice so the key cache holds them.
pub fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let fs = MemFs::new();
        let db = Lsm::open_on(config(), Arc::new(fs.clone())).expect("fuzz base: open");
        let mut model = BTreeMap::new();
        for i in 0..200u32 {
            let k = format!("key{i:04}").into_bytes();
            let v = format!("value-{i}-{}", "v".repeat((i % 13) as usize)).into_bytes();
            db.put(&k, &v).unwrap();
            model.insert(k, v);
            if i == 80 || i == 160 {
                db.flush().unwrap();
            }
        }
        db.delete(b"key0003").unwrap();
        model.remove(b"key0003".as_slice());
        db.flush().unwrap();
        for _ in 0..2 {
            for i in (0..200u32).step_by(2) {
                db.get(format!("key{i:04}").as_bytes()).unwrap();
            }
        }
        db.close().expect("fuzz base: close");
        Base {
            fs: fs.crash(None),
            model,
        }
    })
}

/// `bytes` as the MANIFEST that a valid CURRENT names: the open fails with a typed
/// error or the database reads consistently.
pub fn manifest_open(bytes: &[u8]) {
    let b = base();
    let fs = b.fs.crash(None);
    let current = fs.read_all(Path::new("db/CURRENT")).unwrap();
    let name = String::from_utf8(current).unwrap();
    let number = crate::filename::parse_manifest(name.trim_end()).expect("fuzz base: CURRENT");
    let log = crate::wal::read_log(bytes, Path::new(name.trim_end()), number);
    for (_, rec) in &log.records {
        let _ = crate::manifest::VersionEdit::decode(rec);
    }
    let manifest = Path::new("db").join(name.trim_end());
    fs.write_raw(&manifest, bytes.to_vec()).unwrap();
    let mut c = config();
    c.cache.persist_on_close = false;
    if let Some(db) = open(&fs, &c, "manifest open") {
        scan(&db, "manifest open");
        let _ = db.verify();
        let _ = db.close();
    }
}

/// True when `bytes` end with a correct CRC-32C of what precedes them: such a file is
/// indistinguishable from one the engine wrote, so it is trusted like one.
fn has_valid_crc(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && {
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        crc32c::crc32c(body).to_le_bytes() == crc
    }
}

/// `bytes` as the key cache file: the open must succeed and, unless the bytes carry a
/// valid checksum (a forged file the engine cannot tell from its own), every read must
/// return exactly what the database holds.
pub fn key_cache_open(bytes: &[u8]) {
    let b = base();
    let fs = b.fs.crash(None);
    fs.write_raw(Path::new("db/cache"), bytes.to_vec()).unwrap();
    let db = Lsm::open_on(config(), Arc::new(fs.clone()))
        .unwrap_or_else(|e| panic!("a key cache file made the open fail: {e}"));
    let trusted = has_valid_crc(bytes);
    for i in 0..210u32 {
        let k = format!("key{i:04}").into_bytes();
        let got = db
            .get(&k)
            .unwrap_or_else(|e| panic!("get with a damaged key cache file: {e}"));
        if !trusted {
            assert_eq!(
                got.as_ref(),
                b.model.get(&k),
                "a damaged key cache file served a wrong value for key{i:04}"
            );
        }
    }
    if !trusted {
        let all = scan(&db, "key cache").expect("iteration failed");
        assert!(
            all == b.model,
            "iteration differs with a damaged cache file"
        );
    }
    db.close().unwrap();
}

/// A little-endian cursor over the fuzz input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn key(&mut self) -> Option<Vec<u8>> {
        Some(format!("k{:02}", self.byte()? % 40).into_bytes())
    }
    fn value(&mut self, tag: usize) -> Option<Vec<u8>> {
        let len = self.byte()? as usize % 64;
        let mut v = format!("{tag}:").into_bytes();
        v.resize(v.len() + len, b'a' + (tag % 26) as u8);
        Some(v)
    }
}

fn ops_config() -> Config {
    let mut c = config();
    c.memtable.max_entries = 8;
    c.sstable.block_size = 256; // the smallest allowed: many blocks per table
    for (k, v) in [
        ("compaction.base_level_bytes", "4KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "2KiB"),
        ("compaction.level0_file_trigger", "2"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

fn apply_range(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, s: &[u8], e: &[u8]) {
    if s < e {
        let doomed: Vec<Vec<u8>> = model
            .range(s.to_vec()..e.to_vec())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            model.remove(&k);
        }
    }
}

/// A sequence of operations decoded from `bytes` (put, get, delete, delete_range,
/// batch, flush, compact, reopen, sync + power cut, iterate, snapshot) run against a
/// `BTreeMap` model on MemFs. Every read must agree with the model.
pub fn ops(bytes: &[u8]) {
    let mut input = Input(bytes);
    let c = ops_config();
    let mut fs = MemFs::new();
    let mut db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).expect("ops: open");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut step = 0usize;
    while let Some(op) = input.byte() {
        step += 1;
        if step > 200 {
            break;
        }
        let r: Option<()> = (|| {
            match op % 14 {
                0..=3 => {
                    let k = input.key()?;
                    let v = input.value(step)?;
                    db.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                4 => {
                    let k = input.key()?;
                    assert_eq!(db.get(&k).unwrap().as_ref(), model.get(&k), "ops: get");
                }
                5 => {
                    let k = input.key()?;
                    db.delete(&k).unwrap();
                    model.remove(&k);
                }
                6 => {
                    let (s, e) = (input.key()?, input.key()?);
                    if s <= e {
                        db.delete_range(&s, &e).unwrap();
                        apply_range(&mut model, &s, &e);
                    } else {
                        assert!(db.delete_range(&s, &e).is_err());
                    }
                }
                7 => {
                    let n = input.byte()? % 5;
                    let mut b = WriteBatch::new();
                    let mut next = model.clone();
                    for j in 0..n {
                        let k = input.key()?;
                        if input.byte()? % 3 == 0 {
                            b.delete(&k);
                            next.remove(&k);
                        } else {
                            let v = input.value(step * 10 + j as usize)?;
                            b.put(&k, &v);
                            next.insert(k, v);
                        }
                    }
                    db.write(b).unwrap();
                    model = next;
                }
                8 => db.flush().unwrap(),
                9 => db.compact().unwrap(),
                10 => {
                    db.close().unwrap();
                    db = Lsm::open_on(c.clone(), Arc::new(fs.clone())).expect("ops: reopen");
                }
                11 => {
                    // Power cut right after a sync: nothing acknowledged may be lost.
                    db.sync().unwrap();
                    let torn = input.byte()?;
                    let after = fs.crash(Some(torn as u64));
                    fs = after;
                    db = Lsm::open_on(c.clone(), Arc::new(fs.clone()))
                        .expect("ops: open after power cut");
                }
                12 => {
                    let got = scan(&db, "ops").expect("ops: iteration failed");
                    assert!(got == model, "ops: iteration disagrees with the model");
                }
                _ => {
                    // A snapshot keeps its view while writes go on.
                    let snap = db.snapshot();
                    let before = model.clone();
                    let k = input.key()?;
                    db.put(&k, b"after-snapshot").unwrap();
                    model.insert(k.clone(), b"after-snapshot".to_vec());
                    assert_eq!(snap.get(&k).unwrap().as_ref(), before.get(&k), "snapshot");
                }
            }
            Some(())
        })();
        if r.is_none() {
            break;
        }
    }
    let got = scan(&db, "ops").expect("ops: final iteration failed");
    assert!(got == model, "ops: final content disagrees with the model");
    db.close().unwrap();
}

/// A fuzz target: takes any bytes, panics only on an engine bug.
pub type Target = fn(&[u8]);

/// The functions above by target name, for the corpus replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_reader", wal_replay),
    ("sstable", sstable_open_and_scan),
    ("block", block_decoders),
    ("manifest", manifest_open),
    ("key_cache", key_cache_open),
    ("ops", ops),
];

/// Seed inputs made from real files, by target: `(target, name, bytes)`. Written to
/// `fuzz/corpus/<target>/` by `LSM_WRITE_CORPUS=1 cargo test --test fuzz_corpus`.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let b = base();
    let fs = &b.fs;
    let read = |p: &Path| fs.read_all(p).unwrap();
    let current = String::from_utf8(read(Path::new("db/CURRENT"))).unwrap();
    let manifest = read(&Path::new("db").join(current.trim_end()));
    let number = crate::filename::parse_manifest(current.trim_end()).unwrap();
    // The same manifest in the v1 framing, with a version-1 header, as an old build
    // wrote it: both framings stay reachable.
    let log = crate::wal::read_log(&manifest, Path::new("seed"), number);
    let mut records: Vec<Vec<u8>> = log.records.into_iter().map(|(_, r)| r).collect();
    if let Some(h) = records.first_mut() {
        h[8..12].copy_from_slice(&crate::manifest::MANIFEST_VERSION_V1.to_le_bytes());
    }
    let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
    out.push((
        "manifest",
        "real_v1".to_string(),
        crate::wal::encode_log_v1(&refs),
    ));
    out.push(("manifest", "real".to_string(), manifest));
    out.push(("key_cache", "real".to_string(), read(Path::new("db/cache"))));
    let mut tables: Vec<String> = fs.list_dir(Path::new("db/ss_tables")).unwrap();
    tables.sort();
    for (i, t) in tables.iter().take(2).enumerate() {
        let bytes = read(&Path::new("db/ss_tables").join(t));
        // The first data block: the shortest prefix the block decoder accepts with
        // entries to iterate.
        if i == 0 {
            for len in 16..bytes.len().min(16 << 10) {
                let path: Arc<Path> = Arc::from(Path::new("seed"));
                if let Ok(blk) = crate::sstable::Block::from_raw(bytes[..len].to_vec(), path, 0) {
                    let mut it = Arc::new(blk).iter();
                    it.seek_to_first();
                    let mut n = 0;
                    while it.valid() {
                        n += 1;
                        it.next();
                    }
                    if n > 3 && it.status().is_ok() {
                        out.push((
                            "block",
                            "first_data_block".to_string(),
                            bytes[..len].to_vec(),
                        ));
                        break;
                    }
                }
            }
        }
        out.push(("sstable", format!("table{i}"), bytes));
    }
    // A WAL segment with puts, deletes, a range deletion and a batch, before any flush.
    let wfs = MemFs::new();
    let mut c = config();
    c.cache.persist_on_close = false;
    let db = Lsm::open_on(c, Arc::new(wfs.clone())).unwrap();
    for i in 0..30u32 {
        db.put(format!("k{i:02}").as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    db.delete(b"k03").unwrap();
    db.delete_range(b"k10", b"k15").unwrap();
    let mut batch = WriteBatch::new();
    batch.put(b"b1", b"x").delete(b"k20").put(b"b2", b"");
    db.write(batch).unwrap();
    db.sync().unwrap();
    let cut = wfs.crash(None);
    drop(db);
    // Its batches, framed again as the segment `wal_replay` replaces (whose number v2
    // fragments carry), in both framings.
    let mut batches = Vec::new();
    let mut names = cut.list_dir(Path::new("db/wals")).unwrap();
    names.sort();
    for name in names {
        let path = Path::new("db/wals").join(&name);
        let bytes = cut.read_all(&path).unwrap();
        let n = crate::wal::parse_segment_file_name(&name).unwrap();
        let log = crate::wal::read_log(&bytes, &path, n);
        batches.extend(log.records.into_iter().skip(1).map(|(_, r)| r));
    }
    let (_, seg) = wal_base();
    let number = segment_number(seg);
    let sfs = MemFs::new();
    sfs.create_dir_all(Path::new("s")).unwrap();
    let mut w = crate::wal::WriteAheadLogger::create(&sfs, Path::new("s"), number).unwrap();
    let refs: Vec<&[u8]> = batches.iter().map(|b| b.as_slice()).collect();
    w.append(&refs).unwrap();
    let seg_path = Path::new("s").join(crate::wal::segment_file_name(number));
    out.push((
        "wal_reader",
        "segment".to_string(),
        sfs.read_all(&seg_path).unwrap(),
    ));
    // One batch per record, synced every few: fragments claim growing synced lengths,
    // which the reader's hole-or-damage rule looks at.
    let mut w = crate::wal::WriteAheadLogger::create(&sfs, Path::new("s"), number).unwrap();
    for (i, b) in refs.iter().enumerate() {
        w.append(&[b]).unwrap();
        if i % 4 == 3 {
            w.sync_handle().sync().unwrap();
        }
    }
    out.push((
        "wal_reader",
        "segment_synced".to_string(),
        sfs.read_all(&seg_path).unwrap(),
    ));
    let header = crate::wal::format::encode_segment_header_version(number, 1);
    let mut v1: Vec<&[u8]> = vec![&header];
    v1.extend(refs);
    out.push((
        "wal_reader",
        "segment_v1".to_string(),
        crate::wal::encode_log_v1(&v1),
    ));
    // Operation sequences: a mixed one, and one heavy on flush/compact/reopen.
    let mixed: Vec<u8> = (0u32..400)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    out.push(("ops", "mixed".to_string(), mixed));
    let mut heavy = Vec::new();
    for i in 0u8..40 {
        heavy.extend([
            i % 4,
            i,
            30,
            5,
            i,
            8,
            6,
            3,
            40,
            12,
            9,
            10,
            4,
            i,
            11,
            7,
            13,
            i,
        ]);
    }
    out.push(("ops", "flush_compact_reopen".to_string(), heavy));
    out
}
