/* fillrandom and readrandom through the C API, as examples/bench.rs does through Rust:
 * 16-byte keys, 100-byte values, wal.sync = none, one thread.
 *
 *   cc -O2 bench.c $(pkg-config --cflags --libs lsm) -o bench && ./bench [--num N] [--dir D]
 */
#define _POSIX_C_SOURCE 200809L

#include <lsm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_SIZE 16
#define VALUE_SIZE 100

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The same generator for both phases: splitmix64. */
static uint64_t next_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void make_key(uint8_t *k, uint64_t i) {
    char buf[24];
    snprintf(buf, sizeof buf, "%016llu", (unsigned long long)i);
    memcpy(k, buf, KEY_SIZE);
}

static void report(const char *name, uint64_t ops, double secs, const char *extra) {
    printf("%-16s %10.0f ops/s %8.1f MB/s %9.3f s  %s\n", name, ops / secs,
           ops * (double)(KEY_SIZE + VALUE_SIZE) / secs / 1e6, secs, extra);
}

static int check(lsm_status s, const char *what) {
    if (s != LSM_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, lsm_status_str(s), lsm_errmsg());
        exit(1);
    }
    return 0;
}

int main(int argc, char **argv) {
    uint64_t num = 1000000;
    const char *dir = "/tmp/lsm-bench-c";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--num") == 0) num = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    printf("lsm %s C API bench: %llu keys, %d B keys, %d B values, in %s\n", lsm_version(),
           (unsigned long long)num, KEY_SIZE, VALUE_SIZE, dir);

    lsm_options *o = lsm_options_new();
    check(lsm_options_set(o, "wal.sync", "none"), "options");
    lsm_db *db = NULL;
    check(lsm_open(dir, o, &db), "open");

    uint8_t key[KEY_SIZE], value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    uint64_t rng = 42;
    double t = now();
    for (uint64_t i = 0; i < num; i++) {
        make_key(key, next_rand(&rng) % num);
        check(lsm_put(db, key, KEY_SIZE, value, VALUE_SIZE), "put");
    }
    report("fillrandom", num, now() - t, "");
    check(lsm_close(db), "close");

    /* As the Rust bench does: make every key exist, then read after a reopen. */
    check(lsm_open(dir, o, &db), "reopen");
    for (uint64_t i = 0; i < num; i++) {
        make_key(key, i);
        check(lsm_put(db, key, KEY_SIZE, value, VALUE_SIZE), "put");
    }
    check(lsm_close(db), "close");
    check(lsm_open(dir, o, &db), "reopen");
    lsm_options_free(o);

    /* lsm_get: a malloc'ed copy per read, freed with lsm_free. */
    uint64_t found = 0;
    t = now();
    for (uint64_t i = 0; i < num; i++) {
        make_key(key, next_rand(&rng) % num);
        uint8_t *v = NULL;
        size_t n = 0;
        lsm_status s = lsm_get(db, key, KEY_SIZE, &v, &n);
        if (s == LSM_OK) found++;
        else if (s != LSM_NOT_FOUND) check(s, "get");
        lsm_free(v);
    }
    char extra[64];
    snprintf(extra, sizeof extra, "(%llu found)", (unsigned long long)found);
    report("readrandom", num, now() - t, extra);

    /* lsm_get_into: into the caller's buffer. */
    uint8_t buf[VALUE_SIZE];
    found = 0;
    t = now();
    for (uint64_t i = 0; i < num; i++) {
        make_key(key, next_rand(&rng) % num);
        size_t n = 0;
        lsm_status s = lsm_get_into(db, key, KEY_SIZE, buf, sizeof buf, &n);
        if (s == LSM_OK) found++;
        else if (s != LSM_NOT_FOUND) check(s, "get_into");
    }
    snprintf(extra, sizeof extra, "(%llu found)", (unsigned long long)found);
    report("readrandom_into", num, now() - t, extra);
    check(lsm_close(db), "close");
    return 0;
}
