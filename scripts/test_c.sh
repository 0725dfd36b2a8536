#!/usr/bin/env bash
# The C and C++ tests: ./scripts/test_c.sh
#
# 1. the committed include/lsm.h is fresh (cargo test --test header_fresh);
# 2. `make install` into a temporary PREFIX (a debug build unless LSM_PROFILE=release),
#    and the installed layout (soname links, headers, lsm.pc);
# 3. tests/c/test_lsm.c (-std=c11 -Wall -Wextra -Werror) and tests/cpp/test_lsm.cpp
#    (-std=c++17 -Wall -Werror), built with `pkg-config --cflags --libs lsm` against the
#    install, run plain and under -fsanitize=address,undefined with leak detection
#    (valgrind instead when LeakSanitizer cannot run here);
#    tests/c/test_close_race.c (lsm_close while threads are inside calls) the same way,
#    and also under valgrind's memcheck, since a read of a freed handle happens in Rust
#    code, which ASan does not instrument. (Helgrind and DRD only understand pthread
#    locks; the engine synchronises with atomics and futexes, so they report hundreds
#    of false races, and TSan would need the whole crate rebuilt on nightly.);
# 4. bindings/c/examples/example.c, linked against liblsm.so and against liblsm.a, and
#    bench.c on a few keys;
# 5. the CMake package: bindings/cpp/examples built with find_package(lsm) against the
#    install (test_cmake_package; cmake comes from apt when missing);
# 6. `make deb`, unpacked into a scratch root with dpkg -x, and a program built there
#    through pkg-config (PKG_CONFIG_SYSROOT_DIR) and CMake and run (test_deb).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() {
    printf '\n==> %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

missing=()
for tool in make cc c++ pkg-config valgrind nm; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    # Install what is missing where we can (root on Debian/Ubuntu, as on CI).
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        printf '==> installing build-essential pkg-config valgrind (missing: %s)\n' "${missing[*]}"
        apt-get update -qq && apt-get install -y -qq build-essential pkg-config valgrind >/dev/null
    else
        die "${missing[*]} missing (Debian/Ubuntu: apt-get install build-essential pkg-config valgrind)"
    fi
fi
command -v cargo >/dev/null 2>&1 || die "cargo is missing (see README: install rustup)"

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
PROFILE="${LSM_PROFILE:-debug}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lsm-test-c.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"

section "include/lsm.h is what cbindgen generates (cargo test --test header_fresh)"
cargo test --quiet --test header_fresh

section "make install PREFIX=$PREFIX PROFILE=$PROFILE"
make --no-print-directory install PREFIX="$PREFIX" PROFILE="$PROFILE"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

section "installed layout"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
major="${version%%.*}"
[ "$(pkg-config --modversion lsm)" = "$version" ] || die "lsm.pc has the wrong version"
[ -f "$PREFIX/lib/liblsm.so.$version" ] || die "liblsm.so.$version missing"
[ "$(readlink "$PREFIX/lib/liblsm.so.$major")" = "liblsm.so.$version" ] || die "bad liblsm.so.$major link"
[ "$(readlink "$PREFIX/lib/liblsm.so")" = "liblsm.so.$major" ] || die "bad liblsm.so link"
[ -f "$PREFIX/lib/liblsm.a" ] || die "liblsm.a missing"
[ -f "$PREFIX/include/lsm.h" ] && [ -f "$PREFIX/include/lsm.hpp" ] || die "headers missing"
if command -v objdump >/dev/null 2>&1; then
    objdump -p "$PREFIX/lib/liblsm.so.$version" | grep "SONAME *liblsm.so.$major" >/dev/null ||
        die "liblsm.so has no soname liblsm.so.$major"
fi
echo "ok: liblsm.so.$version (soname liblsm.so.$major), liblsm.a, lsm.h, lsm.hpp, lsm.pc"

section "the default liblsm.so and liblsm.a hold no test machinery (nm: no MemFs, no fuzz_api)"
# Its symbols, local ones included: the simulator (feature `sim`) and the fuzz entry
# points (feature `fuzzing`) are only compiled into tests and fuzzers.
# nm's output goes to a file first: `nm | grep -q` fails under pipefail when grep
# stops reading early.
for lib in "$PREFIX/lib/liblsm.so.$version" "$PREFIX/lib/liblsm.a"; do
    nm -C "$lib" >"$WORK/symbols.txt" 2>/dev/null || die "nm cannot read $lib"
    if grep -E 'lsm::fs::mem::|MemFs|lsm::fuzz_api::' "$WORK/symbols.txt" >"$WORK/machinery.txt"; then
        head -5 "$WORK/machinery.txt"
        die "$(basename "$lib") contains test machinery (see the symbols above)"
    fi
    grep -q 'lsm::fs::os::' "$WORK/symbols.txt" ||
        die "nm found no lsm::fs::os:: symbol in $lib: the check would pass vacuously"
    echo "ok: $(basename "$lib"): $(grep -c 'lsm::' "$WORK/symbols.txt") lsm:: symbols, none of them sim or fuzzing"
done

CFLAGS_C=(-std=c11 -Wall -Wextra -Werror -g)
CFLAGS_CXX=(-std=c++17 -Wall -Wextra -Werror -g)
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
# shellcheck disable=SC2207
LSM_FLAGS=($(pkg-config --cflags --libs lsm))

build() { # build OUT SRC COMPILER FLAGS...
    local out="$1" src="$2" compiler="$3"
    shift 3
    "$compiler" "$@" "$src" "${LSM_FLAGS[@]}" -pthread -o "$WORK/$out"
}

section "build the C and C++ tests and the examples"
build test_c tests/c/test_lsm.c cc "${CFLAGS_C[@]}"
build test_c_san tests/c/test_lsm.c cc "${CFLAGS_C[@]}" "${SAN[@]}"
build test_merge tests/c/test_merge.c cc "${CFLAGS_C[@]}"
build test_merge_san tests/c/test_merge.c cc "${CFLAGS_C[@]}" "${SAN[@]}"
build test_pinned tests/c/test_pinned.c cc "${CFLAGS_C[@]}"
build test_pinned_san tests/c/test_pinned.c cc "${CFLAGS_C[@]}" "${SAN[@]}"
build close_race tests/c/test_close_race.c cc "${CFLAGS_C[@]}"
build close_race_san tests/c/test_close_race.c cc "${CFLAGS_C[@]}" "${SAN[@]}"
build test_cpp tests/cpp/test_lsm.cpp c++ "${CFLAGS_CXX[@]}"
build test_cpp_san tests/cpp/test_lsm.cpp c++ "${CFLAGS_CXX[@]}" "${SAN[@]}"
build example bindings/c/examples/example.c cc "${CFLAGS_C[@]}"
build bench bindings/c/examples/bench.c cc "${CFLAGS_C[@]}" -O2
# The static library: liblsm.a plus the system libraries of lsm.pc's Libs.private.
# shellcheck disable=SC2046
cc "${CFLAGS_C[@]}" bindings/c/examples/example.c $(pkg-config --cflags lsm) \
    "$PREFIX/lib/liblsm.a" $(pkg-config --static --libs-only-l lsm | sed 's/-llsm//') \
    -o "$WORK/example_static"

# Does LeakSanitizer work here (it cannot under some ptrace sandboxes)? A program that
# leaks must be caught.
printf '#include <stdlib.h>\nint main(void) { void *volatile p = malloc(7); p = 0; return 0; }\n' \
    >"$WORK/leak.c"
cc -fsanitize=address "$WORK/leak.c" -o "$WORK/leak"
probe="$(ASAN_OPTIONS=detect_leaks=1 "$WORK/leak" 2>&1 || true)"
if grep -q "ERROR: LeakSanitizer: detected memory leaks" <<<"$probe"; then
    LEAKS=lsan
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
else
    LEAKS=valgrind
    command -v valgrind >/dev/null 2>&1 || die "LeakSanitizer cannot run here and valgrind is missing"
    export ASAN_OPTIONS="detect_leaks=0"
fi
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run() { # run NAME CMD...: a test program, whose last line must say "0 failed"
    local name="$1"
    shift
    section "$name"
    "$@" "$WORK/db-$name" | tee "$WORK/$name.out"
    tail -n 1 "$WORK/$name.out" | grep -Eq '^[0-9]+ passed, 0 failed$' || die "$name failed"
}

run c "$WORK/test_c"
run c-asan-ubsan "$WORK/test_c_san"
run merge "$WORK/test_merge"
run merge-asan-ubsan "$WORK/test_merge_san"
run pinned "$WORK/test_pinned"
run pinned-asan-ubsan "$WORK/test_pinned_san"
run close-race "$WORK/close_race"
# The test holds threads inside calls with its own SIGSEGV handler; ASan must let it.
# Freed memory is overwritten, so a stale read of a freed handle crashes visibly.
ASAN_OPTIONS="$ASAN_OPTIONS:allow_user_segv_handler=1:max_free_fill_size=4096:free_fill_byte=190" \
    run close-race-asan-ubsan "$WORK/close_race_san"
run cpp "$WORK/test_cpp"
run cpp-asan-ubsan "$WORK/test_cpp_san"
if [ "$LEAKS" = valgrind ]; then
    run c-valgrind valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$WORK/test_c"
    run cpp-valgrind valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$WORK/test_cpp"
fi

command -v valgrind >/dev/null 2>&1 || die "valgrind is missing (apt-get install valgrind)"
# Precise registers at every memory access: the test's SIGSEGV handler resumes the
# faulting read, which needs the exact machine state.
run close-race-memcheck valgrind -q --error-exitcode=1 --px-default=allregs-at-mem-access \
    "$WORK/close_race"

section "examples"
"$WORK/example" "$WORK/example-db"
"$WORK/example_static" "$WORK/example-static-db" >/dev/null
"$WORK/bench" --num 2000 --dir "$WORK/bench-db"

# Installs the Debian packages named when `tool` is missing (root with apt only).
need_tool() { # need_tool TOOL PACKAGE...
    local tool="$1"
    shift
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        printf '==> installing %s (for %s)\n' "$*" "$tool"
        apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
    else
        die "$tool missing (Debian/Ubuntu: apt-get install $*)"
    fi
}

# Configures, builds and runs bindings/cpp/examples with CMAKE_PREFIX_PATH=$2.
cmake_example() { # cmake_example NAME PREFIX
    local build="$WORK/cmake-$1"
    cmake -S bindings/cpp/examples -B "$build" -DCMAKE_PREFIX_PATH="$2" >"$build.log" 2>&1 ||
        { cat "$build.log"; die "cmake could not configure bindings/cpp/examples against $2"; }
    local found
    found="$(sed -n 's/^lsm_DIR:PATH=//p' "$build/CMakeCache.txt")"
    [ "$found" = "$2/lib/cmake/lsm" ] || die "find_package(lsm) found $found, not $2/lib/cmake/lsm"
    cmake --build "$build" >>"$build.log" 2>&1 || { cat "$build.log"; die "cmake --build failed"; }
    "$build/lsm_example" "$WORK/cmake-$1-db" | tail -n 1 | grep -qx ok || die "lsm_example ($1) failed"
    "$build/lsm_example_static" "$WORK/cmake-$1-static-db" | tail -n 1 | grep -qx ok ||
        die "lsm_example_static ($1) failed"
    echo "ok: find_package(lsm) in $found; lsm::lsm and lsm::lsm_static examples ran"
}

test_cmake_package() {
    section "CMake package: find_package(lsm) against $PREFIX"
    need_tool cmake cmake
    [ -f "$PREFIX/lib/cmake/lsm/lsmConfig.cmake" ] && [ -f "$PREFIX/lib/cmake/lsm/lsmConfigVersion.cmake" ] ||
        die "make install did not install lib/cmake/lsm/lsmConfig.cmake and lsmConfigVersion.cmake"
    cmake_example prefix "$PREFIX"
}

test_deb() {
    section "make deb, unpacked into a scratch root"
    need_tool dpkg-deb dpkg
    make --no-print-directory deb PROFILE="$PROFILE"
    local deb root="$WORK/debroot"
    deb="$(ls target/deb/liblsm_"$version"_*.deb)"
    # Not `grep -q`: it stops reading at the first match, and under pipefail the
    # writer's SIGPIPE fails the pipeline (seen: this check failing on a good package).
    dpkg-deb --info "$deb" | grep "Package: liblsm" >/dev/null || die "$deb is not the liblsm package"
    dpkg-deb --contents "$deb" | awk '{print $6}' | sort >"$WORK/deb.list"
    local f
    for f in ./usr/lib/liblsm.so.$version ./usr/lib/liblsm.so.$major ./usr/lib/liblsm.so \
        ./usr/lib/liblsm.a ./usr/include/lsm.h ./usr/include/lsm.hpp ./usr/lib/pkgconfig/lsm.pc \
        ./usr/lib/cmake/lsm/lsmConfig.cmake ./usr/lib/cmake/lsm/lsmConfigVersion.cmake; do
        grep -qx "$f" "$WORK/deb.list" || die "$deb lacks $f"
    done
    dpkg -x "$deb" "$root"
    # Only the scratch root: neither the temporary install nor the system's lsm.
    (
        export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/lib/pkgconfig"
        export PKG_CONFIG_PATH="" LD_LIBRARY_PATH="$root/usr/lib"
        # shellcheck disable=SC2046
        cc "${CFLAGS_C[@]}" bindings/c/examples/example.c $(pkg-config --cflags --libs lsm) \
            -o "$WORK/example_deb"
        ldd "$WORK/example_deb" | grep "liblsm.so.$major => $root/usr/lib/" >/dev/null ||
            die "example_deb does not load liblsm from the scratch root"
        "$WORK/example_deb" "$WORK/example-deb-db" >/dev/null
        cmake_example deb "$root/usr"
    )
    echo "ok: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB): pkg-config and CMake builds from it ran"
}

test_cmake_package
test_deb

section "C and C++: all passed (leaks checked with $LEAKS)"
