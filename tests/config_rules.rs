//! Every configuration rule, through every Rust path that builds a `Config`: a struct
//! given to `Lsm::open_with_config`, text given to `Config::set`, and a `config.toml`
//! given to `Config::load` (issue 10, item 7). The C API (`lsm_options_set`, tests/c)
//! and Python keywords (python/tests/test_errors.py) go through `Config::set` and
//! `open_with_config` and are tested there with a few of these values.
//!
//! The table lists every key of `lsm::config::KEYS`: a new option without a row
//! fails `the_table_lists_every_key`, and one whose type admits a bad value needs a
//! rule to fill its row.

use lsm::config::{SyncMode, KEYS};
use lsm::{Config, Lsm, LsmError};
use std::time::Duration;

struct Rule {
    key: &'static str,
    /// Text `Config::set` must refuse (also written into config.toml as a string).
    text: &'static [&'static str],
    /// TOML values `Config::load` must refuse.
    toml: &'static [&'static str],
    /// Breaks the field in a `Config` built in code; `None` when every value of the
    /// field's type is acceptable.
    break_field: Option<fn(&mut Config)>,
}

const fn rule(
    key: &'static str,
    text: &'static [&'static str],
    toml: &'static [&'static str],
    break_field: Option<fn(&mut Config)>,
) -> Rule {
    Rule {
        key,
        text,
        toml,
        break_field,
    }
}

const RULES: &[Rule] = &[
    rule(
        "wal.version",
        &["2", "0"],
        &["2", "\"1x\""],
        Some(|c| c.wal.version = 2),
    ),
    rule(
        "wal.sync",
        &["0ms", "sometimes", ""],
        &["1", "\"0s\""],
        Some(|c| c.wal.sync = SyncMode::Interval(Duration::ZERO)),
    ),
    rule("wal.recovery", &["maybe"], &["true"], None),
    rule(
        "wal.retention",
        &["lots", "1GiB,2GiB", "-1"],
        &["true", "5"],
        None,
    ),
    rule(
        "memtable.max_entries",
        &["0", "-1", "many"],
        &["0", "-3"],
        Some(|c| c.memtable.max_entries = 0),
    ),
    rule(
        "memtable.max_bytes",
        &["0"],
        &["0"],
        Some(|c| c.memtable.max_bytes = 0),
    ),
    rule(
        "memtable.max_immutable",
        &["0"],
        &["0"],
        Some(|c| c.memtable.max_immutable = 0),
    ),
    rule("memtable.total_bytes", &["-1", "lots"], &["-1"], None),
    rule("directory.root", &[], &["1"], None),
    rule(
        "directory.wal",
        &[""],
        &["\"\"", "1"],
        Some(|c| c.directory.wal.clear()),
    ),
    rule(
        "directory.ss_table",
        &[""],
        &["\"\""],
        Some(|c| c.directory.ss_table.clear()),
    ),
    rule(
        "directory.cache",
        &[""],
        &["\"\""],
        Some(|c| c.directory.cache.clear()),
    ),
    rule("directory.log", &[], &["false"], None),
    rule("cache.block_cache_bytes", &["-1", "lots"], &["-1"], None),
    rule("cache.key_cache_entries", &["-1"], &["1.5"], None),
    rule("cache.key_cache_bytes", &["-1", "lots"], &["-1"], None),
    rule("cache.persist_on_close", &["maybe"], &["1"], None),
    rule(
        "cache.max_open_files",
        &["0", "-2", "many"],
        &["0", "-5", "\"10\""],
        Some(|c| c.cache.max_open_files = 0),
    ),
    rule("cache.pin_l0_index_and_filter", &["maybe"], &["1"], None),
    rule(
        "sstable.block_size",
        &["0", "255", "17MiB"],
        &["0", "100"],
        Some(|c| c.sstable.block_size = 0),
    ),
    rule(
        "sstable.bloom_bits_per_key",
        &["65", "99999999999"],
        &["65"],
        Some(|c| c.sstable.bloom_bits_per_key = 65),
    ),
    rule("sstable.compression", &["gzip"], &["1"], None),
    rule(
        "sstable.compression_from_level",
        &["-1", "65", "deep"],
        &["-1", "65"],
        Some(|c| c.sstable.compression_from_level = 65),
    ),
    rule(
        "sstable.metadata_block_size",
        &["0", "255", "17MiB"],
        &["0", "100"],
        Some(|c| c.sstable.metadata_block_size = 100),
    ),
    rule(
        "compaction.level0_file_trigger",
        &["0"],
        &["0"],
        Some(|c| c.compaction.level0_file_trigger = 0),
    ),
    rule(
        "compaction.level0_slowdown_files",
        &["0"],
        &["0"],
        Some(|c| c.compaction.level0_slowdown_files = 0),
    ),
    rule(
        "compaction.level0_stop_files",
        &["0"],
        &["0"],
        Some(|c| c.compaction.level0_stop_files = 0),
    ),
    rule(
        "compaction.level_fanout",
        &["0", "1"],
        &["1"],
        Some(|c| c.compaction.level_fanout = 1),
    ),
    rule(
        "compaction.base_level_bytes",
        &["0"],
        &["0"],
        Some(|c| c.compaction.base_level_bytes = 0),
    ),
    rule(
        "compaction.target_file_bytes",
        &["0"],
        &["0"],
        Some(|c| c.compaction.target_file_bytes = 0),
    ),
    // With one level L0 is never compacted: writes stall and close never returns.
    rule(
        "compaction.max_levels",
        &["0", "1", "17"],
        &["1"],
        Some(|c| c.compaction.max_levels = 1),
    ),
    rule(
        "compaction.pending_bytes_slowdown",
        &["0"],
        &["0"],
        Some(|c| c.compaction.pending_bytes_slowdown = 0),
    ),
    rule(
        "compaction.pending_bytes_stop",
        &["0"],
        &["0"],
        Some(|c| c.compaction.pending_bytes_stop = 0),
    ),
    rule(
        "compaction.background_threads",
        &["0", "257"],
        &["0", "100000"],
        Some(|c| c.compaction.background_threads = 0),
    ),
    rule(
        "compaction.max_subcompactions",
        &["0", "65"],
        &["0", "100000"],
        Some(|c| c.compaction.max_subcompactions = 0),
    ),
    rule("merge.operator", &["sum", "u64"], &["1", "true"], None),
    rule("ttl", &["soon", "-1", "0s", "5x"], &["7", "true"], None),
    rule(
        "compaction.delayed_write_rate",
        &["0", "-1", "fast"],
        &["0"],
        Some(|c| c.compaction.delayed_write_rate = 0),
    ),
];

/// Rules between options: `validate` (so open and load) refuses these, naming the key.
const RELATIONS: &[(&str, &str)] = &[
    (
        "compaction.level0_slowdown_files",
        "[compaction]\nlevel0_file_trigger = 8\nlevel0_slowdown_files = 4\n",
    ),
    (
        "compaction.level0_stop_files",
        "[compaction]\nlevel0_slowdown_files = 8\nlevel0_stop_files = 4\n",
    ),
    (
        "compaction.pending_bytes_stop",
        "[compaction]\npending_bytes_slowdown = 8\npending_bytes_stop = 4\n",
    ),
];

fn assert_names(result: lsm::Result<impl std::fmt::Debug>, key: &str, what: &str) {
    match result {
        Err(LsmError::Config { key: k, .. }) if k == key => {}
        other => panic!("{what}: want a Config error naming {key}, got {other:?}"),
    }
}

/// The TOML line that sets `key` to `value`, with its section header (none for the
/// one top-level key, `ttl`).
fn toml_line(key: &str, value: &str) -> String {
    match key.split_once('.') {
        Some((section, name)) => format!("[{section}]\n{name} = {value}\n"),
        None => format!("{key} = {value}\n"),
    }
}

#[test]
fn the_table_lists_every_key() {
    let mut listed: Vec<&str> = RULES.iter().map(|r| r.key).collect();
    listed.sort_unstable();
    let mut keys = KEYS.to_vec();
    keys.sort_unstable();
    assert_eq!(
        listed, keys,
        "RULES must have exactly one row per key of KEYS"
    );
    for r in RULES {
        assert!(
            !r.text.is_empty() || !r.toml.is_empty() || r.break_field.is_some(),
            "{}: no bad value at all",
            r.key
        );
    }
}

#[test]
fn the_defaults_pass() {
    Config::default().validate().unwrap();
    Config::from_toml_str("").unwrap();
}

#[test]
fn a_struct_breaking_a_rule_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    for r in RULES {
        let Some(break_field) = r.break_field else {
            continue;
        };
        let mut c = Config::with_root(dir.path().join("db"));
        break_field(&mut c);
        assert_names(c.validate(), r.key, "validate");
        assert_names(Lsm::open_with_config(c), r.key, "open_with_config");
    }
}

#[test]
fn set_refuses_bad_text_and_changes_nothing() {
    for r in RULES {
        for bad in r.text {
            let mut c = Config::default();
            assert_names(c.set(r.key, bad), r.key, &format!("set({bad:?})"));
            assert_eq!(
                c,
                Config::default(),
                "{}: a failed set changed the config",
                r.key
            );
        }
    }
}

#[test]
fn load_refuses_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    for r in RULES {
        let quoted = r.text.iter().map(|t| format!("{t:?}"));
        for value in r.toml.iter().map(|v| v.to_string()).chain(quoted) {
            std::fs::write(&file, toml_line(r.key, &value)).unwrap();
            assert_names(
                Config::load(&file),
                r.key,
                &format!("load {} = {value}", r.key),
            );
        }
    }
}

#[test]
fn relations_are_checked_by_open_and_load() {
    let dir = tempfile::tempdir().unwrap();
    for (key, toml) in RELATIONS {
        assert_names(Config::from_toml_str(toml), key, toml);
        // Each value is fine on its own, so set accepts them one by one...
        let mut c = Config::with_root(dir.path().join("db"));
        for line in toml.lines().skip(1) {
            let (name, value) = line.split_once(" = ").unwrap();
            c.set(&format!("compaction.{name}"), value).unwrap();
        }
        // ...and open refuses the combination.
        assert_names(Lsm::open_with_config(c), key, toml);
    }
}
