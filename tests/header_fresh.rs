//! The committed `include/lsm.h` is what cbindgen generates from `src/ffi/` now, and
//! its version macros match Cargo.toml.
//!
//! `build.rs` writes the fresh header to `$OUT_DIR/lsm.h`. Outside CI it also refreshes
//! `include/lsm.h`, so commit that file with the change; in CI (`CI` set) or with
//! `LSM_HEADER_READONLY=1` it leaves the tree alone and this test catches a stale
//! header.

use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

#[test]
fn committed_header_is_fresh() {
    let generated = Path::new(env!("LSM_GENERATED_HEADER"));
    assert!(
        generated.exists(),
        "build.rs could not generate the header (see the cargo:warning of the build)"
    );
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/lsm.h");
    assert!(
        read(generated) == read(&committed),
        "include/lsm.h is stale: build without CI/LSM_HEADER_READONLY set (e.g. \
         `cargo build`) to regenerate it, then commit it"
    );
}

#[test]
fn header_version_matches_cargo_toml() {
    let committed = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("include/lsm.h"));
    for (name, value) in [
        ("LSM_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("LSM_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("LSM_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(committed.contains(&line), "include/lsm.h lacks {line:?}");
    }
    let full = format!("#define LSM_VERSION \"{}\"\n", env!("CARGO_PKG_VERSION"));
    assert!(committed.contains(&full), "include/lsm.h lacks {full:?}");
}
