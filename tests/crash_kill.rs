//! Process crash (kill -9): every acknowledged write survives, whatever `wal.sync` says.
//!
//! The test binary re-executes itself as the writer: `crash_child_writer` opens the
//! database, performs operations `start, start+1, ...` of a deterministic history and
//! prints `ack N` after each one returns OK. The parent SIGKILLs it after a random
//! number of acknowledgements, reopens the database and requires its content to be the
//! history's state after every acknowledged operation, plus at most the one that was in
//! flight: no holes, no resurrected deletes, no half batch. The next child resumes the
//! history on the same database from where the recovered state stands.
//!
//! The `feed` profile checks the change feed the same way: the child commits one
//! recognisable batch per operation, with `wal.retention` keeping the whole WAL, and
//! after each kill the reopened database's `changes_since(1)` must hold every
//! acknowledged batch of every cycle so far exactly once, in order, with contiguous
//! sequence numbers (plus at most the one in flight).

mod common;

use common::{apply, assert_gets, contents, describe_diff, exec, gen_op, State, SECOND};
use lsm::{ChangeBatch, ChangeKind, Config, Lsm, SyncMode, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Tests here open and close databases while others fork children; a child holds a
/// copy of the parent's descriptors (and so its `flock`s) between fork and exec, which
/// can make another test's open briefly see `Locked`. They take turns instead.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const NKEYS: u32 = 400;
const HISTORY_SEED: u64 = 0x6b69_6c6c;
const CYCLES: usize = 24;

/// The cycle count of each kill test: `LSM_CRASH_CYCLES` when set (the long run, see
/// `scripts/reliability_long.sh`), else the test's short default.
fn cycles(default: usize) -> usize {
    std::env::var("LSM_CRASH_CYCLES")
        .ok()
        .map(|v| v.parse().expect("LSM_CRASH_CYCLES must be a number"))
        .unwrap_or(default)
}

fn config(root: &Path) -> Config {
    let mut c = Config::with_root(root);
    c.memtable.max_entries = 200;
    c.wal.sync = SyncMode::None;
    c
}

/// Tiny memtables and levels: the child is flushing or compacting most of the time, so
/// kills land in the middle of both.
fn compacting(root: &Path) -> Config {
    let mut c = config(root);
    c.memtable.max_entries = 40;
    for (k, v) in [
        ("compaction.base_level_bytes", "4KiB"),
        ("compaction.level_fanout", "2"),
        ("compaction.target_file_bytes", "2KiB"),
        ("compaction.level0_file_trigger", "2"),
        ("sstable.block_size", "256"),
        // Three job slots: two compactions run at once (an L0 job beside a deeper
        // one, or two deeper ones), so kills land in concurrent jobs, and large ones
        // are split into subcompactions.
        ("compaction.background_threads", "3"),
        ("compaction.max_subcompactions", "3"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// `config` with background compaction idle, for the parent's reopen: the files on
/// disk right after the open are exactly what recovery kept (with the default trigger,
/// a compaction could start at once and its output would look like an orphan).
fn idle(root: &Path) -> Config {
    let mut c = config(root);
    for (k, v) in [
        ("compaction.level0_file_trigger", "1000"),
        ("compaction.level0_slowdown_files", "2000"),
        ("compaction.level0_stop_files", "3000"),
        ("compaction.base_level_bytes", "1GiB"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// The configuration of a child started with `LSM_CRASH_PROFILE`.
fn child_config(root: &Path) -> Config {
    match std::env::var("LSM_CRASH_PROFILE").as_deref() {
        Ok("compacting") => compacting(root),
        Ok("always") => {
            let mut c = compacting(root);
            c.wal.sync = SyncMode::Always;
            c
        }
        Ok("feed") => feed_config(root),
        _ => config(root),
    }
}

/// Every `FLUSH_EVERY` operations the `flush_every` child flushes and prints
/// `synced N`: operation N and all before it are durable from then on.
const FLUSH_EVERY: u64 = 50;

/// The writer child. Does nothing unless started by `kill9_keeps_every_acked_write`.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os("LSM_CRASH_DIR") else {
        return;
    };
    let start: u64 = std::env::var("LSM_CRASH_START").unwrap().parse().unwrap();
    let db = Lsm::open_with_config(child_config(Path::new(&dir))).expect("child: open");
    let mut out = std::io::stdout().lock();
    let flush_every = std::env::var("LSM_CRASH_PROFILE").as_deref() == Ok("flush_every");
    if std::env::var("LSM_CRASH_PROFILE").as_deref() == Ok("feed") {
        let second = db.keyspace(SECOND).expect("child: keyspace");
        for i in start..start + 1_000_000 {
            db.write(feed_batch(&second, i)).expect("child: write");
            writeln!(out, "ack {i}").unwrap();
            out.flush().unwrap();
        }
        return;
    }
    for i in start..start + 1_000_000 {
        exec(&db, &gen_op(HISTORY_SEED, i, NKEYS)).expect("child: write");
        writeln!(out, "ack {i}").unwrap();
        if flush_every && (i + 1) % FLUSH_EVERY == 0 {
            db.flush().expect("child: flush");
            writeln!(out, "synced {i}").unwrap();
        }
        out.flush().unwrap();
    }
}

/// Runs one child from operation `start`, kills it after `kill_after` acknowledgements
/// and returns the last operation it acknowledged.
fn run_child(
    root: &Path,
    profile: &str,
    start: u64,
    kill_after: usize,
    synced: &mut Option<u64>,
) -> Option<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env("LSM_CRASH_DIR", root)
        .env("LSM_CRASH_START", start.to_string())
        .env("LSM_CRASH_PROFILE", profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer child");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut last_ack: Option<u64> = None;
    let mut acks = 0usize;
    let mut killed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 || !line.ends_with('\n') {
            break; // EOF (an unterminated last line is ignored: its op counts as in flight)
        }
        if let Some(pos) = line.find("synced ") {
            let n: u64 = line[pos + 7..]
                .trim()
                .parse()
                .expect("malformed synced line");
            assert_eq!(Some(n), last_ack, "synced before acknowledged");
            *synced = Some(n);
            continue;
        }
        let Some(pos) = line.find("ack ") else {
            continue;
        };
        let n: u64 = line[pos + 4..].trim().parse().expect("malformed ack line");
        assert_eq!(n, last_ack.map_or(start, |a| a + 1), "acks out of order");
        last_ack = Some(n);
        acks += 1;
        if acks == kill_after && !killed {
            child.kill().expect("SIGKILL the child");
            killed = true;
        }
        // Keep reading after the kill: acks already in the pipe count too.
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the writer child exited on its own after {acks} acks: {status}"
    );
    last_ack
}

#[test]
fn kill9_keeps_every_acked_write() {
    let _serial = serial();
    kill_cycles("plain", cycles(CYCLES));
}

/// `wal.sync = "always"` with tiny levels: every acknowledged write is also synced.
#[test]
fn kill9_with_wal_sync_always_keeps_every_synced_write() {
    let _serial = serial();
    kill_cycles("always", cycles(6));
}

/// A flush every 50 operations: every write before the last completed flush (a synced
/// write) is present, and so is every acknowledged one.
#[test]
fn kill9_with_a_flush_every_50_writes_keeps_every_synced_write() {
    let _serial = serial();
    kill_cycles("flush_every", cycles(6));
}

/// Kills during flushes and compactions: the model agrees after every reopen, and no
/// file a dead flush or compaction left behind survives the reopen.
#[test]
fn kill9_during_flushes_and_compactions_loses_nothing_and_leaves_no_orphans() {
    let _serial = serial();
    kill_cycles("compacting", cycles(30));
}

fn count_files(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(suffix)
        })
        .count()
}

fn kill_cycles(profile: &str, cycles: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut rng = StdRng::seed_from_u64(0x5eed);
    // The model: the history's first `applied` operations.
    let mut model = State::new();
    let mut applied = 0u64;
    let mut in_flight_seen = 0;
    let mut compactions = 0;
    let mut synced_checks = 0;
    for cycle in 0..cycles {
        let kill_after = match cycle % 3 {
            0 => rng.random_range(1..20),
            1 => rng.random_range(20..300),
            _ => rng.random_range(300..1200),
        };
        let mut synced: Option<u64> = None;
        let last_ack = run_child(&root, profile, applied, kill_after, &mut synced);
        if profile == "always" {
            synced = last_ack;
        }

        // Every acknowledged operation must be there...
        let mut acked_state = model.clone();
        let first_unacked = match last_ack {
            Some(a) => {
                for i in applied..=a {
                    apply(&mut acked_state, &gen_op(HISTORY_SEED, i, NKEYS));
                }
                a + 1
            }
            None => applied,
        };
        // ...and at most the one in flight when the child died.
        let mut with_in_flight = acked_state.clone();
        apply(
            &mut with_in_flight,
            &gen_op(HISTORY_SEED, first_unacked, NKEYS),
        );

        // Reopened without background compaction, so the files on disk right after the
        // open are exactly what recovery kept.
        let db = Lsm::open_with_config(idle(&root))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen after kill -9 failed: {e}"));
        let live: usize = db.stats().levels.iter().map(|l| l.files).sum();
        assert_eq!(
            count_files(&root.join("ss_tables"), ".sst"),
            live,
            "cycle {cycle}: orphan tables survived the reopen"
        );
        assert_eq!(
            count_files(&root.join("wals"), ".log"),
            1,
            "cycle {cycle}: retired WAL segments survived the reopen"
        );
        if db.stats().levels.iter().skip(1).any(|l| l.files > 0) {
            compactions += 1;
        }
        let got = contents(&db);
        if got == with_in_flight {
            if got != acked_state {
                in_flight_seen += 1;
            }
            model = with_in_flight;
            applied = first_unacked + 1;
        } else if got == acked_state {
            model = acked_state;
            applied = first_unacked;
        } else {
            panic!(
                "cycle {cycle}: after kill -9 with operations up to {last_ack:?} acknowledged, \
                 the database is neither the acknowledged state nor that plus the in-flight \
                 operation; vs acknowledged state: {}",
                describe_diff(&got, &acked_state)
            );
        }
        // Every synced write is present: the model now holds at least every operation
        // through the last synced one (it holds every acknowledged one).
        if let Some(s) = synced {
            assert!(
                applied > s,
                "cycle {cycle}: synced operation {s} missing (recovered through {applied})"
            );
            synced_checks += 1;
        }
        assert_gets(&db, &model, NKEYS);
        db.verify()
            .unwrap_or_else(|e| panic!("cycle {cycle}: verify after recovery: {e}"));
        db.close().unwrap();
    }
    assert!(applied > cycles as u64, "too few operations ran: {applied}");
    if profile != "plain" && profile != "flush_every" {
        assert!(
            compactions > cycles / 2,
            "compaction rarely ran: {compactions}"
        );
    }
    if profile == "always" || profile == "flush_every" {
        assert!(synced_checks > 0, "no synced write was ever checked");
    }
    eprintln!(
        "{profile}: {cycles} kills, {applied} operations, in-flight op found applied \
         {in_flight_seen} times, {compactions} reopens with levels > 0, {synced_checks} \
         synced-write checks"
    );
}

/// Small memtables (so flushes retire WAL segments often) and a retention that keeps
/// every one of them for the change feed.
fn feed_config(root: &Path) -> Config {
    let mut c = config(root);
    c.memtable.max_entries = 40;
    c.set("wal.retention", "1GiB").unwrap();
    c
}

/// Operation `i` of the feed history: one batch whose first put names `i`, with a
/// delete, a range delete and a put in the second keyspace on some of them.
fn feed_batch(second: &lsm::Keyspace, i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(format!("feed:{i:08}").as_bytes(), &i.to_le_bytes());
    if i.is_multiple_of(3) {
        b.delete(format!("gone:{i:08}").as_bytes());
    }
    if i.is_multiple_of(5) {
        b.put_in(second, format!("ks:{i:08}").as_bytes(), b"v");
    }
    if i.is_multiple_of(7) {
        b.delete_range(
            format!("r:{i:08}:a").as_bytes(),
            format!("r:{i:08}:z").as_bytes(),
        );
    }
    b
}

/// An operation as the feed test compares it: (keyspace, kind, key, end or value).
type FeedOp = (String, ChangeKind, Vec<u8>, Option<Vec<u8>>);

/// The operations `feed_batch(i)` must come back as.
fn feed_ops(i: u64) -> Vec<FeedOp> {
    let mut ops = vec![(
        "default".to_string(),
        ChangeKind::Put,
        format!("feed:{i:08}").into_bytes(),
        Some(i.to_le_bytes().to_vec()),
    )];
    if i.is_multiple_of(3) {
        let k = format!("gone:{i:08}").into_bytes();
        ops.push(("default".into(), ChangeKind::Delete, k, None));
    }
    if i.is_multiple_of(5) {
        let k = format!("ks:{i:08}").into_bytes();
        ops.push((SECOND.into(), ChangeKind::Put, k, Some(b"v".to_vec())));
    }
    if i.is_multiple_of(7) {
        let (s, e) = (format!("r:{i:08}:a"), format!("r:{i:08}:z"));
        let range = (s.into_bytes(), Some(e.into_bytes()));
        ops.push(("default".into(), ChangeKind::DeleteRange, range.0, range.1));
    }
    ops
}

fn as_tuples(b: &ChangeBatch) -> Vec<FeedOp> {
    b.ops()
        .iter()
        .map(|o| {
            let tail = match o.kind() {
                ChangeKind::DeleteRange => o.end(),
                _ => o.value(),
            };
            (
                o.keyspace().to_string(),
                o.kind(),
                o.key().to_vec(),
                tail.map(<[u8]>::to_vec),
            )
        })
        .collect()
}

/// After each kill, the whole feed from sequence 1: every acknowledged batch of every
/// cycle, once, in order, with contiguous sequence numbers, and at most one more.
#[test]
fn kill9_keeps_every_acked_batch_in_the_change_feed_once_and_in_order() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut rng = StdRng::seed_from_u64(0xfeed);
    // Batches 0..applied are in the feed.
    let mut applied = 0u64;
    let mut in_flight_seen = 0;
    let cycles = cycles(12);
    for cycle in 0..cycles {
        let kill_after = match cycle % 3 {
            0 => rng.random_range(1..20),
            1 => rng.random_range(20..300),
            _ => rng.random_range(300..1200),
        };
        let mut synced = None;
        let last_ack = run_child(&root, "feed", applied, kill_after, &mut synced);
        let must_have = last_ack.map_or(applied, |a| a + 1);

        let db = Lsm::open_with_config(feed_config(&root))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen after kill -9 failed: {e}"));
        let mut next_seq = 1;
        let mut next_batch = 0u64;
        let feed = db
            .changes_since(1)
            .unwrap_or_else(|e| panic!("cycle {cycle}: the feed from 1: {e}"));
        for b in feed {
            let b = b.unwrap_or_else(|e| panic!("cycle {cycle}: reading the feed: {e}"));
            assert_eq!(
                b.seq(),
                next_seq,
                "cycle {cycle}: batch {next_batch} starts at {} after {}: a gap or a repeat",
                b.seq(),
                next_seq - 1
            );
            assert_eq!(
                as_tuples(&b),
                feed_ops(next_batch),
                "cycle {cycle}: the feed's batch {next_batch} (seq {}) is not operation \
                 {next_batch}: lost, repeated or out of order",
                b.seq()
            );
            next_seq = b.last_seq() + 1;
            next_batch += 1;
        }
        assert_eq!(next_seq, db.latest_sequence() + 1, "cycle {cycle}");
        assert!(
            next_batch >= must_have,
            "cycle {cycle}: acknowledged batch {} missing from the feed (it ends after {})",
            must_have - 1,
            next_batch
        );
        assert!(
            next_batch <= must_have + 1,
            "cycle {cycle}: {next_batch} batches in the feed, only {must_have} were written \
             and acknowledged, plus one in flight"
        );
        if next_batch > must_have {
            in_flight_seen += 1;
        }
        applied = next_batch;
        db.close().unwrap();
    }
    assert!(applied > cycles as u64, "too few batches ran: {applied}");
    eprintln!(
        "feed: {cycles} kills, {applied} batches in the feed, the in-flight one found \
         {in_flight_seen} times"
    );
}
