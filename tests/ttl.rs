//! Time to live and compaction filters: expiry at the right moment under a fake
//! clock, snapshots that keep reading, compaction that removes expired entries and
//! returns their space, no older version coming back, default TTLs, filters, and a
//! model with merges.

use lsm::filter::{CompactionFilter, Decision, DropPrefix, FilterEntry};
use lsm::ttl::ManualClock;
use lsm::{Config, Lsm, WriteBatch};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;

fn config(root: &Path, clock: &Arc<ManualClock>) -> Config {
    let mut c = Config::with_root(root).with_clock(clock.clone());
    c.memtable.max_entries = 200;
    c.compaction.level0_file_trigger = 2;
    c.compaction.base_level_bytes = 32 << 10;
    c.compaction.target_file_bytes = 16 << 10;
    // Table sizes follow the bytes put (the repeated test values compress to nothing).
    c.sstable.compression = lsm::Compression::None;
    c
}

fn scan(db: &Lsm) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter().map(|r| r.unwrap()).collect()
}

fn scan_back(db: &Lsm) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = db.iter().rev().map(|r| r.unwrap()).collect();
    v.reverse();
    v
}

#[test]
fn an_entry_expires_exactly_at_its_ttl_in_get_and_both_scan_directions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Lsm::open_with_config(config(dir.path(), &clock)).unwrap();
    db.put(b"a", b"forever").unwrap();
    db.put(b"c", b"forever").unwrap();
    let all = vec![
        (b"a".to_vec(), b"forever".to_vec()),
        (b"b".to_vec(), b"soon".to_vec()),
        (b"c".to_vec(), b"forever".to_vec()),
    ];
    // In the memtable, then in a table (a flush before the expiry keeps it).
    for (round, flushed) in [false, true].into_iter().enumerate() {
        let t = T0 + round as u64 * 100_000;
        clock.set(t);
        db.put_with_ttl(b"b", b"soon", Duration::from_secs(60))
            .unwrap();
        if flushed {
            db.flush().unwrap();
        }
        clock.set(t + 59_999);
        assert_eq!(
            db.get(b"b").unwrap(),
            Some(b"soon".to_vec()),
            "flushed {flushed}"
        );
        assert_eq!(scan(&db), all);
        assert_eq!(scan_back(&db), all);
        clock.set(t + 60_000);
        assert_eq!(db.get(b"b").unwrap(), None, "expired (flushed {flushed})");
        let live = vec![all[0].clone(), all[2].clone()];
        assert_eq!(scan(&db), live);
        assert_eq!(scan_back(&db), live);
    }
    // An overwrite without a TTL lives on.
    db.put(b"b", b"again").unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(db.get(b"b").unwrap(), Some(b"again".to_vec()));
}

#[test]
fn a_snapshot_taken_before_the_expiry_still_reads_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Lsm::open_with_config(config(dir.path(), &clock)).unwrap();
    db.put_with_ttl(b"k", b"v", Duration::from_secs(10))
        .unwrap();
    let snap = db.snapshot();
    clock.advance(Duration::from_secs(11));
    assert_eq!(db.get(b"k").unwrap(), None);
    db.flush().unwrap();
    db.compact().unwrap();
    assert_eq!(snap.get(b"k").unwrap(), Some(b"v".to_vec()));
    let seen: Vec<_> = snap.iter().map(|r| r.unwrap()).collect();
    assert_eq!(seen, vec![(b"k".to_vec(), b"v".to_vec())]);
    assert!(scan(&db).is_empty());
}

fn table_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("ss_tables"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn compaction_removes_expired_entries_and_their_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Lsm::open_with_config(config(dir.path(), &clock)).unwrap();
    let value = vec![7u8; 1000];
    for i in 0..2000u32 {
        let k = format!("k{i:05}");
        if i % 10 == 0 {
            db.put(k.as_bytes(), &value).unwrap();
        } else {
            db.put_with_ttl(k.as_bytes(), &value, Duration::from_secs(30))
                .unwrap();
        }
    }
    db.flush().unwrap();
    db.compact().unwrap();
    let before = table_bytes(dir.path());
    assert!(before > 1_500_000, "{before} bytes of tables");
    clock.advance(Duration::from_secs(31));
    db.compact().unwrap();
    let after = table_bytes(dir.path());
    // A tenth of the keys have no TTL: about a tenth of the space stays.
    assert!(
        after < before / 5,
        "tables hold {after} bytes after the expiry, {before} before"
    );
    assert_eq!(scan(&db).len(), 200);
    let mut dump = Vec::new();
    for e in std::fs::read_dir(dir.path().join("ss_tables")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "sst") {
            lsm::tools::dump_file(&p, &mut dump, &|b| String::from_utf8_lossy(b).into_owned())
                .unwrap();
        }
    }
    let dump = String::from_utf8(dump).unwrap();
    assert!(
        !dump.contains("k00001 @"),
        "an expired entry is still in a table"
    );
    assert!(dump.contains("k00010 @"), "an entry without TTL is gone");
}

/// An expired entry over an older version must not let the older version back: with
/// a snapshot holding the old version, compaction turns the expired entry into a
/// deletion instead of dropping it.
#[test]
fn an_expired_entry_never_uncovers_an_older_version() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Lsm::open_with_config(config(dir.path(), &clock)).unwrap();
    db.put(b"k", b"old").unwrap();
    let snap = db.snapshot();
    db.put_with_ttl(b"k", b"new", Duration::from_secs(5))
        .unwrap();
    db.flush().unwrap();
    clock.advance(Duration::from_secs(6));
    db.compact().unwrap();
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(scan(&db).is_empty());
    assert_eq!(snap.get(b"k").unwrap(), Some(b"old".to_vec()));
    drop(snap);
    db.compact().unwrap();
    assert_eq!(db.get(b"k").unwrap(), None);
}

#[test]
fn default_ttls_of_the_database_and_a_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut c = config(dir.path(), &clock);
    c.set("ttl", "1h").unwrap();
    assert!(c.clone().set("ttl", "soon").is_err());
    let db = Lsm::open_with_config(c.clone()).unwrap();
    let ks = db
        .keyspace_with("sessions", |o| o.set("ttl", "10s"))
        .unwrap();
    let forever = db.keyspace_with("forever", |o| o.set("ttl", "0")).unwrap();
    db.put(b"d", b"1").unwrap();
    ks.put(b"s", b"2").unwrap();
    forever.put(b"f", b"3").unwrap();
    // Its own TTL wins over the keyspace's.
    ks.put_with_ttl(b"own", b"4", Duration::from_secs(100))
        .unwrap();
    let mut b = WriteBatch::new();
    b.put_in(&ks, b"batch", b"5");
    db.write(b).unwrap();
    let mut tx = db.transaction();
    tx.put_in(&ks, b"tx", b"7");
    tx.commit().unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(ks.get(b"s").unwrap(), None);
    assert_eq!(ks.get(b"batch").unwrap(), None);
    assert_eq!(
        ks.get(b"tx").unwrap(),
        None,
        "a transaction's put expires too"
    );
    assert_eq!(ks.get(b"own").unwrap(), Some(b"4".to_vec()));
    assert_eq!(db.get(b"d").unwrap(), Some(b"1".to_vec()));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(db.get(b"d").unwrap(), None);
    assert_eq!(ks.get(b"own").unwrap(), None);
    assert_eq!(forever.get(b"f").unwrap(), Some(b"3".to_vec()));
    drop((ks, forever));
    db.close().unwrap();
    // Reopened (the WAL replayed), expiries hold; the keyspaces keep their ttl.
    let db = Lsm::open_with_config(c).unwrap();
    assert_eq!(db.get(b"d").unwrap(), None);
    let ks = db.keyspace("sessions").unwrap();
    ks.put(b"later", b"6").unwrap();
    assert_eq!(ks.get(b"later").unwrap(), Some(b"6".to_vec()));
    clock.advance(Duration::from_secs(10));
    assert_eq!(ks.get(b"later").unwrap(), None);
    let toml = Config::from_toml_str("ttl = \"7d\"\n[memtable]\nmax_entries = 10\n").unwrap();
    assert_eq!(toml.ttl, Some(Duration::from_secs(7 * 86_400)));
}

#[test]
fn the_change_feed_carries_the_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Lsm::open_with_config(config(dir.path(), &clock)).unwrap();
    let from = db.latest_sequence() + 1;
    db.put_with_ttl(b"k", b"v", Duration::from_millis(1500))
        .unwrap();
    let batches: Vec<_> = db
        .changes_since(from)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let op = &batches[0].ops()[0];
    assert_eq!(op.kind(), lsm::ChangeKind::Put);
    assert_eq!(op.value(), Some(&b"v"[..]));
    assert_eq!(op.expires_at_ms(), Some(T0 + 1500));
}

struct Upper;
impl CompactionFilter for Upper {
    fn name(&self) -> &str {
        "upper"
    }
    fn filter(&self, e: &FilterEntry<'_>) -> Decision {
        assert_eq!(e.keyspace, "default");
        if e.key.starts_with(b"shout:") {
            Decision::Replace(e.value.to_ascii_uppercase())
        } else {
            Decision::Keep
        }
    }
}

#[test]
fn compaction_filters_remove_and_replace_but_never_change_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let c = config(dir.path(), &clock)
        .with_compaction_filter(Arc::new(DropPrefix::new(b"tmp:")))
        .with_compaction_filter(Arc::new(Upper));
    let db = Lsm::open_with_config(c).unwrap();
    db.put(b"tmp:1", b"x").unwrap();
    db.put(b"shout:1", b"hello").unwrap();
    db.put(b"keep", b"me").unwrap();
    db.flush().unwrap();
    let snap = db.snapshot();
    db.put(b"tmp:2", b"y").unwrap();
    db.put_with_ttl(b"shout:2", b"bye", Duration::from_secs(100))
        .unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    // The snapshot's versions were not filtered.
    assert_eq!(snap.get(b"tmp:1").unwrap(), Some(b"x".to_vec()));
    assert_eq!(snap.get(b"shout:1").unwrap(), Some(b"hello".to_vec()));
    // The entries newer than it were.
    assert_eq!(db.get(b"tmp:2").unwrap(), None);
    assert_eq!(db.get(b"shout:2").unwrap(), Some(b"BYE".to_vec()));
    drop(snap);
    db.compact().unwrap();
    assert_eq!(
        scan(&db),
        vec![
            (b"keep".to_vec(), b"me".to_vec()),
            (b"shout:1".to_vec(), b"HELLO".to_vec()),
            (b"shout:2".to_vec(), b"BYE".to_vec()),
        ]
    );
    // A replaced value keeps its expiry.
    clock.advance(Duration::from_secs(100));
    assert_eq!(db.get(b"shout:2").unwrap(), None);
}

/// A filter that panics keeps the entry, and compaction goes on.
#[test]
fn a_panicking_filter_keeps_the_entry() {
    struct Boom;
    impl CompactionFilter for Boom {
        fn name(&self) -> &str {
            "boom"
        }
        fn filter(&self, _: &FilterEntry<'_>) -> Decision {
            panic!("boom")
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db =
        Lsm::open_with_config(config(dir.path(), &clock).with_compaction_filter(Arc::new(Boom)))
            .unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    db.put(b"k2", b"v2").unwrap();
}

/// What a key holds in the model: a value (with its expiry) under merge operands.
#[derive(Clone, Default)]
struct Cell {
    base: Option<(Vec<u8>, Option<u64>)>,
    operands: Vec<Vec<u8>>,
}

impl Cell {
    fn read(&self, now: u64) -> Option<Vec<u8>> {
        let base = self
            .base
            .as_ref()
            .filter(|(_, at)| at.is_none_or(|at| at > now))
            .map(|(v, _)| v.clone());
        if self.operands.is_empty() {
            return base;
        }
        let mut v = base.unwrap_or_default();
        for o in &self.operands {
            v.extend_from_slice(o);
        }
        Some(v)
    }
}

type Model = BTreeMap<Vec<u8>, Cell>;

/// A database's or a model's contents, in key order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn model_view(m: &Model, now: u64) -> Entries {
    m.iter()
        .filter_map(|(k, c)| c.read(now).map(|v| (k.clone(), v)))
        .collect()
}

/// Puts with and without TTL, merges (append), deletes, clock steps, flushes,
/// compactions, snapshots and a reopen, against a model of the same semantics.
#[test]
fn ttl_puts_and_merges_match_a_model_under_a_fake_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = || {
        let mut c = config(dir.path(), &clock);
        c.set("merge.operator", "append").unwrap();
        c
    };
    let mut db = Lsm::open_with_config(cfg()).unwrap();
    let mut model = Model::new();
    let mut snaps: Vec<(lsm::Snapshot, Entries)> = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for step in 0..4000u64 {
        let k = format!("k{:02}", rnd(30)).into_bytes();
        let v = format!("{}", rnd(100)).into_bytes();
        match rnd(20) {
            0..=5 => {
                let ttl = 1 + rnd(5000);
                db.put_with_ttl(&k, &v, Duration::from_millis(ttl)).unwrap();
                model.insert(
                    k,
                    Cell {
                        base: Some((v, Some(clock.now_ms_for_test() + ttl))),
                        operands: Vec::new(),
                    },
                );
            }
            6..=8 => {
                db.put(&k, &v).unwrap();
                model.insert(
                    k,
                    Cell {
                        base: Some((v, None)),
                        operands: Vec::new(),
                    },
                );
            }
            9..=12 => {
                db.merge(&k, &v).unwrap();
                model.entry(k).or_default().operands.push(v);
            }
            13 => {
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            14..=16 => clock.advance(Duration::from_millis(rnd(1500))),
            17 => {
                if snaps.len() < 2 {
                    let now = clock.now_ms_for_test();
                    snaps.push((db.snapshot(), model_view(&model, now)));
                } else {
                    snaps.remove(0);
                }
            }
            18 => db.flush().unwrap(),
            _ => db.compact().unwrap(),
        }
        if step % 250 == 249 {
            let now = clock.now_ms_for_test();
            let want = model_view(&model, now);
            assert_eq!(scan(&db), want, "scan at step {step}");
            assert_eq!(scan_back(&db), want, "backward scan at step {step}");
            for i in 0..30 {
                let k = format!("k{i:02}").into_bytes();
                let want = model.get(&k).and_then(|c| c.read(now));
                assert_eq!(db.get(&k).unwrap(), want, "get {i} at step {step}");
                let pinned = db.get_pinned(&k).unwrap().map(|v| v.to_vec());
                assert_eq!(pinned, want, "get_pinned {i} at step {step}");
            }
            let keys: Vec<Vec<u8>> = (0..30)
                .rev()
                .map(|i| format!("k{i:02}").into_bytes())
                .collect();
            let want: Vec<_> = keys
                .iter()
                .map(|k| model.get(k).and_then(|c| c.read(now)))
                .collect();
            assert_eq!(
                db.multi_get(&keys).unwrap(),
                want,
                "multi_get at step {step}"
            );
            for (s, view) in &snaps {
                let got: Vec<_> = s.iter().map(|r| r.unwrap()).collect();
                assert_eq!(&got, view, "a snapshot changed at step {step}");
            }
        }
        if step == 2000 {
            snaps.clear();
            db.close().unwrap();
            db = Lsm::open_with_config(cfg()).unwrap();
        }
    }
}

trait NowForTest {
    fn now_ms_for_test(&self) -> u64;
}

impl NowForTest for ManualClock {
    fn now_ms_for_test(&self) -> u64 {
        lsm::ttl::Clock::now_ms(self)
    }
}
