//! The `lsm` command-line tool, run as a process: every command, the shell from a pipe,
//! binary keys, exit statuses, dumps of real files and a small bench.

use assert_cmd::Command;
use lsm::Lsm;
use predicates::prelude::*;
use predicates::str::contains;
use std::path::{Path, PathBuf};

/// `lsm --db <dir> ...`, run from a directory without a config.toml.
fn lsm(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsm"));
    c.current_dir(db.parent().expect("db has a parent"));
    c.arg("--db").arg(db);
    c
}

fn bare(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lsm"));
    c.current_dir(cwd);
    c
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    (dir, db)
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn put_get_delete() {
    let (_t, db) = setup();
    lsm(&db)
        .args(["put", "user:1", "ada lovelace"])
        .assert()
        .success()
        .stdout("");
    lsm(&db)
        .args(["get", "user:1"])
        .assert()
        .success()
        .stdout("ada lovelace\n");
    lsm(&db).args(["delete", "user:1"]).assert().success();
    lsm(&db)
        .args(["get", "user:1"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(contains("lsm: error: key not found: user:1"));
    // Deleting a missing key is fine; a key starting with '-' is a key, not an option
    // (after `--` even one spelt like an option).
    lsm(&db).args(["delete", "nothing"]).assert().success();
    lsm(&db).args(["put", "-x", "-v"]).assert().success();
    lsm(&db)
        .args(["get", "-x"])
        .assert()
        .success()
        .stdout("-v\n");
    lsm(&db).args(["put", "--", "-k", "-w"]).assert().success();
    lsm(&db)
        .args(["get", "--", "-k"])
        .assert()
        .success()
        .stdout("-w\n");
}

#[test]
fn keyspaces_on_the_command_line_and_in_the_shell() {
    let (_t, db) = setup();
    lsm(&db).args(["put", "k", "in default"]).assert().success();
    lsm(&db)
        .args(["put", "-k", "users", "k", "in users"])
        .assert()
        .success();
    lsm(&db)
        .args(["put", "--keyspace", "users", "k2", "v2"])
        .assert()
        .success();
    lsm(&db)
        .args(["get", "k"])
        .assert()
        .success()
        .stdout("in default\n");
    lsm(&db)
        .args(["get", "-k", "users", "k"])
        .assert()
        .success()
        .stdout("in users\n");
    lsm(&db)
        .args(["scan", "-k", "users"])
        .assert()
        .success()
        .stdout("k\tin users\nk2\tv2\n");
    lsm(&db)
        .args(["scan", "--keyspace", "users", "--reverse", "--limit", "1"])
        .assert()
        .success()
        .stdout("k2\tv2\n");
    lsm(&db)
        .arg("keyspaces")
        .assert()
        .success()
        .stdout("default\nusers\n");
    lsm(&db)
        .args(["delete", "-k", "users", "k"])
        .assert()
        .success();
    lsm(&db).args(["get", "-k", "users", "k"]).assert().code(3);
    lsm(&db).args(["get", "k"]).assert().success();
    // Reading a keyspace that does not exist is an error (and creates nothing);
    // so is a bad name.
    lsm(&db)
        .args(["get", "-k", "nope", "k"])
        .assert()
        .failure()
        .stderr(contains("keyspace \"nope\" does not exist"));
    lsm(&db).args(["scan", "-k", "nope"]).assert().failure();
    lsm(&db)
        .args(["put", "-k", "bad name", "k", "v"])
        .assert()
        .failure()
        .stderr(contains("invalid keyspace name"));
    lsm(&db)
        .arg("keyspaces")
        .assert()
        .success()
        .stdout("default\nusers\n");
    // The shell takes the same options.
    lsm(&db)
        .arg("shell")
        .write_stdin("put -k logs a 1\nget -k logs a\nkeyspaces\nscan -k logs\n")
        .assert()
        .success()
        .stdout(contains("1\ndefault\nusers\nlogs\na\t1\n"));
}

#[test]
fn scan_prefix_range_limit_reverse() {
    let (_t, db) = setup();
    for (k, v) in [
        ("a", "1"),
        ("b:1", "2"),
        ("b:2", "3"),
        ("b:3", "4"),
        ("c", "5"),
    ] {
        lsm(&db).args(["put", k, v]).assert().success();
    }
    lsm(&db)
        .arg("scan")
        .assert()
        .success()
        .stdout("a\t1\nb:1\t2\nb:2\t3\nb:3\t4\nc\t5\n");
    lsm(&db)
        .args(["scan", "--prefix", "b:"])
        .assert()
        .success()
        .stdout("b:1\t2\nb:2\t3\nb:3\t4\n");
    lsm(&db)
        .args(["scan", "--start", "b:2", "--end", "c"])
        .assert()
        .success()
        .stdout("b:2\t3\nb:3\t4\n");
    lsm(&db)
        .args(["scan", "--reverse", "--limit", "2"])
        .assert()
        .success()
        .stdout("c\t5\nb:3\t4\n");
    lsm(&db)
        .args(["scan", "--prefix", "b:", "--reverse", "--limit", "1"])
        .assert()
        .success()
        .stdout("b:3\t4\n");
    lsm(&db)
        .args(["scan", "--start", "b"])
        .assert()
        .success()
        .stdout(contains("b:1\t2\n").and(contains("a\t").not()));
    // --prefix and --start do not go together: a usage error.
    lsm(&db)
        .args(["scan", "--prefix", "a", "--start", "b"])
        .assert()
        .code(2);
}

#[test]
fn binary_keys_round_trip_through_escapes() {
    let (_t, db) = setup();
    lsm(&db)
        .args(["put", r"k\x00\xff\\", r"v\x01\n\t"])
        .assert()
        .success();
    lsm(&db)
        .args(["get", r"k\x00\xff\\"])
        .assert()
        .success()
        .stdout("v\\x01\\x0a\\x09\n");
    // The same key in hex.
    lsm(&db)
        .args(["get", "0x6b00ff5c"])
        .assert()
        .success()
        .stdout("v\\x01\\x0a\\x09\n");
    lsm(&db)
        .arg("scan")
        .assert()
        .success()
        .stdout("k\\x00\\xff\\\\\tv\\x01\\x0a\\x09\n");
    // What scan printed is accepted back as input.
    lsm(&db).args(["get", r"k\x00\xff\\"]).assert().success();
    lsm(&db)
        .args(["scan", "--prefix", r"k\x00"])
        .assert()
        .success()
        .stdout(contains("k\\x00"));
    let opened = Lsm::open(&db).expect("open");
    assert_eq!(
        opened.get(b"k\x00\xff\\").expect("get"),
        Some(b"v\x01\n\t".to_vec())
    );
    opened.close().expect("close");
    lsm(&db)
        .args(["get", r"bad\q"])
        .assert()
        .code(1)
        .stderr(contains("unknown escape"));
    lsm(&db)
        .args(["get", "0xabc"])
        .assert()
        .code(1)
        .stderr(contains("hex"));
}

#[test]
fn stats_flush_verify_compact() {
    let (_t, db) = setup();
    lsm(&db).args(["put", "k", "v"]).assert().success();
    lsm(&db).arg("flush").assert().success();
    lsm(&db)
        .arg("stats")
        .assert()
        .success()
        .stdout(contains("last sequence"));
    lsm(&db)
        .arg("verify")
        .assert()
        .success()
        .stdout(contains("table").and(contains("md5")).and(contains("ok: ")));
    // Enough level-0 tables for compaction to have work, then compact everything.
    for i in 0..5 {
        lsm(&db)
            .args(["put", &format!("k{i}"), "x"])
            .assert()
            .success();
        lsm(&db).arg("flush").assert().success();
    }
    lsm(&db).arg("compact").assert().success();
    lsm(&db)
        .args(["compact", "--start", "k1", "--end", "k3"])
        .assert()
        .success();
    lsm(&db).args(["get", "k"]).assert().success().stdout("v\n");
    lsm(&db)
        .args(["get", "k4"])
        .assert()
        .success()
        .stdout("x\n");
    lsm(&db)
        .arg("verify")
        .assert()
        .success()
        .stdout(contains("ok: "));
    // Everything left level 0.
    lsm(&db)
        .arg("stats")
        .assert()
        .success()
        .stdout(contains("L0: ").not());
}

#[test]
fn piped_shell_session() {
    let (_t, db) = setup();
    let script = "\
# a comment
put a 1
put \"b c\" \"x y\"
put bin\\x00 \\xff
get a
get \"b c\"
get bin\\x00
get missing
scan --limit 2
delete a
scan
help
quit
put after-quit 1
";
    lsm(&db)
        .arg("shell")
        .write_stdin(script)
        .assert()
        .success()
        .stdout(
            contains("1\nx y\n\\xff\n(not found)\na\t1\nb c\tx y\n")
                .and(contains("b c\tx y\nbin\\x00\t\\xff\n"))
                .and(contains("quit")),
        );
    lsm(&db).args(["get", "after-quit"]).assert().code(3);
    // Errors print a message and the session goes on; the exit status tells.
    lsm(&db)
        .write_stdin("bogus\nget\nput k \"open\nput ok 1\nget ok\n")
        .assert()
        .code(1)
        .stdout("1\n")
        .stderr(
            contains("line 1")
                .and(contains("line 2"))
                .and(contains("line 3")),
        );
}

#[test]
fn bad_options_and_usage() {
    let (t, db) = setup();
    lsm(&db)
        .args(["--set", "memtable.max_entriez=3", "get", "k"])
        .assert()
        .code(1)
        .stderr(contains("memtable.max_entriez"));
    lsm(&db)
        .args(["--set", "wal.sync=sometimes", "get", "k"])
        .assert()
        .code(1)
        .stderr(contains("wal.sync"));
    lsm(&db)
        .args(["--set", "novalue", "get", "k"])
        .assert()
        .code(1)
        .stderr(contains("KEY=VALUE"));
    lsm(&db).arg("frobnicate").assert().code(2);
    lsm(&db).args(["get"]).assert().code(2);
    bare(t.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit status").and(contains("3  key not found")));
    lsm(&db)
        .args(["--config", "/nonexistent/config.toml", "get", "k"])
        .assert()
        .code(1)
        .stderr(contains("lsm: error:").and(contains("cannot read")));
}

#[test]
fn config_file_then_db_then_set() {
    let (t, db) = setup();
    // ./config.toml is read by default; --db overrides its directory.root.
    std::fs::write(
        t.path().join("config.toml"),
        "[wal]\nversion = 1\n\n[memtable]\nmax_entries = 10\n\n[directory]\nroot = \"fromconfig\"\n",
    )
    .expect("write config");
    bare(t.path()).args(["put", "k", "1"]).assert().success();
    assert!(t.path().join("fromconfig/CURRENT").exists());
    bare(t.path())
        .arg("--db")
        .arg(&db)
        .args(["put", "k", "2"])
        .assert()
        .success();
    assert!(db.join("CURRENT").exists());
    bare(t.path())
        .args(["get", "k"])
        .assert()
        .success()
        .stdout("1\n");
    // max_entries = 10 from the file: 25 puts make level-0 tables.
    let script: String = (0..25).map(|i| format!("put key{i:02} v\n")).collect();
    bare(t.path())
        .arg("shell")
        .write_stdin(script)
        .assert()
        .success();
    // (Level 0 or deeper: compaction may have run in the background.)
    bare(t.path())
        .arg("stats")
        .assert()
        .success()
        .stdout(predicates::str::is_match(r"L\d: \d+ files").expect("regex"));
    // A bad value in the file names the key.
    std::fs::write(
        t.path().join("bad.toml"),
        "[memtable]\nmax_entries = \"many\"\n",
    )
    .expect("write");
    bare(t.path())
        .args(["--config", "bad.toml", "stats"])
        .assert()
        .code(1)
        .stderr(contains("memtable.max_entries"));
}

#[test]
fn a_locked_database_is_reported() {
    let (_t, db) = setup();
    let held = Lsm::open(&db).expect("open");
    lsm(&db)
        .args(["get", "k"])
        .assert()
        .code(1)
        .stderr(contains("locked"));
    held.close().expect("close");
    lsm(&db).args(["get", "k"]).assert().code(3);
}

#[test]
fn dump_a_live_wal_segment() {
    let (_t, db) = setup();
    let h = Lsm::open(&db).expect("open");
    h.put(b"alpha", b"1").expect("put");
    h.put(b"bin\x00\xff", b"v\n").expect("put");
    h.delete(b"alpha").expect("delete");
    h.delete_range(b"a", b"b").expect("delete_range");
    h.sync().expect("sync");
    // Read the segment while the database is open, as after a crash.
    let segments = files_with_ext(&db.join("wals"), "log");
    let live = segments.last().expect("a segment");
    lsm(&db).arg("dump").arg(live).assert().success().stdout(
        contains("# WAL segment")
            .and(contains("header: segment"))
            .and(contains("batch seq=1 count=1"))
            .and(contains("1 put alpha => 1"))
            .and(contains("2 put bin\\x00\\xff => v\\x0a"))
            .and(contains("3 delete alpha"))
            .and(contains("4 delete_range a .. b"))
            .and(contains("4 batches, 4 ops, seq 1..=4")),
    );
    h.close().expect("close");
}

#[test]
fn dump_an_sstable() {
    let (_t, db) = setup();
    let h = Lsm::open(&db).expect("open");
    h.put(b"k1", b"v1").expect("put");
    h.put(b"k\xff", b"bin\x00").expect("put");
    h.delete(b"k0").expect("delete");
    h.delete_range(b"x", b"z").expect("delete_range");
    h.flush().expect("flush");
    let tables = files_with_ext(&db.join("ss_tables"), "sst");
    let table = tables.last().expect("a table");
    lsm(&db).arg("dump").arg(table).assert().success().stdout(
        contains("# SSTable")
            .and(contains("format: 2, 1 index partitions"))
            .and(contains("entries: 3 (footer), 2 puts, 1 deletes"))
            .and(contains("range tombstones: 1"))
            .and(contains("k0 @ 3 delete"))
            .and(contains("k1 @ 1 put => v1"))
            .and(contains("k\\xff @ 2 put => bin\\x00"))
            .and(contains("[x .. z) @ 4 range_delete")),
    );
    h.close().expect("close");
    // The manifest too.
    let manifest = std::fs::read_dir(&db)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .expect("a manifest");
    lsm(&db)
        .arg("dump")
        .arg(manifest)
        .assert()
        .success()
        .stdout(contains("add L0").and(contains("md5=")));
}

#[test]
fn dump_rejects_what_it_cannot_read() {
    let (t, db) = setup();
    let junk = t.path().join("junk.bin");
    std::fs::write(&junk, b"not a database file at all").expect("write");
    lsm(&db)
        .arg("dump")
        .arg(&junk)
        .assert()
        .code(1)
        .stderr(contains("lsm: error:"));
    let fake = t.path().join("000001.sst");
    std::fs::write(&fake, vec![7u8; 200]).expect("write");
    lsm(&db)
        .arg("dump")
        .arg(&fake)
        .assert()
        .code(1)
        .stderr(contains("corruption"));
    lsm(&db)
        .arg("dump")
        .arg(t.path().join("missing.log"))
        .assert()
        .code(1);
}

const WORKLOADS: [&str; 12] = [
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readpinned",
    "multiget",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "mixed",
    "deleterandom",
];

#[test]
fn bench_runs_every_workload() {
    let (t, _db) = setup();
    let out = bare(t.path())
        .args(["bench", "--num", "1000"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("ops/s") && text.contains("p99.9"), "{text}");
    for w in WORKLOADS {
        assert!(
            text.lines().any(|l| l.starts_with(w)),
            "{w} missing in\n{text}"
        );
    }
}

#[test]
fn bench_json_parses_and_has_every_workload() {
    let (t, _db) = setup();
    let bench_dir = t.path().join("bench");
    let out = bare(t.path())
        .args(["bench", "--num", "1000", "--threads", "2", "--json", "--db"])
        .arg(&bench_dir)
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("stdout is one JSON object");
    let results = v["results"].as_array().expect("results");
    let names: Vec<&str> = results.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, WORKLOADS);
    for r in results {
        assert!(r["ops_per_sec"].as_f64().is_some_and(|x| x > 0.0), "{r}");
        assert!(r["latency_us"]["p99_9"].as_f64().is_some(), "{r}");
    }
    let readrandom = &results[3];
    assert!(readrandom["found"].as_u64().is_some_and(|f| f > 0));
    assert!(
        results[4]["found"].as_u64().is_some_and(|f| f > 0),
        "readpinned"
    );
    assert!(
        results[5]["found"].as_u64().is_some_and(|f| f > 0),
        "multiget"
    );
    assert_eq!(
        results[6]["found"].as_u64(),
        Some(0),
        "readmissing finds nothing"
    );
    // --db keeps the bench database; a selection runs only what it names.
    assert!(bench_dir.join("CURRENT").exists());
    bare(t.path())
        .args([
            "bench",
            "--num",
            "200",
            "--benchmarks",
            "fillseq,readseq",
            "--sync",
        ])
        .assert()
        .success()
        .stdout(
            contains("\nfillseq")
                .and(contains("\nreadseq"))
                .and(contains("\nmixed").not()),
        );
    bare(t.path())
        .args(["bench", "--benchmarks", "nope"])
        .assert()
        .code(1)
        .stderr(contains("unknown benchmark"));
}

/// `lsm --db <dir> --set wal.retention=1GiB ...`: the change feed needs its history
/// kept across the runs (each run closes the database, which flushes the WAL).
fn retaining(db: &Path) -> Command {
    let mut c = lsm(db);
    c.args(["--set", "wal.retention=1GiB"]);
    c
}

#[test]
fn changes_prints_the_feed_one_escaped_line_per_operation() {
    let (_t, db) = setup();
    retaining(&db)
        .args(["put", "user:1", "ada"])
        .assert()
        .success();
    retaining(&db)
        .args(["put", "tab\\there", "0x00ff"])
        .assert()
        .success();
    retaining(&db)
        .args(["put", "-k", "users", "x", "y"])
        .assert()
        .success();
    retaining(&db).args(["delete", "user:1"]).assert().success();
    let all = "1\tdefault\tput\tuser:1\tada\n\
               2\tdefault\tput\ttab\\x09here\t\\x00\\xff\n\
               3\tusers\tput\tx\ty\n\
               4\tdefault\tdelete\tuser:1\n";
    retaining(&db)
        .args(["changes", "--since", "1"])
        .assert()
        .success()
        .stdout(all);
    // --since defaults to 1; a later start prints the rest; past the end, nothing.
    retaining(&db).arg("changes").assert().success().stdout(all);
    retaining(&db)
        .args(["changes", "--since", "3"])
        .assert()
        .success()
        .stdout("3\tusers\tput\tx\ty\n4\tdefault\tdelete\tuser:1\n");
    retaining(&db)
        .args(["changes", "--since", "99"])
        .assert()
        .success()
        .stdout("");
    // A range delete (from a shell session) shows its end in the last column, and
    // the shell runs `changes` too, but not --follow.
    retaining(&db)
        .arg("shell")
        .write_stdin("changes --since 5\nchanges --follow\n")
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("line 2: changes --follow waits until interrupted"));
    let lsm_db = Lsm::open_with_config({
        let mut c = lsm::Config::with_root(&db);
        c.set("wal.retention", "1GiB").unwrap();
        c
    })
    .unwrap();
    lsm_db.delete_range(b"a", b"m").unwrap();
    lsm_db.close().unwrap();
    retaining(&db)
        .args(["changes", "--since", "5"])
        .assert()
        .success()
        .stdout("5\tdefault\tdelete_range\ta\tm\n");
    retaining(&db)
        .args(["changes", "--since", "x"])
        .assert()
        .code(2);
}

#[test]
fn changes_of_purged_history_is_a_clear_error() {
    let (_t, db) = setup();
    // Without wal.retention the history is gone once a run closes the database.
    lsm(&db).args(["put", "a", "1"]).assert().success();
    lsm(&db).args(["put", "b", "2"]).assert().success();
    lsm(&db)
        .args(["changes", "--since", "1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(
            "lsm: error: changes before sequence 3 are no longer kept (see wal.retention)",
        ));
    // What is still kept (nothing yet) prints fine.
    lsm(&db)
        .args(["changes", "--since", "3"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn changes_follow_prints_the_history_and_keeps_waiting() {
    use std::io::{BufRead, BufReader};
    let (_t, db) = setup();
    retaining(&db).args(["put", "k1", "v1"]).assert().success();
    retaining(&db).args(["put", "k2", "v2"]).assert().success();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lsm"))
        .current_dir(db.parent().unwrap())
        .arg("--db")
        .arg(&db)
        .args([
            "--set",
            "wal.retention=1GiB",
            "changes",
            "--since",
            "2",
            "--follow",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The history arrives at once (each batch is flushed as it is printed) ...
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "2\tdefault\tput\tk2\tv2");
    // ... and then it waits rather than exiting, holding the database open.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "--follow exited");
    lsm(&db)
        .args(["get", "k1"])
        .assert()
        .code(1)
        .stderr(contains("locked"));
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed while following: the database opens again with its history.
    retaining(&db)
        .args(["changes", "--since", "1"])
        .assert()
        .success()
        .stdout("1\tdefault\tput\tk1\tv1\n2\tdefault\tput\tk2\tv2\n");
}
