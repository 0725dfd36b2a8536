#!/usr/bin/env bash
# Builds the Python package into .venv and runs its tests: ./scripts/test_python.sh
#
# Creates the virtualenv .venv (python3 -m venv) if it is missing, installs the test
# tools (maturin, pytest, hypothesis, mypy), builds and installs the package with
# `pip install .` (maturin, release build, abi3 wheel), then runs pytest
# (python/tests, strict: warnings are errors) and `mypy.stubtest` on the stubs.
# Extra arguments go to pytest, e.g. ./scripts/test_python.sh -k asyncio
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

section() {
    printf '\n==> %s\n' "$*"
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON is not installed (the package needs Python 3.11 or newer)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    section "creating .venv"
    "$PYTHON" -m venv .venv
fi
VENV_PY=.venv/bin/python

section "installing maturin, pytest, hypothesis, mypy into .venv"
"$VENV_PY" -m pip install --quiet --upgrade pip
"$VENV_PY" -m pip install --quiet maturin pytest hypothesis mypy

section "pip install . (builds lsm._lsm with maturin)"
# A stale in-place build (maturin develop) would shadow the installed package.
rm -f python/lsm/_lsm*.so
"$VENV_PY" -m pip install --quiet --force-reinstall --no-deps .

# Run from outside the source tree so `import lsm` is the installed package.
cd python/tests
section "pytest python/tests"
../../"$VENV_PY" -m pytest -c ../../pyproject.toml --rootdir ../.. "$@" .

section "mypy.stubtest lsm"
../../"$VENV_PY" -m mypy.stubtest lsm

section "mypy --strict on the tests"
../../"$VENV_PY" -m mypy --strict .
