//! Generates the C header `include/lsm.h` from `src/ffi/` with cbindgen.
//!
//! The header is always written to `$OUT_DIR/lsm.h` (its path is given to the crate
//! as `LSM_GENERATED_HEADER`, which `tests/header_fresh.rs` compares with the
//! committed `include/lsm.h`). In a git checkout outside CI it is also copied to
//! `include/lsm.h` when it changed; with `CI` or `LSM_HEADER_READONLY` set (or in a
//! packaged crate) the source tree is left alone,
//! so a stale committed header fails the test instead of being repaired. A header
//! that cannot be generated is a warning, never a failed build.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=LSM_HEADER_READONLY");

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblsm.so.{major}");
    }
    // The crate's unit-test binary is the crate compiled again with `--test`, and its
    // dev-dependency on itself (for the `sim` and `fuzzing` features) is linked in
    // too: in an unoptimised or opt-level 1 build rustc reuses generic instantiations
    // of upstream crates, which pulls in objects of that rlib, and with them a second
    // copy of some `#[no_mangle]` C functions. Both copies are the same code from the
    // same source, so the binary may keep either. Only for the dev and test profiles
    // ("debug"): a release liblsm.so is linked as before.
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var("PROFILE").as_deref() == Ok("debug") {
        println!("cargo:rustc-link-arg=-Wl,--allow-multiple-definition");
    }

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let generated = out_dir.join("lsm.h");
    println!(
        "cargo:rustc-env=LSM_GENERATED_HEADER={}",
        generated.display()
    );
    let _ = std::fs::remove_file(&generated);
    let bindings = match std::panic::catch_unwind(|| generate(&crate_dir)) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            println!("cargo:warning=include/lsm.h not generated: {e}");
            return;
        }
        Err(_) => {
            println!("cargo:warning=include/lsm.h not generated: cbindgen panicked");
            return;
        }
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    write_if_changed(&generated, &text);
    // Only a git checkout's header is refreshed (not a packaged crate's), and not in CI.
    let readonly = std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var_os("LSM_HEADER_READONLY").is_some()
        || !crate_dir.join(".git").exists();
    if !readonly {
        write_if_changed(&crate_dir.join("include/lsm.h"), &text);
    }
}

/// Writes `text` to `path` unless it already holds it (keeping its mtime); a failure
/// is a warning.
fn write_if_changed(path: &Path, text: &[u8]) {
    if std::fs::read(path).ok().as_deref() == Some(text) {
        return;
    }
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text));
    if let Err(e) = written {
        println!("cargo:warning=cannot write {}: {e}", path.display());
    }
}

fn generate(crate_dir: &Path) -> Result<cbindgen::Bindings, String> {
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))?;
    let v = |name: &str| std::env::var(name).unwrap_or_default();
    config.after_includes = Some(format!(
        "\n/* The version of this header; lsm_version() gives the library's. */\n\
         #define LSM_VERSION_MAJOR {}\n#define LSM_VERSION_MINOR {}\n\
         #define LSM_VERSION_PATCH {}\n#define LSM_VERSION \"{}\"",
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
        v("CARGO_PKG_VERSION"),
    ));
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .map_err(|e| e.to_string())
}
