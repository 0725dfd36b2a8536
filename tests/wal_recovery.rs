//! WAL recovery on the real file system, per `wal.recovery`:
//! - `tolerate_tail` (default): a torn record at the very end is dropped and everything
//!   before it kept; damage followed by valid records is a `Corruption` naming the
//!   segment;
//! - `absolute`: any damage, a torn tail too, is a `Corruption`;
//! - `salvage`: opens anyway and keeps the intact records.
//!
//! The WAL is captured by copying the database directory while the database is open
//! (after `sync()`), as a crash would leave it: `close()` would move the data to a table.

use lsm::{Config, Lsm, LsmError, RecoveryMode};
use std::fs;
use std::path::{Path, PathBuf};

const N: u32 = 600;
const BLOCK: u64 = 32 * 1024;
/// A v2 fragment header: crc, length, type, log number, synced length (FORMAT.md).
const HEADER: u64 = 15;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    let mut v = format!("value-of-{i}-").into_bytes();
    v.extend(std::iter::repeat_n(
        b'a' + (i % 26) as u8,
        100 + (i as usize * 7) % 120,
    ));
    v
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A crash image: `N` puts that are only in the WAL.
struct Image {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Image {
    fn new() -> Image {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let db = Lsm::open(&live).unwrap();
        for i in 0..N {
            db.put(&key(i), &value(i)).unwrap();
        }
        db.sync().unwrap();
        let root = dir.path().join("image");
        copy_dir(&live, &root);
        drop(db);
        Image { _dir: dir, root }
    }

    /// A fresh copy of the image to damage.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.root.parent().unwrap().join(name);
        copy_dir(&self.root, &to);
        to
    }
}

/// The one WAL segment of a database.
fn segment(root: &Path) -> PathBuf {
    let segs: Vec<PathBuf> = fs::read_dir(root.join("wals"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    assert_eq!(segs.len(), 1, "expected one WAL segment: {segs:?}");
    segs.into_iter().next().unwrap()
}

/// A record of the log: where its first fragment starts, where its last ends, and the
/// byte ranges of its fragments' payloads.
#[derive(Debug, Clone)]
struct Record {
    start: u64,
    end: u64,
    payloads: Vec<(u64, u64)>,
}

/// Parses the framing of an undamaged log (the engine's documented format, v2: types
/// 5 FULL, 6 FIRST, 7 MIDDLE, 8 LAST).
fn records(data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    let mut pos = 0u64;
    while pos < data.len() as u64 {
        let block_end = (pos / BLOCK + 1) * BLOCK;
        if block_end - pos < HEADER {
            pos = block_end;
            continue;
        }
        let p = pos as usize;
        // The segment's reserved, not yet written end (zeros): the end of the log.
        if data[p..].iter().all(|&b| b == 0) {
            break;
        }
        let len = u64::from(u16::from_le_bytes([data[p + 4], data[p + 5]]));
        let ty = data[p + 6];
        let payload = (pos + HEADER, pos + HEADER + len);
        match ty {
            5 => out.push(Record {
                start: pos,
                end: payload.1,
                payloads: vec![payload],
            }),
            6 => {
                cur = Some(Record {
                    start: pos,
                    end: payload.1,
                    payloads: vec![payload],
                })
            }
            7 | 8 => {
                let r = cur.as_mut().expect("MIDDLE/LAST without FIRST");
                r.payloads.push(payload);
                r.end = payload.1;
                if ty == 8 {
                    out.push(cur.take().unwrap());
                }
            }
            t => panic!("bad fragment type {t} at {pos}"),
        }
        pos = payload.1;
    }
    assert!(cur.is_none(), "log ends inside a record");
    out
}

fn open(root: &Path, mode: RecoveryMode) -> lsm::Result<Lsm> {
    let mut c = Config::with_root(root);
    c.wal.recovery = mode;
    Lsm::open_with_config(c)
}

/// Asserts the database holds exactly the puts `0..N` for which `present` holds.
fn assert_holds(db: &Lsm, present: impl Fn(u32) -> bool) {
    let mut want = Vec::new();
    for i in 0..N {
        let got = db.get(&key(i)).unwrap();
        if present(i) {
            assert_eq!(got, Some(value(i)), "key {i} lost or wrong");
            want.push((key(i), value(i)));
        } else {
            assert_eq!(got, None, "key {i} should be gone");
        }
    }
    let all: Vec<(Vec<u8>, Vec<u8>)> = db.iter().map(|r| r.unwrap()).collect();
    assert!(all == want, "iteration differs from the expected puts");
}

fn assert_corruption_in(r: lsm::Result<Lsm>, seg: &Path, what: &str) {
    match r {
        Err(LsmError::Corruption { ref file, .. }) => {
            assert_eq!(
                file.file_name(),
                seg.file_name(),
                "{what}: the error names the wrong file"
            );
            let msg = r.as_ref().err().unwrap().to_string();
            let name = seg.file_name().unwrap().to_string_lossy();
            assert!(
                msg.contains(&*name),
                "{what}: message does not name {name}: {msg}"
            );
        }
        Err(e) => panic!("{what}: expected Corruption, got {e}"),
        Ok(_) => panic!("{what}: open succeeded on a damaged WAL"),
    }
}

/// Puts after recovery land in a new segment and survive another crash image.
fn assert_writable_after_recovery(db: Lsm, root: &Path) {
    db.put(b"zz-after", b"recovered").unwrap();
    db.sync().unwrap();
    let again = root.with_extension("again");
    copy_dir(root, &again);
    drop(db);
    let db = open(&again, RecoveryMode::TolerateTail).expect("second recovery");
    assert_eq!(db.get(b"zz-after").unwrap(), Some(b"recovered".to_vec()));
}

#[test]
fn torn_tail_is_dropped_and_everything_before_kept() {
    let image = Image::new();
    let seg = segment(&image.root);
    let data = fs::read(&seg).unwrap();
    let recs = records(&data);
    // The segment header and one record per put.
    assert_eq!(recs.len(), N as usize + 1);
    assert!(data.len() as u64 > 2 * BLOCK, "the log should span blocks");
    let last = recs.last().unwrap().clone();
    // The live segment's reserved end, past its last record, reads as zeros.
    assert!(last.end <= data.len() as u64);
    assert!(data[last.end as usize..].iter().all(|&b| b == 0));

    let cuts = [
        last.start + 1,
        last.start + HEADER - 1,
        last.start + HEADER,
        (last.start + last.end) / 2,
        last.end - 1,
    ];
    for (n, cut) in cuts.into_iter().enumerate() {
        let root = image.copy(&format!("torn{n}"));
        let seg = segment(&root);
        let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut).unwrap();
        drop(f);

        assert_corruption_in(
            open(&root, RecoveryMode::Absolute),
            &seg,
            &format!("absolute, cut at {cut}"),
        );
        let db = open(&root, RecoveryMode::TolerateTail)
            .unwrap_or_else(|e| panic!("tolerate_tail, cut at {cut}: open failed: {e}"));
        assert_holds(&db, |i| i < N - 1);
        db.verify().unwrap();
        assert_writable_after_recovery(db, &root);
    }

    // A bad checksum in the very last record is a torn tail too.
    let root = image.copy("torn-crc");
    let seg = segment(&root);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[(last.start + HEADER + 3) as usize] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();
    let db = open(&root, RecoveryMode::TolerateTail).expect("damaged last record");
    assert_holds(&db, |i| i < N - 1);
}

#[test]
fn intact_wal_replays_in_every_mode() {
    let image = Image::new();
    for (n, mode) in [
        RecoveryMode::Absolute,
        RecoveryMode::TolerateTail,
        RecoveryMode::Salvage,
    ]
    .into_iter()
    .enumerate()
    {
        let root = image.copy(&format!("intact{n}"));
        let db = open(&root, mode).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_holds(&db, |_| true);
    }
}

#[test]
fn damage_before_valid_records_is_corruption_unless_salvaging() {
    let image = Image::new();
    let seg0 = segment(&image.root);
    let data = fs::read(&seg0).unwrap();
    let recs = records(&data);
    // Record r holds put r-1 (record 0 is the segment header). Damage put 3's payload.
    let victim = 4usize;
    let (p0, _) = recs[victim].payloads[0];
    let flip_at = (p0 + 12) as usize;
    let damaged_block = recs[victim].start / BLOCK;

    for mode in [RecoveryMode::TolerateTail, RecoveryMode::Absolute] {
        let root = image.copy(&format!("mid-{mode:?}"));
        let seg = segment(&root);
        let mut bytes = fs::read(&seg).unwrap();
        bytes[flip_at] ^= 0x01;
        fs::write(&seg, &bytes).unwrap();
        assert_corruption_in(open(&root, mode), &seg, &format!("{mode:?}"));
        // Refusing to open must not have destroyed the log: undo the damage, and the
        // database opens whole.
        bytes[flip_at] ^= 0x01;
        fs::write(&seg, &bytes).unwrap();
        let db = open(&root, mode).expect("open after undoing the damage");
        assert_holds(&db, |_| true);
    }

    let root = image.copy("mid-salvage");
    let seg = segment(&root);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[flip_at] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    let db = open(&root, RecoveryMode::Salvage).expect("salvage must open");
    // Never a wrong value; the damaged put is gone; everything in other blocks is kept
    // (a reader may give up on the rest of a damaged block: its framing is suspect).
    let mut kept = 0;
    for i in 0..N {
        let r = &recs[i as usize + 1];
        let got = db.get(&key(i)).unwrap();
        let other_block = r.start / BLOCK != damaged_block && r.end / BLOCK != damaged_block;
        if i as usize + 1 == victim {
            assert_eq!(got, None, "salvage kept the damaged record");
        } else if (i as usize + 1) < victim || other_block {
            assert_eq!(got, Some(value(i)), "salvage lost intact put {i}");
        } else if let Some(v) = got {
            assert_eq!(v, value(i), "salvage returned a wrong value for {i}");
        }
        if db.get(&key(i)).unwrap().is_some() {
            kept += 1;
        }
    }
    assert!(kept >= N as usize / 2, "salvage kept only {kept} puts");
    for item in db.iter() {
        let (k, v) = item.unwrap();
        let i: u32 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
        assert_eq!(v, value(i));
    }
    db.verify().unwrap();
    assert_writable_after_recovery(db, &root);
}

#[test]
fn damaged_segment_header_is_corruption() {
    // With valid records after it, a damaged header is mid-log damage, not a torn tail.
    let image = Image::new();
    let root = image.copy("header");
    let seg = segment(&root);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[HEADER as usize + 2] ^= 0x10;
    fs::write(&seg, &bytes).unwrap();
    assert_corruption_in(
        open(&root, RecoveryMode::TolerateTail),
        &seg,
        "damaged segment header",
    );
}
