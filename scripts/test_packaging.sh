#!/usr/bin/env bash
# The Rust crate as crates.io would get it: ./scripts/test_packaging.sh
#
# 1. `cargo package --list -p lsm` holds what the crate needs to build (build.rs,
#    cbindgen.toml, the committed header, the sources) and nothing of the repository's
#    own (tests, fuzz corpora, target/, .venv, the Python and C packaging);
# 2. `cargo publish --dry-run -p lsm` packs the crate and builds it from the packed
#    sources alone (it needs the crates.io index, not an account). --allow-dirty lets
#    it run on a work tree with uncommitted changes.
# The Python sdist and wheel are checked by scripts/test_python.sh, the C install and
# the .deb by scripts/test_c.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

section() {
    printf '\n==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

check_list() {
    section "cargo package --list -p lsm"
    local list
    list="$(cargo package --list -p lsm --allow-dirty)"
    local missing=() f
    for f in Cargo.toml README.md build.rs cbindgen.toml include/lsm.h src/lib.rs \
        src/ffi/mod.rs src/bin/lsm/main.rs; do
        grep -qx "$f" <<<"$list" || missing+=("$f")
    done
    [ "${#missing[@]}" = 0 ] || die "the crate lacks ${missing[*]}"
    local stray
    stray="$(grep -vx "\.cargo_vcs_info\.json" <<<"$list" | grep -E '^(target|\.venv|tests|fuzz|python|bindings|scripts|benches|log|\.ci)/|\.(so|a|whl|png|json)$' || true)"
    [ -z "$stray" ] || die "the crate holds files it does not need: $(head -n 5 <<<"$stray")"
    echo "ok: $(wc -l <<<"$list") files"
}

dry_run() {
    section "cargo publish --dry-run -p lsm (builds the packed crate)"
    cargo publish --dry-run --allow-dirty -p lsm
    echo "ok: the packed crate builds"
}

check_list
dry_run
