//! After damage, the WAL reader looks for the next valid fragment at every byte offset.
//! A user value holding bytes shaped like a fragment must not be taken for one: here
//! values carry a complete, valid v1 fragment and a valid v2 fragment of another log,
//! each holding a batch that writes `evil`; a flipped byte in front of them sends the
//! reader scanning through them. Whatever the recovery mode, `evil` never appears.

use lsm::fs::{FileSystem, MemFs};
use lsm::{Config, Lsm, RecoveryMode};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn mask(c: u32) -> u32 {
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The WAL record of a batch `put(key, value)` at sequence `seq` (FORMAT.md section 4).
fn batch(seq: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut b = seq.to_le_bytes().to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.push(1);
    b.push(key.len() as u8);
    b.extend_from_slice(key);
    b.push(value.len() as u8);
    b.extend_from_slice(value);
    b
}

/// A v1 FULL fragment: crc | length | type 1 | payload.
fn v1_fragment(payload: &[u8]) -> Vec<u8> {
    let crc = mask(crc32c::crc32c_append(crc32c::crc32c(&[1]), payload));
    let mut f = crc.to_le_bytes().to_vec();
    f.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    f.push(1);
    f.extend_from_slice(payload);
    f
}

/// A v2 FULL fragment of log `log`: crc | length | type 5 | log | synced | payload.
fn v2_fragment(log: u32, synced: u32, payload: &[u8]) -> Vec<u8> {
    let mut head = vec![5u8];
    head.extend_from_slice(&log.to_le_bytes());
    head.extend_from_slice(&synced.to_le_bytes());
    let crc = mask(crc32c::crc32c_append(crc32c::crc32c(&head), payload));
    let mut f = crc.to_le_bytes().to_vec();
    f.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    f.extend_from_slice(&head);
    f.extend_from_slice(payload);
    f
}

fn config(mode: RecoveryMode) -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = 100_000;
    c.cache.persist_on_close = false;
    c.wal.recovery = mode;
    c
}

fn live_segment(fs: &MemFs) -> PathBuf {
    let mut segs: Vec<String> = fs.list_dir(Path::new("db/wals")).unwrap();
    segs.sort();
    Path::new("db/wals").join(segs.last().unwrap())
}

/// Regression (issue 10, item 5): resync took a fragment inside a value for a record
/// and replayed the batch hidden in it.
#[test]
fn regression_resync_never_replays_a_fragment_hidden_in_a_value() {
    let fs = MemFs::new();
    let db = Lsm::open_on(config(RecoveryMode::TolerateTail), Arc::new(fs.clone())).unwrap();
    let seg = live_segment(&fs);
    let number: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let evil = batch(1_000_000, b"evil", b"replayed from a value");
    let crafted_v1 = [b"<<".to_vec(), v1_fragment(&evil), b">>".to_vec()].concat();
    let crafted_v2 = [
        b"<<".to_vec(),
        v2_fragment((number + 1) as u32, 0, &evil),
        v2_fragment((number as u32).wrapping_sub(1), 0, &evil),
        b">>".to_vec(),
    ]
    .concat();
    for i in 0..20u32 {
        db.put(format!("a{i:02}").as_bytes(), b"before").unwrap();
    }
    db.put(b"victim1", &crafted_v1).unwrap();
    db.put(b"victim2", &crafted_v2).unwrap();
    for i in 0..20u32 {
        db.put(format!("z{i:02}").as_bytes(), b"after").unwrap();
    }
    db.sync().unwrap();
    let base = fs.crash(None);
    drop(db);

    let data = base.read_all(&seg).unwrap();
    let find = |needle: &[u8]| {
        data.windows(needle.len())
            .position(|w| w == needle)
            .expect("the key is in the segment")
    };
    // A flipped byte in each victim's key breaks its record's checksum.
    for at in [find(b"victim1"), find(b"victim2")] {
        let fs = base.crash(None);
        let mut bytes = data.clone();
        bytes[at] ^= 0x20;
        fs.write_raw(&seg, bytes).unwrap();
        for mode in [
            RecoveryMode::TolerateTail,
            RecoveryMode::Absolute,
            RecoveryMode::Salvage,
        ] {
            match Lsm::open_on(config(mode), Arc::new(fs.crash(None))) {
                Ok(db) => {
                    assert_eq!(
                        db.get(b"evil").unwrap(),
                        None,
                        "{mode:?}, flip at {at}: a batch hidden in a value was replayed"
                    );
                    if mode == RecoveryMode::Salvage {
                        assert_eq!(db.get(b"z19").unwrap().as_deref(), Some(&b"after"[..]));
                    }
                }
                Err(e) => {
                    assert!(e.is_corruption(), "{mode:?}: {e}");
                    assert_ne!(mode, RecoveryMode::Salvage, "salvage failed: {e}");
                }
            }
        }
    }
}
