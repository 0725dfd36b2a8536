#!/usr/bin/env bash
# The long reliability runs (not part of ./scripts/test.sh or CI). See docs/RELIABILITY.md.
#
#   ./scripts/reliability_long.sh            # crash + power cut + fuzz (about an hour)
#   ./scripts/reliability_long.sh crash      # only the kill -9 cycles
#   ./scripts/reliability_long.sh power      # only the power cuts
#   ./scripts/reliability_long.sh fuzz [SECS] # each fuzz target for SECS (default 300)
#
# Environment: LSM_CRASH_CYCLES (kill cycles per kill test, 4 tests; default here 260,
# i.e. 1040 cycles), LSM_POWER_CUTS (cuts per power-cut test; default here 1200, about
# 7,100 cuts of which 3,000 are counted under the hole model).
# Uses one build job and one test thread: the machine is usually shared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_BUILD_JOBS=1

crash() {
    LSM_CRASH_CYCLES="${LSM_CRASH_CYCLES:-260}" \
        cargo test --test crash_kill -- --nocapture --test-threads=1 kill9_
}

power() {
    LSM_POWER_CUTS="${LSM_POWER_CUTS:-1200}" \
        cargo test --test power_cut -- --nocapture --test-threads=1
}

# libFuzzer on stable Rust: cargo-fuzz (cargo install cargo-fuzz) passes -Z flags, which
# RUSTC_BOOTSTRAP=1 allows; --sanitizer none because the sanitizers need nightly's
# build-std. New inputs go to a scratch corpus; the committed seeds are read only.
fuzz() {
    local secs="${1:-300}" t
    for t in wal_reader sstable block manifest key_cache ops; do
        mkdir -p "target/fuzz-corpus/$t"
        RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -O "$t" \
            "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
            -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048
    done
}

case "${1:-all}" in
    crash) crash ;;
    power) power ;;
    fuzz) fuzz "${2:-300}" ;;
    all) crash; power; fuzz 300 ;;
    *) echo "usage: $0 [crash|power|fuzz [SECS]|all]" >&2; exit 2 ;;
esac
