//! Whole-table tests against a simple model, on the in-memory file system.

use super::builder::TableInfo;
use super::iter::TableIterator;
use super::*;
use crate::config::Compression;
use crate::fs::{FileSystem, MemFs};
use crate::iter::InternalIterator;
use crate::key::{self, SeqNo, ValueKind};
use crate::range_del::RangeTombstone;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Sorted `(internal key, value)` pairs, the table's expected contents.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn random_entries(rng: &mut Rng, users: usize) -> Entries {
    let mut out = Vec::new();
    let mut seq = 1;
    for _ in 0..users {
        let len = rng.below(24) as usize;
        let uk: Vec<u8> = (0..len).map(|_| b'a' + rng.below(4) as u8).collect();
        for _ in 0..1 + rng.below(6) {
            seq += 1 + rng.below(3);
            let kind = if rng.below(5) == 0 {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            let value = if kind == ValueKind::Delete {
                Vec::new()
            } else {
                // Half repetitive, half random: blocks compress, but not to nothing.
                let n = rng.below(40) as usize;
                (0..n)
                    .map(|i| if i % 2 == 0 { b'x' } else { rng.next() as u8 })
                    .collect()
            };
            out.push((key::encode(&uk, seq, kind), value));
        }
    }
    out.sort_by(|a, b| key::compare(&a.0, &b.0));
    out.dedup_by(|a, b| key::compare(&a.0, &b.0) == Ordering::Equal);
    out
}

fn build(
    fs: &MemFs,
    path: &Path,
    entries: &Entries,
    tombstones: &[RangeTombstone],
    opts: TableOptions,
) -> TableInfo {
    fs.create_dir_all(Path::new("/db")).unwrap();
    let f = fs.create(path).unwrap();
    let mut b = TableBuilder::new(f, path.to_path_buf(), opts);
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    for t in tombstones {
        b.add_range_tombstone(t);
    }
    b.finish().unwrap()
}

/// What `get` must answer: the newest version with `seq <= snapshot`.
fn model_get(entries: &Entries, uk: &[u8], snap: SeqNo) -> Option<(SeqNo, ValueKind, Vec<u8>)> {
    entries
        .iter()
        .find(|(k, _)| key::user_key(k) == uk && key::seq(k) <= snap)
        .map(|(k, v)| (key::seq(k), key::kind(k).unwrap(), v.clone()))
}

fn check_gets(t: &SSTable, entries: &Entries, rng: &mut Rng) {
    let mut users: Vec<Vec<u8>> = entries
        .iter()
        .map(|(k, _)| key::user_key(k).to_vec())
        .collect();
    users.dedup();
    users.push(b"zzzz-absent".to_vec());
    users.push(b"aaab-absent".to_vec());
    let max = entries.iter().map(|(k, _)| key::seq(k)).max().unwrap_or(0);
    for uk in &users {
        for snap in [0, rng.below(max + 2), rng.below(max + 2), max, key::MAX_SEQ] {
            let got = t.get(uk, snap, key::hash(uk)).unwrap();
            assert_eq!(
                got,
                model_get(entries, uk, snap),
                "key {uk:?} snapshot {snap}"
            );
        }
    }
}

fn collect_forward(it: &mut TableIterator) -> Entries {
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

fn check_iter(t: &Arc<SSTable>, entries: &Entries, rng: &mut Rng) {
    let mut it = t.iter();
    assert_eq!(&collect_forward(&mut it), entries);

    let mut back = Vec::new();
    it.seek_to_last();
    while it.valid() {
        back.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    back.reverse();
    assert_eq!(&back, entries);

    let n = entries.len();
    for _ in 0..300 {
        // Targets are existing keys, their neighbours, and random user keys.
        let target = if n > 0 && rng.below(2) == 0 {
            let (k, _) = &entries[rng.below(n as u64) as usize];
            let delta = rng.below(3) as i64 - 1;
            let s = (key::seq(k) as i64 + delta).max(0) as u64;
            key::encode(key::user_key(k), s, ValueKind::Put)
        } else {
            let len = rng.below(6) as usize;
            let uk: Vec<u8> = (0..len).map(|_| b'a' + rng.below(5) as u8).collect();
            key::lookup_key(&uk, rng.below(100_000))
        };
        let ge = entries.partition_point(|(k, _)| key::compare(k, &target) == Ordering::Less);
        it.seek(&target);
        assert_eq!(it.valid(), ge < n);
        if ge < n {
            assert_eq!(it.key(), &entries[ge].0[..]);
            assert_eq!(it.value(), &entries[ge].1[..]);
        }
        let le = entries.partition_point(|(k, _)| key::compare(k, &target) != Ordering::Greater);
        it.seek_for_prev(&target);
        assert_eq!(it.valid(), le > 0);
        if le > 0 {
            assert_eq!(it.key(), &entries[le - 1].0[..]);
        }

        // A random walk with direction changes from the seek position.
        let mut pos = ge as i64;
        it.seek(&target);
        for _ in 0..40 {
            if !it.valid() {
                break;
            }
            if rng.below(2) == 0 {
                it.next();
                pos += 1;
            } else {
                it.prev();
                pos -= 1;
            }
            let expect = (pos >= 0 && (pos as usize) < n).then(|| &entries[pos as usize].0);
            match expect {
                Some(k) => {
                    assert!(it.valid());
                    assert_eq!(it.key(), &k[..]);
                }
                None => assert!(!it.valid()),
            }
        }
        it.status().unwrap();
    }
}

fn opts(block_size: usize, compression: Compression, bloom: u32) -> TableOptions {
    TableOptions {
        block_size,
        bloom_bits_per_key: bloom,
        compression,
        ..TableOptions::default()
    }
}

/// `opts` with index partitions cut at `meta` bytes.
fn opts_partitioned(block_size: usize, bloom: u32, meta: usize) -> TableOptions {
    TableOptions {
        metadata_block_size: meta,
        ..opts(block_size, Compression::None, bloom)
    }
}

#[test]
fn random_round_trip_against_model() {
    let configs = [
        opts(4096, Compression::None, 10),
        opts(64, Compression::None, 10),
        opts(64, Compression::None, 0),
        opts(1024, Compression::Lz4, 10),
        opts(64, Compression::Lz4, 10),
        opts(1024, Compression::Zstd, 10),
        opts(64, Compression::Zstd, 0),
        opts_partitioned(64, 10, 1),
        opts_partitioned(64, 0, 1),
        opts_partitioned(128, 10, 200),
        opts_partitioned(64, 3, 64),
    ];
    for (i, o) in configs.into_iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 + i as u64);
        let entries = random_entries(&mut rng, 2_500);
        assert!(entries.len() >= 5_000);
        let fs = MemFs::new();
        let path = PathBuf::from(format!("/db/{i:06}.sst"));
        let info = build(&fs, &path, &entries, &[], o.clone());
        let bytes = fs.read_all(&path).unwrap();
        assert_eq!(info.file_size, bytes.len() as u64);
        assert_eq!(info.md5, md5::compute(&bytes).0);
        assert_eq!(info.entries, entries.len() as u64);
        assert_eq!(info.smallest, entries[0].0);
        assert_eq!(info.largest, entries[entries.len() - 1].0);
        let t = SSTable::open(&fs, &path, 7).unwrap();
        if o.metadata_block_size <= 200 {
            assert!(t.top().len() >= 10, "{} partitions", t.top().len());
        }
        assert_eq!(t.file_number(), 7);
        assert_eq!(t.path(), path.as_path());
        assert_eq!(t.entries(), entries.len() as u64);
        assert_eq!(t.file_size(), info.file_size);
        check_gets(&t, &entries, &mut rng);
        check_iter(&t, &entries, &mut rng);
        // The same through a block cache far smaller than the metadata: partitions are
        // read, evicted and read again.
        let cache = Arc::new(crate::cache::BlockCache::new(2048));
        let c = SSTable::open_cached(&fs, &path, 7, Some(cache.clone()), false).unwrap();
        c.load_meta().unwrap();
        assert_eq!(cache.used_bytes(), 0, "load_meta checks without caching");
        check_gets(&c, &entries, &mut rng);
        check_iter(&c, &entries, &mut rng);
        assert!(cache.used_bytes() <= 2048 + 4096, "{}", cache.used_bytes());
        let v = t.verify().unwrap();
        assert_eq!(v.md5, info.md5);
        assert_eq!(v.entries, info.entries);
        assert_eq!(v.bytes, info.file_size);
    }
}

#[test]
fn versions_of_one_key_straddling_many_partitions() {
    // 400 versions of one key, then of a second: with tiny blocks and partitions the
    // versions of each span dozens of partitions, so a lookup at an old snapshot must
    // go on from the partition the top index names into the following ones, and the
    // filter of the first must know the key.
    let mut entries: Entries = Vec::new();
    for (uk, base) in [(b"hot".as_slice(), 1u64), (b"hotter".as_slice(), 1000)] {
        for s in 0..400u64 {
            entries.push((
                key::encode(uk, base + s, ValueKind::Put),
                format!("{s}").into_bytes(),
            ));
        }
    }
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    let fs = MemFs::new();
    let path = PathBuf::from("/db/000003.sst");
    build(&fs, &path, &entries, &[], opts_partitioned(64, 10, 64));
    let t = SSTable::open(&fs, &path, 3).unwrap();
    assert!(t.top().len() >= 20, "{} partitions", t.top().len());
    for uk in [b"hot".as_slice(), b"hotter"] {
        for snap in (0..1500).step_by(7).chain([key::MAX_SEQ]) {
            let got = t.get(uk, snap, key::hash(uk)).unwrap();
            assert_eq!(got, model_get(&entries, uk, snap), "{uk:?} at {snap}");
        }
    }
    let mut rng = Rng(7);
    check_iter(&t, &entries, &mut rng);
    t.verify().unwrap();
}

#[test]
fn ten_thousand_entries_with_several_versions() {
    let mut rng = Rng(42);
    let entries = random_entries(&mut rng, 3_000);
    assert!(entries.len() >= 10_000, "{}", entries.len());
    let fs = MemFs::new();
    let path = PathBuf::from("/db/000001.sst");
    let info = build(&fs, &path, &entries, &[], TableOptions::default());
    assert!(info.min_seq <= info.max_seq);
    let t = SSTable::open(&fs, &path, 1).unwrap();
    check_gets(&t, &entries, &mut rng);
    check_iter(&t, &entries, &mut rng);
}

#[test]
fn extreme_keys_and_values() {
    let big_user_key = vec![b'k'; 64 << 10];
    let mut entries: Entries = vec![
        (key::encode(b"", 9, ValueKind::Put), b"empty key".to_vec()),
        (key::encode(b"", 3, ValueKind::Delete), Vec::new()),
        (key::encode(b"a", 5, ValueKind::Put), Vec::new()),
        (key::encode(b"b", 6, ValueKind::Put), vec![7u8; 1 << 20]),
        (
            key::encode(&big_user_key, 8, ValueKind::Put),
            b"big".to_vec(),
        ),
        (key::encode(&big_user_key, 2, ValueKind::Put), Vec::new()),
        (key::encode(b"z", 1, ValueKind::Put), b"last".to_vec()),
    ];
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    for (i, o) in [
        opts(64, Compression::None, 10),
        opts(4096, Compression::Lz4, 10),
        opts(4096, Compression::Zstd, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let fs = MemFs::new();
        let path = PathBuf::from(format!("/db/{i}.sst"));
        build(&fs, &path, &entries, &[], o);
        let t = SSTable::open(&fs, &path, 1).unwrap();
        let mut rng = Rng(5);
        check_gets(&t, &entries, &mut rng);
        let mut it = t.iter();
        assert_eq!(collect_forward(&mut it), entries);
        assert_eq!(
            t.get(b"", 4, key::hash(b"")).unwrap(),
            Some((3, ValueKind::Delete, Vec::new()))
        );
        t.verify().unwrap();
    }
}

#[test]
fn compression_actually_shrinks_compressible_blocks() {
    let entries: Entries = (0..2000u32)
        .map(|i| {
            (
                key::encode(format!("key{i:08}").as_bytes(), 1, ValueKind::Put),
                vec![b'v'; 100],
            )
        })
        .collect();
    let size = |c| {
        let fs = MemFs::new();
        build(
            &fs,
            Path::new("/db/1.sst"),
            &entries,
            &[],
            opts(4096, c, 10),
        )
        .file_size
    };
    let plain = size(Compression::None);
    assert!(size(Compression::Lz4) < plain / 2);
    assert!(size(Compression::Zstd) < plain / 2);
}

#[test]
fn table_with_only_range_tombstones() {
    let ts = vec![
        RangeTombstone {
            start: b"m".to_vec(),
            end: b"p".to_vec(),
            seq: 4,
        },
        RangeTombstone {
            start: b"c".to_vec(),
            end: b"f".to_vec(),
            seq: 2,
        },
        RangeTombstone {
            start: b"c".to_vec(),
            end: b"d".to_vec(),
            seq: 9,
        },
    ];
    let fs = MemFs::new();
    let path = PathBuf::from("/db/3.sst");
    let info = build(&fs, &path, &Vec::new(), &ts, TableOptions::default());
    assert_eq!(info.entries, 0);
    assert_eq!(info.range_tombstones, 3);
    assert_eq!((info.min_seq, info.max_seq), (2, 9));
    assert_eq!(info.smallest, key::encode(b"c", 9, ValueKind::RangeDelete));
    assert_eq!(
        info.largest,
        key::encode(b"p", key::MAX_SEQ, ValueKind::RangeDelete)
    );
    let t = SSTable::open(&fs, &path, 3).unwrap();
    let got: Vec<(&[u8], SeqNo)> = t
        .range_tombstones()
        .iter()
        .map(|t| (t.start.as_slice(), t.seq))
        .collect();
    assert_eq!(got, vec![(&b"c"[..], 9), (&b"c"[..], 2), (&b"m"[..], 4)]);
    assert_eq!(t.range_tombstones()[0].end, b"d");
    assert_eq!(t.get(b"d", key::MAX_SEQ, key::hash(b"d")).unwrap(), None);
    let mut it = t.iter();
    it.seek_to_first();
    assert!(!it.valid());
    it.seek_to_last();
    assert!(!it.valid());
    it.seek(b"c\0\0\0\0\0\0\0\0");
    assert!(!it.valid());
    it.status().unwrap();
    assert_eq!(t.verify().unwrap().entries, 0);
}

#[test]
fn tombstones_widen_bounds_of_point_entries() {
    let entries: Entries = vec![
        (key::encode(b"d", 5, ValueKind::Put), b"1".to_vec()),
        (key::encode(b"e", 6, ValueKind::Put), b"2".to_vec()),
    ];
    let ts = [RangeTombstone {
        start: b"a".to_vec(),
        end: b"e".to_vec(),
        seq: 10,
    }];
    let fs = MemFs::new();
    let info = build(
        &fs,
        Path::new("/db/1.sst"),
        &entries,
        &ts,
        TableOptions::default(),
    );
    assert_eq!(info.smallest, key::encode(b"a", 10, ValueKind::RangeDelete));
    assert_eq!(info.largest, entries[1].0);
    assert_eq!((info.min_seq, info.max_seq), (5, 10));
}

#[test]
fn empty_table_opens() {
    let fs = MemFs::new();
    let path = PathBuf::from("/db/1.sst");
    let info = build(&fs, &path, &Vec::new(), &[], TableOptions::default());
    assert!(info.smallest.is_empty() && info.largest.is_empty());
    let t = SSTable::open(&fs, &path, 1).unwrap();
    assert_eq!(t.get(b"a", 1, key::hash(b"a")).unwrap(), None);
    let mut it = t.iter();
    it.seek_to_first();
    assert!(!it.valid());
    t.verify().unwrap();
}

#[test]
fn estimated_size_grows_and_writes_are_batched() {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    let path = PathBuf::from("/db/1.sst");
    let mut b = TableBuilder::new(
        fs.create(&path).unwrap(),
        path.clone(),
        TableOptions::default(),
    );
    let ops_before = fs.ops();
    let mut last = b.estimated_size();
    for i in 0..20_000u32 {
        b.add(
            &key::encode(format!("{i:08}").as_bytes(), 1, ValueKind::Put),
            b"0123456789",
        )
        .unwrap();
        let now = b.estimated_size();
        assert!(now >= last);
        last = now;
    }
    let info = b.finish().unwrap();
    // One append per 256 KiB of output plus the sync, not one per entry or block.
    let writes = fs.ops() - ops_before;
    assert!(
        writes <= info.file_size / (256 << 10) + 3,
        "{writes} writes"
    );
    assert!(last <= info.file_size + (64 << 10));
}

#[test]
fn write_failures_are_reported() {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    let path = PathBuf::from("/db/1.sst");
    let mut b = TableBuilder::new(
        fs.create(&path).unwrap(),
        path.clone(),
        TableOptions::default(),
    );
    fs.fail_after(1, false);
    let mut failed = false;
    for i in 0..100_000u32 {
        let r = b.add(
            &key::encode(format!("{i:08}").as_bytes(), 1, ValueKind::Put),
            b"0123456789",
        );
        if r.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    assert!(b.finish().is_err());
}

fn small_table() -> (MemFs, PathBuf, Entries, Vec<u8>) {
    let mut entries: Entries = (0..30u32)
        .flat_map(|i| {
            let uk = format!("k{:03}", i * 3);
            [
                (
                    key::encode(uk.as_bytes(), 100 + i as u64, ValueKind::Put),
                    format!("new{i}").into_bytes(),
                ),
                (
                    key::encode(uk.as_bytes(), 10 + i as u64, ValueKind::Delete),
                    Vec::new(),
                ),
            ]
        })
        .collect();
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    let fs = MemFs::new();
    let path = PathBuf::from("/db/000009.sst");
    let ts = [RangeTombstone {
        start: b"k010".to_vec(),
        end: b"k020".to_vec(),
        seq: 50,
    }];
    // Several partitions, so damage to the top index and to partitions is covered.
    build(&fs, &path, &entries, &ts, opts_partitioned(96, 10, 40));
    let bytes = fs.read_all(&path).unwrap();
    assert!(SSTable::open(&fs, &path, 9).unwrap().top().len() >= 5);
    (fs, path, entries, bytes)
}

/// Every answer is either right or a `Corruption` error.
fn check_damaged(fs: &MemFs, path: &Path, entries: &Entries, what: &str) {
    let t = match SSTable::open(fs, path, 9) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.is_corruption(), "{what}: open gave {e}");
            return;
        }
    };
    for (k, _) in entries.iter().step_by(3) {
        let uk = key::user_key(k);
        for snap in [5, 20, 60, 200] {
            match t.get(uk, snap, key::hash(uk)) {
                Ok(got) => assert_eq!(got, model_get(entries, uk, snap), "{what}"),
                Err(e) => assert!(e.is_corruption(), "{what}: get gave {e}"),
            }
        }
    }
    let mut it = t.iter();
    it.seek_to_first();
    let mut i = 0;
    while it.valid() {
        assert_eq!(it.key(), &entries[i].0[..], "{what}");
        assert_eq!(it.value(), &entries[i].1[..], "{what}");
        i += 1;
        it.next();
    }
    match it.status() {
        Ok(()) => assert_eq!(i, entries.len(), "{what}"),
        Err(e) => assert!(e.is_corruption(), "{what}: iter gave {e}"),
    }
    it.seek_to_last();
    let mut i = entries.len();
    while it.valid() {
        i -= 1;
        assert_eq!(it.key(), &entries[i].0[..], "{what}");
        it.prev();
    }
    // Every byte of a table lies under a checksum, so verify catches every change.
    match t.verify() {
        Ok(_) => panic!("{what}: verify passed a damaged table"),
        Err(e) => assert!(e.is_corruption(), "{what}: verify gave {e}"),
    }
}

#[test]
fn every_flipped_byte_is_caught_or_harmless() {
    let (fs, path, entries, bytes) = small_table();
    assert!(SSTable::open(&fs, &path, 9).unwrap().verify().is_ok());
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[pos] ^= mask;
            fs.write_raw(&path, b).unwrap();
            check_damaged(&fs, &path, &entries, &format!("byte {pos} ^ {mask:#x}"));
        }
    }
}

#[test]
fn every_truncation_fails_to_open() {
    let (fs, path, _, bytes) = small_table();
    for len in 0..bytes.len() {
        fs.write_raw(&path, bytes[..len].to_vec()).unwrap();
        match SSTable::open(&fs, &path, 9) {
            Ok(_) => panic!("truncated to {len} bytes but opened"),
            Err(e) => assert!(e.is_corruption(), "len {len}: {e}"),
        }
    }
}

#[test]
fn iterator_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let (fs, path, entries, _) = small_table();
    let t = SSTable::open(&fs, &path, 9).unwrap();
    let mut it = t.iter();
    drop(t);
    assert_send_static(&it);
    let h = std::thread::spawn(move || collect_forward(&mut it).len());
    assert_eq!(h.join().unwrap(), entries.len());
}

/// Index keys are shortened separators: lookups and seeks between a block's last key
/// and the next block's first (where a separator lies, at its very user key too) must
/// find what the model says, through pinned and through cached metadata.
#[test]
fn lookups_between_blocks_agree_with_the_model() {
    let mut entries: Entries = Vec::new();
    let mut seq = 1;
    let mut number = 0u32;
    for n in 0..3000u32 {
        // Steps of 1 (no shorter key between), 2 (one digit up), 10 and 100 (carries).
        number += [1, 2, 10, 100][(n as usize * 7 + n as usize / 5) % 4];
        let uk = format!("key{number:08}").into_bytes();
        for _ in 0..1 + n % 3 {
            seq += 1;
            entries.push((
                key::encode(&uk, seq, ValueKind::Put),
                vec![b'v'; (n % 7) as usize],
            ));
        }
    }
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    let fs = MemFs::new();
    let path = PathBuf::from("/db/000009.sst");
    build(&fs, &path, &entries, &[], opts_partitioned(96, 10, 64));
    let pinned = SSTable::open(&fs, &path, 9).unwrap();
    let cache = Arc::new(crate::cache::BlockCache::new(4096));
    let cached = SSTable::open_cached(&fs, &path, 9, Some(cache), false).unwrap();
    let mut shortened = 0;
    for t in [&pinned, &cached] {
        let mut probes: Vec<Vec<u8>> = Vec::new();
        for p in 0..t.top().len() {
            let index = t.index(p).unwrap();
            for i in 0..index.len() {
                let k = index.key(i);
                if key::trailer(&k) == super::index::SEPARATOR_TRAILER {
                    shortened += 1;
                }
                let u = key::user_key(&k).to_vec();
                let mut above = u.clone();
                above.push(0);
                let mut below = u.clone();
                below.pop();
                probes.extend([u, above, below]);
            }
        }
        for n in (0..number + 10).step_by(7) {
            probes.push(format!("key{n:08}").into_bytes());
        }
        for uk in &probes {
            let got = t.get(uk, key::MAX_SEQ, key::hash(uk)).unwrap();
            assert_eq!(got, model_get(&entries, uk, key::MAX_SEQ), "get {uk:?}");
            let target = key::lookup_key(uk, key::MAX_SEQ);
            let mut it = t.iter();
            it.seek(&target);
            let want = entries
                .iter()
                .find(|(k, _)| key::compare(k, &target) != Ordering::Less);
            match want {
                Some((k, v)) => {
                    assert!(it.valid(), "seek {uk:?}");
                    assert_eq!((it.key(), it.value()), (&k[..], &v[..]), "seek {uk:?}");
                }
                None => assert!(!it.valid(), "seek {uk:?}"),
            }
            it.status().unwrap();
        }
    }
    // Most blocks end where a shorter user key (or one without a trailer) fits.
    assert!(shortened > 100, "{shortened} shortened index keys");
    pinned.verify().unwrap();
}
