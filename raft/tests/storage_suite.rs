//! openraft's own storage test suite against the lsm-backed log store and state
//! machine, plus what the suite does not cover: durability across a reopen, and a
//! snapshot installed over a state machine that already holds data.

use std::collections::BTreeMap;

use lsm_raft::{store, LogStore, Request, StateMachine, TypeConfig};
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftSnapshotBuilder, StorageError,
    Vote,
};
use tempfile::TempDir;

struct LsmStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for LsmStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, sm) = store::open(dir.path(), Default::default()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(LsmStoreBuilder).expect("openraft's storage suite");
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn put(term: u64, index: u64, k: &str, v: &str) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::Put {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }),
    }
}

fn del(term: u64, index: u64, k: &str) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::Delete {
            key: k.as_bytes().to_vec(),
        }),
    }
}

async fn build_snapshot(sm: &mut StateMachine) -> openraft::Snapshot<TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

async fn append(log: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
    log.blocking_append(entries).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_vote_and_state_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    {
        let (mut log, mut sm) = store::open(dir.path(), Default::default()).unwrap();
        log.save_vote(&Vote::new(3, 1)).await.unwrap();
        let mut entries = vec![Entry::<TypeConfig> {
            log_id: log_id(1, 1),
            payload: EntryPayload::Membership(Membership::new(vec![[1u64].into()], None)),
        }];
        for i in 2..200u64 {
            let k = format!("k{}", i % 37);
            if i % 5 == 0 {
                entries.push(del(1, i, &k));
                model.remove(&k);
            } else {
                entries.push(put(1, i, &k, &format!("v{i}")));
                model.insert(k, format!("v{i}"));
            }
        }
        append(&mut log, entries.clone()).await;
        sm.apply(entries).await.unwrap();
        log.purge(log_id(1, 50)).await.unwrap();
        log.truncate(log_id(1, 150)).await.unwrap();
        log.db().close().unwrap();
        sm.reader().close().unwrap();
    }
    let (mut log, mut sm) = store::open(dir.path(), Default::default()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 50)));
    assert_eq!(state.last_log_id, Some(log_id(1, 149)));
    let got = log.try_get_log_entries(0..1000).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        (51..150).collect::<Vec<_>>()
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 199)));
    let reader = sm.reader();
    for i in 0..37 {
        let k = format!("k{i}");
        let got = reader
            .get(k.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap());
        assert_eq!(got.as_ref(), model.get(&k), "key {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_snapshot_replaces_the_whole_map() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_la, mut sa) = store::open(a.path(), Default::default()).unwrap();
    let (lb, mut sb) = store::open(b.path(), Default::default()).unwrap();
    let on_a: Vec<_> = (1..=500u64)
        .map(|i| put(1, i, &format!("a{i:04}"), "x"))
        .collect();
    sa.apply(on_a).await.unwrap();
    // b holds keys that a never had: after the install they must be gone.
    sb.apply(
        (1..=50u64)
            .map(|i| put(1, i, &format!("b{i}"), "y"))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let snap = build_snapshot(&mut sa).await;
    assert_eq!(snap.meta.last_log_id, Some(log_id(1, 500)));
    let mut recv = sb.begin_receiving_snapshot().await.unwrap();
    std::io::copy(&mut snap.snapshot.reopen().unwrap().file, &mut recv.file).unwrap();
    sb.install_snapshot(&snap.meta, recv).await.unwrap();
    let r = sb.reader();
    assert_eq!(r.get(b"b1").unwrap(), None);
    assert_eq!(r.get(b"a0001").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(r.get(b"a0500").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(sb.applied_state().await.unwrap().0, Some(log_id(1, 500)));
    let cur = sb.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(cur.meta, snap.meta);
    // Reopened, b is still the installed state, and only one generation is left.
    r.close().unwrap();
    lb.db().close().unwrap();
    drop((sb, r, lb));
    let (_lb, sb) = store::open(b.path(), Default::default()).unwrap();
    assert_eq!(
        sb.reader().get(b"a0250").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(sb.reader().get(b"b2").unwrap(), None);
    assert_eq!(std::fs::read_dir(b.path().join("sm")).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_snapshot_is_refused_and_the_old_state_stays() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_la, mut sa) = store::open(a.path(), Default::default()).unwrap();
    let (lb, mut sb) = store::open(b.path(), Default::default()).unwrap();
    sa.apply(vec![put(1, 1, "k", "new")]).await.unwrap();
    sb.apply(vec![put(1, 1, "k", "old")]).await.unwrap();
    let snap = build_snapshot(&mut sa).await;
    let bytes = std::fs::read(&snap.snapshot.path).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 1] {
        let mut recv = sb.begin_receiving_snapshot().await.unwrap();
        std::io::Write::write_all(&mut recv.file, &bytes[..cut]).unwrap();
        assert!(
            sb.install_snapshot(&snap.meta, recv).await.is_err(),
            "a cut at {cut} installed"
        );
        assert_eq!(sb.reader().get(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    }
    // And a reopen cleans what the failed installs left.
    sb.reader().close().unwrap();
    lb.db().close().unwrap();
    drop((sb, lb));
    let (_lb, sb) = store::open(b.path(), Default::default()).unwrap();
    assert_eq!(sb.reader().get(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(std::fs::read_dir(b.path().join("sm")).unwrap().count(), 1);
    assert!(std::fs::read_dir(b.path().join("snapshots"))
        .unwrap()
        .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_cut_before_its_switch_leaves_the_old_state() {
    // What a crash in the middle of install_snapshot leaves: the next generation's
    // directory unpacked (whole or in part) and the received archive, but the switch
    // in raft_meta not written. The reopened node has its old state machine.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_la, mut sa) = store::open(a.path(), Default::default()).unwrap();
    sa.apply(vec![put(1, 1, "k", "new"), put(1, 2, "only-new", "1")])
        .await
        .unwrap();
    let snap = build_snapshot(&mut sa).await;
    {
        let (lb, mut sb) = store::open(b.path(), Default::default()).unwrap();
        sb.apply(vec![put(1, 1, "k", "old")]).await.unwrap();
        sb.reader().close().unwrap();
        lb.db().close().unwrap();
    }
    let next = b.path().join("sm").join("1");
    lsm_raft::snapshot::unpack(&snap.snapshot.path, &next).unwrap();
    std::fs::copy(
        &snap.snapshot.path,
        b.path().join("snapshots").join("recv-1.tmp"),
    )
    .unwrap();
    // A torn unpack of a generation after it, too.
    std::fs::create_dir_all(b.path().join("sm").join("2").join("data")).unwrap();
    std::fs::write(
        b.path().join("sm").join("2").join("MANIFEST-000001"),
        b"torn",
    )
    .unwrap();

    let (_lb, sb) = store::open(b.path(), Default::default()).unwrap();
    let r = sb.reader();
    assert_eq!(r.get(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(r.get(b"only-new").unwrap(), None);
    let left: Vec<_> = std::fs::read_dir(b.path().join("sm"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("0")]);
    assert_eq!(
        std::fs::read_dir(b.path().join("snapshots"))
            .unwrap()
            .count(),
        0
    );
}

/// The guarantee the cluster rests on: once `append` reports the entries flushed (and
/// `save_vote` returns), they survive a power cut. On lsm's MemFs a power cut keeps
/// only what was fsynced (and, with a torn model, a random part of the rest); an
/// append that skipped its fsync loses its entries here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_appends_and_votes_survive_a_power_cut() {
    use std::sync::Arc;
    for seed in [None, Some(1), Some(7), Some(42)] {
        let dir = tempfile::tempdir().unwrap();
        let mem = lsm::fs::MemFs::new();
        let opts = lsm_raft::StoreOptions {
            fs: Some(Arc::new(mem.clone())),
            ..Default::default()
        };
        let (mut log, mut sm) = store::open(dir.path(), opts).unwrap();
        log.save_vote(&Vote::new(5, 2)).await.unwrap();
        let mut want = Vec::new();
        for round in 0..20u64 {
            let entries: Vec<_> = (0..10)
                .map(|i| put(5, round * 10 + i + 1, &format!("k{round}-{i}"), "v"))
                .collect();
            want.extend(entries.iter().map(|e| e.log_id));
            append(&mut log, entries.clone()).await;
            sm.apply(entries).await.unwrap();
        }
        // Writes that need not be durable may or may not survive; the cut comes now.
        log.save_committed(Some(log_id(5, 200))).await.unwrap();
        let after = mem.crash(seed);
        drop((log, sm));
        let opts = lsm_raft::StoreOptions {
            fs: Some(Arc::new(after)),
            ..Default::default()
        };
        let (mut log, mut sm) = store::open(dir.path(), opts).unwrap();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new(5, 2)),
            "seed {seed:?}"
        );
        let got: Vec<_> = log
            .try_get_log_entries(..)
            .await
            .unwrap()
            .iter()
            .map(|e| e.log_id)
            .collect();
        assert_eq!(got, want, "seed {seed:?}: flushed entries lost");
        // The state machine may be behind (its writes are not synced), but what it
        // holds is exactly the entries up to its applied id: each apply is one batch.
        let applied = sm.applied_state().await.unwrap().0.map_or(0, |l| l.index);
        let r = sm.reader();
        for round in 0..20u64 {
            for i in 0..10u64 {
                let index = round * 10 + i + 1;
                let got = r.get(format!("k{round}-{i}").as_bytes()).unwrap();
                assert_eq!(
                    got.is_some(),
                    index <= applied,
                    "seed {seed:?}: entry {index} against applied {applied}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_entry_applies_its_writes_in_order_and_round_trips_through_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm) = store::open(dir.path(), Default::default()).unwrap();
    let p = |k: &str, v: &str| Request::Put {
        key: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    };
    let d = |k: &str| Request::Delete {
        key: k.as_bytes().to_vec(),
    };
    let batch = Request::Batch {
        ops: vec![
            p("a", "1"),
            p("b", "1"),
            d("a"),
            Request::Batch {
                ops: vec![p("c", "1"), p("b", "2")],
            },
            p("\u{0}bin\u{ff}", "x"),
        ],
    };
    let entry = Entry::<TypeConfig> {
        log_id: log_id(1, 1),
        payload: EntryPayload::Normal(batch.clone()),
    };
    append(&mut log, vec![entry.clone()]).await;
    let back = log.try_get_log_entries(1..2).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(matches!(&back[0].payload, EntryPayload::Normal(r) if *r == batch));
    let responses = sm.apply(back).await.unwrap();
    assert_eq!(responses.len(), 1, "one response per entry, not per op");
    let r = sm.reader();
    assert_eq!(r.get(b"a").unwrap(), None);
    assert_eq!(r.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(r.get(b"c").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        r.get("\u{0}bin\u{ff}".as_bytes()).unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 1)));
}

/// openraft 0.9 purges a follower's log as soon as it queues a snapshot install, before
/// the install has happened. With the gate open (as the snapshot receiver holds it),
/// that purge waits for the install to end, so a crash in between leaves the log
/// whole; a purge with the gate closed (a leader after its own build) runs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_an_install_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, sm) = store::open(dir.path(), Default::default()).unwrap();
        append(
            &mut log,
            (1..=20u64)
                .map(|i| put(1, i, &format!("k{i}"), "v"))
                .collect(),
        )
        .await;
        let gate = log.purge_gate();
        let installing = gate.begin_install();
        log.purge(log_id(1, 15)).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id, None,
            "purged while the install ran"
        );
        assert_eq!(log.try_get_log_entries(1..=20).await.unwrap().len(), 20);
        // The node dies here, before the install ends: the log is whole after a reopen.
        std::mem::forget(installing);
        sm.reader().close().unwrap();
        log.db().close().unwrap();
    }
    let (mut log, _sm) = store::open(dir.path(), Default::default()).unwrap();
    assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, None);
    assert_eq!(log.try_get_log_entries(1..=20).await.unwrap().len(), 20);
    // An install that ends carries out the purge it held back.
    let gate = log.purge_gate();
    let installing = gate.begin_install();
    log.purge(log_id(1, 10)).await.unwrap();
    log.purge(log_id(1, 12)).await.unwrap();
    assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, None);
    drop(installing);
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 12)));
    let left: Vec<u64> = log
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(left, (13..=20).collect::<Vec<_>>());
    // With no install running, a purge is immediate.
    log.purge(log_id(1, 14)).await.unwrap();
    assert_eq!(
        log.get_log_state().await.unwrap().last_purged_log_id,
        Some(log_id(1, 14))
    );
}
