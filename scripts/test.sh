#!/usr/bin/env bash
# Runs every test of the project: ./scripts/test.sh
#
# Checks that the tools each stage needs are present (it downloads no toolchain), then
# runs the stages in order and stops at the first failure. Each stage is one function;
# add a new one (C/C++, Python, ...) as a function and list it in STAGES at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ----------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------

section() {
    printf '\n==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ----------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        cat >&2 <<'MSG'
error: cargo (the Rust toolchain) is not installed.

Install it with rustup (https://rustup.rs), then run this script again:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
    . "$HOME/.cargo/env"

The crate needs Rust 1.89 or newer (rust-version in Cargo.toml).
MSG
        exit 1
    fi
    # rustfmt and clippy are rustup components; add them when rustup is there.
    local component
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null 2>&1; then
                section "installing the rustup component $component"
                rustup component add "$component"
            else
                die "cargo ${component/rustfmt/fmt} is missing and rustup is not available to add $component"
            fi
        fi
    done
}

# ----------------------------------------------------------------------------------
# Stage: Rust
# ----------------------------------------------------------------------------------

stage_rust() {
    ensure_rust

    section "cargo fmt --check"
    cargo fmt --check

    section "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings

    section "cargo test --all-targets"
    cargo test --all-targets

    section "cargo test --doc"
    cargo test --doc

    # The replication crate (raft/): openraft's storage suite on the lsm store, and
    # clusters of real lsm-raft-node processes (kill -9, SIGSTOP, snapshot install, a
    # short crash loop; LSM_RAFT_CRASH_CYCLES=50 for the long one, see README).
    section "cargo test -p lsm-raft --all-targets (openraft storage suite, 3-node clusters)"
    cargo test -p lsm-raft --all-targets

    section "cargo test -p lsm-raft --doc"
    cargo test -p lsm-raft --doc

    section "loom: the memtable skiplist's publication protocol (--cfg lsm_loom)"
    RUSTFLAGS="--cfg lsm_loom" CARGO_TARGET_DIR=target/loom \
        cargo test --lib memtable::skiplist::loom_tests

    section "cargo doc --no-deps --workspace (RUSTDOCFLAGS=-D warnings)"
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
}

# ----------------------------------------------------------------------------------
# Stage: C and C++
# ----------------------------------------------------------------------------------

stage_c() {
    ensure_rust
    # scripts/test_c.sh checks for cc, c++, make and pkg-config itself; it checks
    # include/lsm.h against a fresh cbindgen run, installs into a temporary PREFIX and
    # builds and runs tests/c, tests/cpp and bindings/c/examples (also under ASan/UBSan).
    ./scripts/test_c.sh
}

# ----------------------------------------------------------------------------------
# Stage: Python
# ----------------------------------------------------------------------------------

stage_python() {
    command -v python3 >/dev/null 2>&1 || die "python3 is not installed (the Python stage needs 3.11+)"
    python3 -c 'import venv' 2>/dev/null || die "python3 has no venv module (apt-get install python3-venv)"
    section "Python: scripts/test_python.sh (wheel + sdist, fresh venv, pytest, stubtest)"
    ./scripts/test_python.sh
}

# ----------------------------------------------------------------------------------
# Stage: the Rust crate as published
# ----------------------------------------------------------------------------------

stage_packaging() {
    ensure_rust
    # cargo package --list (what the crate holds) and cargo publish --dry-run (it
    # builds from the packed sources); needs the crates.io index, not an account.
    section "Rust packaging: scripts/test_packaging.sh"
    ./scripts/test_packaging.sh
}

# ----------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------

STAGES=(stage_rust stage_c stage_python stage_packaging)

for stage in "${STAGES[@]}"; do
    "$stage"
done

section "all tests passed"
