//! Damage to every kind of file, on `MemFs`: WAL segment, SSTable, MANIFEST, CURRENT
//! and the key cache file (`<db>/cache`). Each file gets bit flips at random offsets, a
//! flip of its first and last byte, a zeroed 4 KiB page, truncations to several
//! lengths, and deletion. For each, in a thread with a timeout (no hang):
//!
//! - the open never panics; it fails with `Corruption`, or with `Io` naming the file,
//!   or it succeeds;
//! - after a successful open, every read returns the right value or a `Corruption`
//!   error (for WAL damage "right" means: the state after some prefix of the WAL's
//!   writes, since `tolerate_tail` drops a damaged last record as torn);
//! - damage to the key cache file is never an error: the open succeeds, cold, with
//!   every value right;
//! - deleting CURRENT, the MANIFEST or a table is an error at open, never an empty or
//!   partial database;
//! - `verify()` reports every SSTable flip that the open did not reject, and, while
//!   the database is open, every flip in a table or in a closed WAL segment.

mod common;

use common::{apply, gen_op, Op, State};
use lsm::fs::{FileSystem, MemFs};
use lsm::{Config, Lsm, LsmError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

const FLIPS_PER_FILE: usize = 12;
const TIMEOUT: Duration = Duration::from_secs(60);

fn config() -> Config {
    let mut c = lsm::fuzz_api::config();
    c.memtable.max_entries = 100_000;
    c.sstable.block_size = 512;
    c
}

#[derive(Clone, Debug)]
enum Damage {
    Flip(usize, u8),
    ZeroPage(usize),
    Truncate(usize),
    Delete,
}

impl Damage {
    fn apply(&self, fs: &MemFs, path: &Path) {
        let mut bytes = fs.read_all(path).unwrap();
        match *self {
            Damage::Flip(at, mask) => bytes[at] ^= mask,
            Damage::ZeroPage(at) => {
                let end = (at + 4096).min(bytes.len());
                bytes[at..end].fill(0);
            }
            Damage::Truncate(len) => bytes.truncate(len),
            Damage::Delete => return fs.remove_file(path).unwrap(),
        }
        fs.write_raw(path, bytes).unwrap();
    }
    fn is_flip(&self) -> bool {
        matches!(self, Damage::Flip(..))
    }
}

fn damages(len: usize, rng: &mut StdRng) -> Vec<Damage> {
    let mut out = vec![Damage::Delete];
    if len == 0 {
        return out;
    }
    out.push(Damage::Flip(0, 0x01));
    out.push(Damage::Flip(len - 1, 0x80));
    for _ in 0..FLIPS_PER_FILE {
        out.push(Damage::Flip(
            rng.random_range(0..len),
            1 << rng.random_range(0..8),
        ));
    }
    out.push(Damage::ZeroPage(0));
    if len > 4096 {
        out.push(Damage::ZeroPage(rng.random_range(0..len - 4096)));
    }
    for t in [0, 1, len / 2, len.saturating_sub(4), len - 1] {
        out.push(Damage::Truncate(t));
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Wal,
    Table,
    Manifest,
    Current,
    Cache,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    Some(if name.ends_with(".log") {
        Kind::Wal
    } else if name.ends_with(".sst") {
        Kind::Table
    } else if name.starts_with("MANIFEST-") {
        Kind::Manifest
    } else if name == "CURRENT" {
        Kind::Current
    } else if name == "cache" {
        Kind::Cache
    } else {
        return None;
    })
}

/// The files of a database worth damaging.
fn targets(fs: &MemFs) -> Vec<(PathBuf, Kind)> {
    let mut out = Vec::new();
    for dir in ["db", "db/wals", "db/ss_tables"] {
        let mut names = fs.list_dir(Path::new(dir)).unwrap();
        names.sort();
        for n in names {
            let p = Path::new(dir).join(n);
            if let Some(k) = kind_of(&p) {
                out.push((p, k));
            }
        }
    }
    out
}

/// A database at rest and what it may hold.
struct Base {
    name: &'static str,
    fs: MemFs,
    /// The acceptable contents: the full state, or (WAL damage) each prefix of the
    /// writes still in the WAL.
    states: Vec<State>,
    keys: Vec<Vec<u8>>,
}

/// Closed cleanly: three tables, an empty WAL, a valid key cache file.
fn closed_base() -> Base {
    let b = lsm::fuzz_api::base();
    Base {
        name: "closed",
        fs: b.fs.crash(None),
        states: vec![b.model.clone()],
        keys: (0..210u32)
            .map(|i| format!("key{i:04}").into_bytes())
            .collect(),
    }
}

/// Power cut after a sync: tables, plus 120 writes only in the WAL.
fn crashed_base() -> Base {
    let fs = MemFs::new();
    let db = Lsm::open_on(config(), Arc::new(fs.clone())).unwrap();
    let mut state = State::new();
    for i in 0..300u64 {
        let op = gen_op(0xc0de, i, 150);
        common::exec(&db, &op).unwrap();
        apply(&mut state, &op);
    }
    db.flush().unwrap();
    let mut states = vec![state.clone()];
    let wal_ops: Vec<Op> = (300..420u64).map(|i| gen_op(0xc0de, i, 150)).collect();
    for op in &wal_ops {
        common::exec(&db, op).unwrap();
        apply(&mut state, op);
        states.push(state.clone());
    }
    db.sync().unwrap();
    let cut = fs.crash(None);
    drop(db);
    Base {
        name: "crashed",
        fs: cut,
        states,
        keys: (0..170).map(common::key).collect(),
    }
}

fn fmt_err(e: &LsmError) -> String {
    e.to_string()
}

/// Reads everything back; panics on a wrong value or an untyped error.
fn check_reads(db: &Lsm, states: &[State], keys: &[Vec<u8>], errors_ok: bool, what: &str) {
    let mut items = Vec::new();
    let mut iter_error = None;
    // Both keyspaces of the history, the second one's keys under its model prefix.
    let second = db.keyspace(common::SECOND).expect("the second keyspace");
    let both = db.iter().chain(
        second
            .iter()
            .map(|r| r.map(|(k, v)| (common::in_second(&k), v))),
    );
    for item in both {
        match item {
            Ok(kv) => items.push(kv),
            Err(e) => {
                iter_error = Some(e);
                break;
            }
        }
    }
    // The one state the database holds, when the iteration saw all of it.
    let exact: Option<&State> = match &iter_error {
        None => {
            let got: State = items.iter().cloned().collect();
            Some(states.iter().find(|s| **s == got).unwrap_or_else(|| {
                panic!(
                    "{what}: iteration returned a state that was never acknowledged: {}",
                    common::describe_diff(&got, states.last().unwrap())
                )
            }))
        }
        Some(e) => {
            assert!(
                errors_ok && e.is_corruption(),
                "{what}: iteration failed with {}",
                fmt_err(e)
            );
            for (k, v) in &items {
                assert!(
                    states.iter().any(|s| s.get(k) == Some(v)),
                    "{what}: iteration yielded a wrong value for {}",
                    String::from_utf8_lossy(k)
                );
            }
            None
        }
    };
    for k in keys {
        match db.get(k) {
            Ok(v) => {
                let ok = match exact {
                    Some(s) => s.get(k) == v.as_ref(),
                    None => states.iter().any(|s| s.get(k) == v.as_ref()),
                };
                assert!(
                    ok,
                    "{what}: get({}) returned a wrong value {:?}",
                    String::from_utf8_lossy(k),
                    v.map(|v| String::from_utf8_lossy(&v).into_owned())
                );
            }
            Err(e) => assert!(
                errors_ok && e.is_corruption(),
                "{what}: get({}) failed with {}",
                String::from_utf8_lossy(k),
                fmt_err(&e)
            ),
        }
    }
}

/// One damaged file at rest, then open, read, verify.
fn case_at_rest(base: &Base, path: &Path, kind: Kind, damage: &Damage) -> Option<String> {
    let fs = base.fs.crash(None);
    damage.apply(&fs, path);
    let what = format!("{}: {} {damage:?}", base.name, path.display());
    let states = if kind == Kind::Wal && damage.is_flip() {
        // A flipped byte is not a torn write: at most the very last record (which a
        // torn write could also have garbled) may be dropped.
        base.states[base.states.len().saturating_sub(2)..].to_vec()
    } else if kind == Kind::Wal {
        // Zeroes and truncations look like what a power cut leaves: any prefix.
        base.states.clone()
    } else {
        vec![base.states.last().unwrap().clone()]
    };
    let keys = base.keys.clone();
    let damage = damage.clone();
    run_with_timeout(what.clone(), move || {
        match Lsm::open_on(config(), Arc::new(fs.clone())) {
            Err(e) => {
                assert!(
                    kind != Kind::Cache,
                    "{what}: a damaged key cache file made the open fail: {e}"
                );
                let named = |e: &LsmError| {
                    let s = e.to_string();
                    s.contains("CURRENT")
                        || s.contains("MANIFEST")
                        || s.contains(".sst")
                        || s.contains(".log")
                };
                assert!(
                    e.is_corruption() || (matches!(e, LsmError::Io { .. }) && named(&e)),
                    "{what}: open failed with neither Corruption nor an Io error naming \
                     the file: {e}"
                );
            }
            Ok(db) => {
                if matches!(damage, Damage::Delete) {
                    assert!(
                        !matches!(kind, Kind::Current | Kind::Manifest | Kind::Table),
                        "{what}: the database opened without a file it needs"
                    );
                }
                check_reads(&db, &states, &keys, kind != Kind::Cache, &what);
                if kind == Kind::Table && damage.is_flip() {
                    match db.verify() {
                        Err(e) => assert!(e.is_corruption(), "{what}: verify: {e}"),
                        Ok(_) => panic!("{what}: verify() missed a flipped table byte"),
                    }
                }
                let _ = db.close();
            }
        }
    })
}

/// Runs `f` on its own thread; a panic or a hang is returned as a failure message.
fn run_with_timeout(what: String, f: impl FnOnce() + Send + 'static) -> Option<String> {
    // The cases' panics are collected and reported together; keep stderr readable.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some("damage-case") {
                default(info);
            }
        }));
    });
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name("damage-case".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        })
        .unwrap();
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(())) => {
            h.join().unwrap();
            None
        }
        Ok(Err(msg)) => Some(msg),
        Err(_) => Some(format!("{what}: hung for {TIMEOUT:?}")),
    }
}

fn sweep(base: Base, seed: u64) -> (usize, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    let mut cases = 0;
    let files = targets(&base.fs);
    let kinds: Vec<Kind> = files.iter().map(|(_, k)| *k).collect();
    for k in [Kind::Table, Kind::Manifest, Kind::Current] {
        assert!(kinds.contains(&k), "{}: no {k:?} file", base.name);
    }
    for (path, kind) in &files {
        let len = base.fs.read_all(path).unwrap().len();
        for d in damages(len, &mut rng) {
            cases += 1;
            if let Some(f) = case_at_rest(&base, path, *kind, &d) {
                failures.push(f);
            }
        }
    }
    (cases, failures)
}

#[test]
fn damage_to_any_file_of_a_closed_database_is_never_silent() {
    let base = closed_base();
    let kinds: Vec<Kind> = targets(&base.fs).iter().map(|(_, k)| *k).collect();
    assert!(kinds.contains(&Kind::Cache), "no key cache file: {kinds:?}");
    let (cases, failures) = sweep(base, 1);
    eprintln!("closed database: {cases} damaged files");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn damage_to_any_file_of_a_crashed_database_is_never_silent() {
    let base = crashed_base();
    let kinds: Vec<Kind> = targets(&base.fs).iter().map(|(_, k)| *k).collect();
    assert!(kinds.contains(&Kind::Wal), "no WAL segment: {kinds:?}");
    let (cases, failures) = sweep(base, 2);
    eprintln!("crashed database: {cases} damaged files");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// While the database is open: a flip in a live table, or in a WAL segment that is no
/// longer being appended to, is reported by `verify()`.
#[test]
fn verify_reports_every_flip_in_live_tables_and_wal_segments() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut failures = Vec::new();
    let mut cases = 0;
    for round in 0..6 {
        let fs = MemFs::new();
        let mut c = config();
        // Keep the memtable (and its WAL segment) around: no background flush may
        // delete a segment while its bytes are being flipped.
        c.memtable.max_entries = 100_000;
        c.memtable.max_immutable = 4;
        // No compaction: the set of live files stays what verify() lists.
        c.set("compaction.level0_file_trigger", "1000").unwrap();
        c.set("compaction.level0_slowdown_files", "2000").unwrap();
        c.set("compaction.level0_stop_files", "3000").unwrap();
        let db = Lsm::open_on(c, Arc::new(fs.clone())).unwrap();
        for i in 0..200u64 {
            common::exec(&db, &gen_op(round, i, 100)).unwrap();
        }
        db.flush().unwrap();
        // Writes that stay in the live segment.
        for i in 200..250u64 {
            common::exec(&db, &gen_op(round, i, 100)).unwrap();
        }
        db.sync().unwrap();
        let live: Vec<PathBuf> = db
            .verify()
            .expect("undamaged files verify")
            .files
            .into_iter()
            .map(|f| f.path)
            .collect();
        for (path, kind) in targets(&fs) {
            if !matches!(kind, Kind::Table | Kind::Wal) || !live.contains(&path) {
                continue;
            }
            let original = fs.read_all(&path).unwrap();
            if original.is_empty() {
                continue;
            }
            for _ in 0..4 {
                let at = rng.random_range(0..original.len());
                let mut bytes = original.clone();
                bytes[at] ^= 1 << rng.random_range(0..8);
                fs.write_raw(&path, bytes).unwrap();
                cases += 1;
                match db.verify() {
                    Err(e) if e.is_corruption() => {}
                    Err(e) => failures.push(format!("{}: flip at {at}: {e}", path.display())),
                    Ok(_) => {
                        // A flip in the last record of the segment being appended to may
                        // look like a write in progress (records here are < 128 bytes).
                        let last_record = kind == Kind::Wal && at + 128 >= original.len();
                        let msg = format!(
                            "{}: flip at {at} of {} not reported by verify",
                            path.display(),
                            original.len()
                        );
                        if !last_record {
                            failures.push(msg);
                        }
                    }
                }
                fs.write_raw(&path, original.clone()).unwrap();
            }
        }
        db.verify().expect("undamaged files verify");
        db.close().unwrap();
    }
    eprintln!("{cases} flips in live files");
    assert!(
        failures.is_empty(),
        "{} of {cases} live flips were missed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The MANIFEST of a cleanly closed database with three tables; returns the file
/// system, the manifest's path, and the model.
fn manifest_case() -> (MemFs, PathBuf, State) {
    let b = lsm::fuzz_api::base();
    let fs = b.fs.crash(None);
    let current = String::from_utf8(fs.read_all(Path::new("db/CURRENT")).unwrap()).unwrap();
    (
        fs,
        Path::new("db").join(current.trim_end()),
        b.model.clone(),
    )
}

fn tables(fs: &MemFs) -> Vec<String> {
    let mut t = fs.list_dir(Path::new("db/ss_tables")).unwrap();
    t.sort();
    t
}

/// Regression (fixed: the log reader resyncs after damage, a complete damaged manifest
/// record is corruption, and a missing `log_number` segment fails the open). One flipped bit in a complete, synced MANIFEST record: `read_log` calls
/// the bad checksum damage and skips to the next 32 KiB block; no complete record
/// follows (a manifest is far smaller than a block), so the damage is classified as a
/// torn tail, and `VersionSet::recover` drops the edits from there on with a warning.
/// The open then succeeds, `delete_obsolete_files` deletes every table the dropped
/// edits added (they look like orphans), and the data is gone for good: here a flip in
/// the snapshot record empties the database. Expected: `Corruption` naming the
/// manifest, and no table deleted.
#[test]
fn regression_manifest_bit_flip_silently_drops_tables() {
    let (fs, manifest, model) = manifest_case();
    let before = tables(&fs);
    let mut bytes = fs.read_all(&manifest).unwrap();
    // Byte 35 is inside the second record (the snapshot edit listing every table).
    bytes[35] ^= 0x02;
    fs.write_raw(&manifest, bytes).unwrap();
    let r = Lsm::open_on(config(), Arc::new(fs.clone()));
    let after = tables(&fs);
    match r {
        Err(e) => assert!(
            e.is_corruption(),
            "open failed, but not with Corruption: {e}"
        ),
        Ok(db) => {
            let n = db.iter().count();
            panic!(
                "the open succeeded with {n} of {} keys; tables before {before:?}, after {after:?}",
                model.len()
            );
        }
    }
    assert_eq!(before, after, "tables were deleted by a failed open");
}

/// Regression (fixed: the log reader resyncs after damage, a complete damaged manifest
/// record is corruption, and a missing `log_number` segment fails the open). One flipped bit early in a WAL segment of 120 synced writes (no
/// rotation, so the segment is the last one and < 32 KiB): `read_log` reports
/// "fragment checksum mismatch" and resumes at the next block boundary, past the end of
/// the file, so no complete record follows the damage and it is classified as a torn
/// tail. With `wal.recovery = "tolerate_tail"` (the default) the open succeeds and
/// silently drops every write after the flipped record: synced writes lost, no error.
/// SPEC section 3: "damage followed by valid records is a Corruption error".
#[test]
fn regression_wal_bit_flip_mid_segment_silently_drops_synced_writes() {
    let base = crashed_base();
    let (path, _) = targets(&base.fs)
        .into_iter()
        .find(|(_, k)| *k == Kind::Wal)
        .unwrap();
    let fs = base.fs.crash(None);
    let mut bytes = fs.read_all(&path).unwrap();
    let len = bytes.len();
    bytes[len / 4] ^= 0x10;
    fs.write_raw(&path, bytes).unwrap();
    match Lsm::open_on(config(), Arc::new(fs)) {
        Err(e) => assert!(
            e.is_corruption(),
            "open failed, but not with Corruption: {e}"
        ),
        Ok(db) => {
            let got: State = db.iter().map(|r| r.unwrap()).collect();
            let want = base.states.last().unwrap();
            assert!(
                got == *want,
                "open succeeded after a flip at byte {} of {len}, with {}",
                len / 4,
                common::describe_diff(&got, want)
            );
        }
    }
}
