//! The database lock: a second open of an open database fails with `Locked` at once,
//! in the same process or another; the lock is released by `close()`, by dropping the
//! last handle and by the death of the holding process (kill -9), and an exec'd child
//! does not inherit it.

use lsm::{Config, Lsm, LsmError};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Tests here open and close databases while others fork children; a child holds a
/// copy of the parent's descriptors (and so its `flock`s) between fork and exec, which
/// can make another test's open briefly see `Locked`. They take turns instead.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens `root` on another thread and returns the result; panics if the open blocks
/// (a lock that waits instead of failing at once would hang the test forever).
fn open_guarded(root: &Path) -> lsm::Result<Lsm> {
    let (tx, rx) = mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Lsm::open(&root));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("open blocked instead of failing with Locked")
}

fn assert_locked(r: lsm::Result<Lsm>, root: &Path) {
    match r {
        Err(LsmError::Locked(p)) => {
            assert_eq!(p, root, "Locked names the wrong directory");
        }
        Err(e) => panic!("expected Locked, got error {e}"),
        Ok(_) => panic!("a second open of an open database succeeded"),
    }
}

#[test]
fn second_open_in_process_is_locked_until_close_or_drop() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = Lsm::open(&root).unwrap();
    db.put(b"a", b"1").unwrap();

    assert_locked(open_guarded(&root), &root);
    assert_locked(Lsm::open_with_config(Config::with_root(&root)), &root);
    // The failed opens took nothing from the first handle.
    db.put(b"b", b"2").unwrap();
    assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));

    db.close().unwrap();
    assert!(matches!(db.put(b"c", b"3"), Err(LsmError::Closed)));
    let db2 = Lsm::open(&root).expect("open after close");
    assert_eq!(db2.get(b"b").unwrap(), Some(b"2".to_vec()));

    // A clone keeps the database (and its lock) alive; the last drop releases it.
    let clone = db2.clone();
    drop(db2);
    assert_locked(Lsm::open(&root), &root);
    clone.put(b"d", b"4").unwrap();
    drop(clone);
    let db3 = Lsm::open(&root).expect("open after the last handle was dropped");
    assert_eq!(db3.get(b"d").unwrap(), Some(b"4".to_vec()));
    drop(db);
}

/// Child helper: holds the database open until killed. Does nothing unless started by
/// `lock_held_by_another_process_dies_with_it`.
#[test]
fn lock_child_holder() {
    let Some(dir) = std::env::var_os("LSM_LOCK_DIR") else {
        return;
    };
    let db = Lsm::open(PathBuf::from(dir)).expect("child: open");
    db.put(b"child", b"was here").expect("child: put");
    let mut out = std::io::stdout().lock();
    writeln!(out, "locked-ok").unwrap();
    out.flush().unwrap();
    drop(out);
    std::thread::sleep(Duration::from_secs(120));
}

/// Child helper: just sleeps (it must not inherit the parent's lock).
#[test]
fn lock_child_sleeper() {
    if std::env::var_os("LSM_LOCK_SLEEP").is_none() {
        return;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "sleeping").unwrap();
    out.flush().unwrap();
    drop(out);
    std::thread::sleep(Duration::from_secs(120));
}

fn spawn_self(test: &str, env: (&str, &Path)) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env.0, env.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Reads the child's stdout until a line containing `word`.
fn wait_for_line(child: &mut Child, word: &str) {
    let out = child.stdout.take().unwrap();
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        if n == 0 {
            let status = child.wait().unwrap();
            panic!("child ended before printing {word}: {status}");
        }
        if line.contains(word) {
            break;
        }
    }
    child.stdout = Some(reader.into_inner());
}

#[test]
fn lock_held_by_another_process_dies_with_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let mut child = spawn_self("lock_child_holder", ("LSM_LOCK_DIR", &root));
    wait_for_line(&mut child, "locked-ok");

    assert_locked(open_guarded(&root), &root);

    child.kill().unwrap();
    child.wait().unwrap();
    let db = open_guarded(&root).expect("open after the holder was killed");
    // The child's acknowledged write survived its kill -9.
    assert_eq!(db.get(b"child").unwrap(), Some(b"was here".to_vec()));
    db.close().unwrap();
}

#[test]
fn exec_child_does_not_inherit_the_lock() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = Lsm::open(&root).unwrap();
    db.put(b"k", b"v").unwrap();
    // The child is forked and exec'd while the lock is held.
    let mut child = spawn_self("lock_child_sleeper", ("LSM_LOCK_SLEEP", Path::new("1")));
    wait_for_line(&mut child, "sleeping");
    db.close().unwrap();
    // Were the lock's descriptor inherited, the child would still hold the lock.
    let reopened = open_guarded(&root);
    child.kill().unwrap();
    child.wait().unwrap();
    let db2 = reopened.expect("open while an exec'd child of the old holder lives");
    assert_eq!(db2.get(b"k").unwrap(), Some(b"v".to_vec()));
}
