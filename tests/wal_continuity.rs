//! A WAL segment deleted by hand is never a silent loss: at open, the segments from the
//! manifest's `log_number` to the newest one it recorded must all be there, and their
//! batches must carry consecutive sequence numbers. Deleting any one segment of a
//! database whose writes are still only in the WAL either changes nothing (its data
//! was already in tables) or makes the open fail with `Corruption`, in `tolerate_tail`
//! and in `absolute`; `salvage` opens anyway.

use lsm::fs::{FileSystem, MemFs};
use lsm::{Config, Lsm, LsmError, RecoveryMode, SyncMode};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn config(mode: RecoveryMode) -> Config {
    let mut c = Config::with_root("db");
    c.memtable.max_entries = 6; // a new segment every few writes
    c.memtable.max_immutable = 4;
    c.wal.sync = SyncMode::Always;
    c.wal.recovery = mode;
    c.cache.key_cache_entries = 0;
    c
}

fn contents(db: &Lsm) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter().map(|r| r.unwrap()).collect()
}

fn segments(fs: &MemFs) -> Vec<String> {
    let mut s: Vec<String> = fs
        .list_dir(Path::new("db/wals"))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    s.sort();
    s
}

#[test]
fn deleting_any_wal_segment_is_harmless_or_corruption_never_a_silent_loss() {
    let live = MemFs::new();
    let db = Lsm::open_on(config(RecoveryMode::TolerateTail), Arc::new(live.clone())).unwrap();
    let (mut newest_caught, mut middle_caught) = (0, 0);
    for i in 0..400u32 {
        db.put(format!("k{i:04}").as_bytes(), &i.to_le_bytes())
            .unwrap();
        if i % 7 != 0 {
            continue;
        }
        // A power cut now: every write so far was synced, so all must come back.
        let image = live.crash(None);
        let want = {
            let intact = Lsm::open_on(
                config(RecoveryMode::TolerateTail),
                Arc::new(image.crash(None)),
            )
            .unwrap();
            contents(&intact)
        };
        assert_eq!(
            want.len(),
            i as usize + 1,
            "write {i}: the intact image lost writes"
        );
        let segs = segments(&image);
        for (n, seg) in segs.iter().enumerate() {
            let newest = n + 1 == segs.len();
            for mode in [RecoveryMode::TolerateTail, RecoveryMode::Absolute] {
                let copy = image.crash(None);
                copy.remove_file(&Path::new("db/wals").join(seg)).unwrap();
                match Lsm::open_on(config(mode), Arc::new(copy)) {
                    Ok(db2) => {
                        assert_eq!(
                            contents(&db2),
                            want,
                            "write {i}: deleting {seg} of {segs:?} lost writes silently"
                        );
                    }
                    Err(LsmError::Corruption { .. }) if newest => newest_caught += 1,
                    Err(LsmError::Corruption { .. }) => middle_caught += 1,
                    Err(e) => panic!("write {i}: deleting {seg}: {e}"),
                }
            }
            // Salvage opens whatever is left.
            let copy = image.crash(None);
            copy.remove_file(&Path::new("db/wals").join(seg)).unwrap();
            Lsm::open_on(config(RecoveryMode::Salvage), Arc::new(copy))
                .unwrap_or_else(|e| panic!("write {i}: salvage after deleting {seg}: {e}"));
        }
    }
    // Each kind of deletion happened, so the checks above are not vacuous.
    assert!(
        newest_caught > 10,
        "newest segment deletions caught: {newest_caught}"
    );
    assert!(
        middle_caught > 0,
        "older segment deletions caught: {middle_caught}"
    );
    // No "harmless" count is required: segments below `log_number` are deleted right
    // after their flush, so a run may find none left to delete harmlessly.
}
