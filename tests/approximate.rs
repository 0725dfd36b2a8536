//! `approximate_len` and `approximate_size` are estimates from metadata: close to the
//! truth after a flush, monotone in the range, and 0 where there is nothing.

use lsm::{Config, Lsm};

const N: u64 = 20_000;

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn open(root: &std::path::Path) -> Lsm {
    let mut cfg = Config::with_root(root);
    // Several tables, so a range can cover some of them and not others.
    cfg.set("memtable.max_entries", "2000").unwrap();
    // Blocks stored as they are, so the sizes compare with the bytes put (the
    // repeated values would otherwise compress to almost nothing once compacted).
    cfg.set("sstable.compression", "none").unwrap();
    Lsm::open_with_config(cfg).unwrap()
}

#[test]
fn an_empty_database_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("db"));
    assert_eq!(db.approximate_len(), 0);
    assert_eq!(db.approximate_size(None, None), 0);
}

#[test]
fn len_counts_the_memtable_before_any_flush() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("db"));
    for i in 0..100 {
        db.put(&key(i), b"v").unwrap();
    }
    assert_eq!(db.approximate_len(), 100);
    // Nothing is in a table yet.
    assert_eq!(db.approximate_size(None, None), 0);
}

#[test]
fn after_loading_and_flushing_the_estimates_track_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("db"));
    let value = vec![b'x'; 100];
    for i in 0..N {
        db.put(&key(i), &value).unwrap();
    }
    db.flush().unwrap();

    let len = db.approximate_len();
    assert!(
        (N..=2 * N).contains(&len),
        "approximate_len {len} is not within [N, 2N] for N = {N}"
    );

    let all = db.approximate_size(None, None);
    assert!(
        (N * 50..=N * 400).contains(&all),
        "approximate_size of everything is {all} bytes for {N} entries of ~110 bytes"
    );

    // Growing ranges never shrink the estimate, and the whole range is the largest.
    let mut last = 0;
    for end in [N / 10, N / 2, N] {
        let size = db.approximate_size(Some(&key(0)), Some(&key(end)));
        assert!(size >= last, "[0, {end}) is {size} bytes, below {last}");
        assert!(size <= all);
        last = size;
    }
    let tenth = db.approximate_size(Some(&key(0)), Some(&key(N / 10)));
    assert!(
        tenth > 0 && tenth < all,
        "a tenth of the keys is {tenth} of {all} bytes"
    );

    // Empty ranges: start == end, start > end, and a range past every key.
    assert_eq!(db.approximate_size(Some(&key(5)), Some(&key(5))), 0);
    assert_eq!(db.approximate_size(Some(&key(9)), Some(&key(5))), 0);
    assert_eq!(db.approximate_size(Some(b"zzz"), None), 0);
    assert_eq!(db.approximate_size(None, Some(b"a")), 0);
}

#[test]
fn overwrites_and_deletes_are_counted_until_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir.path().join("db"));
    for round in 0..3u8 {
        for i in 0..1000 {
            db.put(&key(i), &[round]).unwrap();
        }
    }
    for i in 0..500 {
        db.delete(&key(i)).unwrap();
    }
    db.flush().unwrap();
    assert!(db.approximate_len() >= 1000);
    db.compact().unwrap();
    // The 500 live keys, once overwritten versions and tombstones are gone.
    let len = db.approximate_len();
    assert!(
        (500..=1000).contains(&len),
        "after compaction approximate_len is {len}"
    );
}
