//! `AsyncLsm` under a Tokio runtime with many concurrent tasks, and its change
//! stream (`AsyncLsm::subscribe`) on a single-threaded runtime.

use lsm::{AsyncLsm, Config, WriteBatch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_tasks_agree_with_the_sync_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::with_root(dir.path().join("db"));
    cfg.memtable.max_entries = 300;
    let db = AsyncLsm::open(cfg.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..400u32 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let k = format!("task{t:04}");
            db.put(k.as_bytes(), &t.to_le_bytes()).await.unwrap();
            assert_eq!(
                db.get(k.as_bytes()).await.unwrap(),
                Some(t.to_le_bytes().to_vec())
            );
            if t % 4 == 0 {
                db.delete(k.as_bytes()).await.unwrap();
            }
            if t % 50 == 0 {
                let mut b = WriteBatch::new();
                b.put(format!("batch{t}/a").as_bytes(), b"1")
                    .put(format!("batch{t}/b").as_bytes(), b"2");
                db.write(b).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    db.flush().await.unwrap();
    let all = db
        .scan(Some(b"task".to_vec()), Some(b"tasl".to_vec()), usize::MAX)
        .await
        .unwrap();
    assert_eq!(all.len(), 300);
    assert_eq!(
        db.scan(Some(b"batch".to_vec()), Some(b"batci".to_vec()), 100)
            .await
            .unwrap()
            .len(),
        16
    );
    db.delete_range(b"task", b"tasl").await.unwrap();
    assert_eq!(db.get(b"task0001").await.unwrap(), None);
    db.compact().await.unwrap();
    db.verify().await.unwrap();
    assert!(db.stats().writes >= 400);
    db.close().await.unwrap();
    assert!(matches!(db.get(b"x").await, Err(lsm::LsmError::Closed)));

    let db = AsyncLsm::open(cfg).await.unwrap();
    assert_eq!(db.get(b"task0001").await.unwrap(), None);
    assert_eq!(db.get(b"batch0/a").await.unwrap(), Some(b"1".to_vec()));
}

#[test]
fn futures_complete_on_a_single_threaded_runtime_too() {
    // The engine's own runtime does the work, so even a current-thread runtime that
    // is busy awaiting makes progress.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = AsyncLsm::open(Config::with_root(dir.path().join("db")))
            .await
            .unwrap();
        let futs: Vec<_> = (0..200u32)
            .map(|i| {
                let db = db.clone();
                async move { db.put(&i.to_be_bytes(), b"v").await }
            })
            .collect();
        for f in futs {
            f.await.unwrap();
        }
        assert_eq!(db.blocking().iter().count(), 200);
        // Dropping the last handle inside the runtime must not panic or hang.
        drop(db);
    });
}

#[test]
fn the_last_handle_dropped_inside_an_engine_job_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let db = lsm::Lsm::open(dir.path().join("db")).unwrap();
    db.put(b"k", b"v").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = db.clone();
    db.spawn_blocking(move || {
        let v = inner.get(b"k").unwrap();
        drop(inner); // the last handle once the outer one is gone: closes the engine
        tx.send(v).unwrap();
    })
    .unwrap();
    drop(db);
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the job finished");
    assert_eq!(got, Some(b"v".to_vec()));
    // The database was closed and can be opened again.
    let db = lsm::Lsm::open(dir.path().join("db")).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

/// The next item of `s`.
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn subscribe_is_a_stream_that_misses_nothing_and_waits_without_a_thread() {
    // One runtime thread: the writers are tasks on it, so they only run while the
    // stream's task waits without holding that thread. A stream that blocked would
    // stall everything, which the watchdog below reports instead of hanging.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = AsyncLsm::open(Config::with_root(path)).await.unwrap();
            db.put(b"user:before", b"x").await.unwrap();
            let mut changes = db.subscribe(b"user:").await.unwrap();
            const TASKS: u32 = 50;
            const PER: u32 = 20;
            let writers = tokio::task::LocalSet::new();
            for t in 0..TASKS {
                let db = db.clone();
                writers.spawn_local(async move {
                    for i in 0..PER {
                        db.put(format!("user:{t}:{i}").as_bytes(), b"v")
                            .await
                            .unwrap();
                        db.put(format!("other:{t}:{i}").as_bytes(), b"v")
                            .await
                            .unwrap();
                    }
                });
            }
            let consumer = async {
                let mut seen = std::collections::HashSet::new();
                let mut last = 0;
                while seen.len() < (TASKS * PER) as usize {
                    let b = next(&mut changes).await.expect("ended early").unwrap();
                    assert!(b.seq() > last, "out of order");
                    last = b.last_seq();
                    for op in b.ops() {
                        assert!(op.key().starts_with(b"user:"), "{:?}", op.key());
                        assert!(seen.insert(op.key().to_vec()), "twice: {:?}", op.key());
                    }
                }
                seen
            };
            let (seen, ()) = tokio::join!(consumer, writers);
            assert!(!seen.contains(&b"user:before"[..]));
            // Closing ends the stream (None), and it stays ended.
            db.close().await.unwrap();
            assert!(next(&mut changes).await.is_none());
            assert!(next(&mut changes).await.is_none());
            assert!(matches!(
                db.subscribe(b"").await,
                Err(lsm::LsmError::Closed)
            ));
        });
        done_tx.send(()).unwrap();
    });
    match done_rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the stream blocked the runtime's thread, or lost a change")
        }
        // Done, or the runner panicked: joining reports its panic.
        _ => runner.join().unwrap(),
    }
}
