//! Replays every file of `fuzz/corpus/<target>/` through the fuzz target of the same
//! name (`lsm::fuzz_api`), on stable Rust without libFuzzer: the seeds, and any input a
//! fuzzing run found and added there, stay regression tests.
//!
//! `LSM_WRITE_CORPUS=1 cargo test --test fuzz_corpus` regenerates the seeds from real
//! files (`lsm::fuzz_api::seed_corpus`).

use lsm::fuzz_api::{seed_corpus, TARGETS};
use std::path::Path;

#[test]
fn fuzz_corpus_replays_without_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    if std::env::var_os("LSM_WRITE_CORPUS").is_some() {
        for (target, name, bytes) in seed_corpus() {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed_{name}")), bytes).unwrap();
        }
    }
    let mut total = 0;
    for (target, run) in TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {target}");
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let r = std::panic::catch_unwind(|| run(&bytes));
            assert!(r.is_ok(), "{target}: {} fails", f.display());
            total += 1;
        }
    }
    eprintln!("{total} corpus inputs replayed");
}

/// The seeds themselves, generated in memory: the targets accept real files.
#[test]
fn seed_inputs_pass_their_targets() {
    for (target, name, bytes) in seed_corpus() {
        let run = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        let r = std::panic::catch_unwind(|| run(&bytes));
        assert!(r.is_ok(), "{target}: seed {name} fails");
    }
}
