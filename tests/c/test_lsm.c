/*
 * Tests of the C API (include/lsm.h): every function, every error path, threads,
 * iterators and snapshots that outlive lsm_close, keyspaces and the change feed. Run
 * by scripts/test_c.sh, plain and under sanitizers.
 *
 *   test_lsm [DIR]     DIR: where to make databases (default: a new directory in /tmp)
 *
 * The last line is "N passed, N failed"; the exit status is 1 when a test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <lsm.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"

/* ---- helpers ------------------------------------------------------------------- */

static lsm_db *open_fresh(char *path, size_t cap) {
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, cap), NULL, &db));
    CHECK(db != NULL);
    return db;
}

/* 1 when a get that returned `s`, `v` and `n` found `want` (NULL: missing); frees v. */
static int got(lsm_status s, uint8_t *v, size_t n, const char *want) {
    int ok;
    if (want == NULL) {
        ok = s == LSM_NOT_FOUND && v == NULL && n == 0;
    } else {
        ok = s == LSM_OK && v != NULL && n == strlen(want) && memcmp(v, want, n) == 0;
    }
    lsm_free(v);
    return ok;
}

/* 1 when `key` has the value `want` (NULL: missing). */
static int has(lsm_db *db, const char *key, const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status s = lsm_get(db, S(key), &v, &n);
    return got(s, v, n, want);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_version(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", LSM_VERSION_MAJOR, LSM_VERSION_MINOR,
             LSM_VERSION_PATCH);
    CHECK(strcmp(lsm_version(), want) == 0);
    CHECK(strcmp(lsm_version(), LSM_VERSION) == 0);
}

static void test_status_values_and_strings(void) {
    CHECK(LSM_OK == 0 && LSM_NOT_FOUND == 1 && LSM_INVALID_ARGUMENT == 2 &&
          LSM_IO_ERROR == 3 && LSM_CORRUPTION == 4 && LSM_CONFIG_ERROR == 5 &&
          LSM_LOCKED == 6 && LSM_CLOSED == 7 && LSM_BUFFER_TOO_SMALL == 8 &&
          LSM_INTERNAL == 9 && LSM_CONFLICT == 10 && LSM_CHANGES_PURGED == 11);
    for (int i = LSM_OK; i <= LSM_CHANGES_PURGED; i++) {
        const char *s = lsm_status_str((lsm_status)i);
        CHECK(s != NULL && s[0] != '\0');
        for (int j = LSM_OK; j < i; j++) CHECK(strcmp(s, lsm_status_str((lsm_status)j)) != 0);
    }
    CHECK(strcmp(lsm_status_str(LSM_NOT_FOUND), "not found") == 0);
}

/* lsm_status_str takes an int: a value that is no status is answered, not UB. */
static void test_status_str_of_unknown_values(void) {
    CHECK(strcmp(lsm_status_str(12345), "unknown status") == 0);
    CHECK(strcmp(lsm_status_str(-1), "unknown status") == 0);
    CHECK(strcmp(lsm_status_str(LSM_CHANGES_PURGED + 1), "unknown status") == 0);
    CHECK(strcmp(lsm_status_str(LSM_CLOSED), "closed") == 0);
}

static void test_errmsg(void) {
    CHECK_STATUS(lsm_put(NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "db is NULL") != NULL);
    /* The message stays until the next call, and a success empties it. */
    CHECK(strstr(lsm_errmsg(), "db is NULL") != NULL);
    lsm_options *o = lsm_options_new();
    CHECK(o != NULL);
    CHECK(strcmp(lsm_errmsg(), "") == 0);
    lsm_options_free(o);
}

static void test_options(void) {
    char path[600];
    lsm_options *o = lsm_options_new();
    CHECK(o != NULL);
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "1000"));
    CHECK_OK(lsm_options_set(o, "wal.sync", "10ms"));
    CHECK_STATUS(lsm_options_set(o, "wal.snyc", "always"), LSM_CONFIG_ERROR);
    CHECK(strstr(lsm_errmsg(), "wal.snyc") != NULL);
    CHECK_STATUS(lsm_options_set(o, "wal.sync", "sometimes"), LSM_CONFIG_ERROR);
    CHECK_STATUS(lsm_options_set(o, "memtable.max_entries", "-3"), LSM_CONFIG_ERROR);
    CHECK_STATUS(lsm_options_set(NULL, "wal.sync", "none"), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_options_set(o, NULL, "none"), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_options_set(o, "wal.sync", NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_options_load(o, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_options_load(NULL, "x.toml"), LSM_INVALID_ARGUMENT);

    snprintf(path, sizeof path, "%s/missing.toml", base_dir);
    CHECK_STATUS(lsm_options_load(o, path), LSM_CONFIG_ERROR);
    snprintf(path, sizeof path, "%s/bad.toml", base_dir);
    CHECK(write_file(path, "[memtable]\nmax_entriez = 5\n"));
    CHECK_STATUS(lsm_options_load(o, path), LSM_CONFIG_ERROR);
    CHECK(strstr(lsm_errmsg(), "memtable.max_entriez") != NULL);
    snprintf(path, sizeof path, "%s/good.toml", base_dir);
    CHECK(write_file(path, "[wal]\nsync = \"none\"\n[memtable]\nmax_entries = 50\n"));
    CHECK_OK(lsm_options_load(o, path));

    /* The options work, and are still the caller's after lsm_open. */
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    for (int i = 0; i < 200; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%04d", i);
        CHECK_OK(lsm_put(db, S(k), S("v")));
    }
    CHECK(has(db, "key0150", "v"));
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
    lsm_options_free(NULL);
}

/* Every per-option rule, through lsm_options_set (the full table is
 * tests/config_rules.rs): LSM_CONFIG_ERROR naming the key, and the options unchanged. */
static void test_options_rules(void) {
    static const char *const bad[][2] = {
        {"wal.version", "2"},
        {"wal.sync", "0ms"},
        {"wal.recovery", "maybe"},
        {"memtable.max_entries", "0"},
        {"memtable.max_bytes", "0"},
        {"memtable.max_immutable", "0"},
        {"directory.wal", ""},
        {"directory.ss_table", ""},
        {"directory.cache", ""},
        {"cache.block_cache_bytes", "-1"},
        {"cache.key_cache_entries", "-1"},
        {"cache.persist_on_close", "maybe"},
        {"sstable.block_size", "0"},
        {"sstable.block_size", "255"},
        {"sstable.bloom_bits_per_key", "65"},
        {"sstable.compression", "gzip"},
        {"compaction.level0_file_trigger", "0"},
        {"compaction.level0_slowdown_files", "0"},
        {"compaction.level0_stop_files", "0"},
        {"compaction.level_fanout", "1"},
        {"compaction.base_level_bytes", "0"},
        {"compaction.target_file_bytes", "0"},
        {"compaction.max_levels", "1"}, /* L0 never compacted: writes would stall */
        {"compaction.max_levels", "17"},
        {"compaction.pending_bytes_slowdown", "0"},
        {"compaction.pending_bytes_stop", "0"},
        {"compaction.background_threads", "0"},
        {"compaction.background_threads", "257"},
    };
    lsm_options *o = lsm_options_new();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lsm_status s = lsm_options_set(o, bad[i][0], bad[i][1]);
        if (s != LSM_CONFIG_ERROR || strstr(lsm_errmsg(), bad[i][0]) == NULL) {
            test_failed = 1;
            fprintf(stderr, "lsm_options_set(%s, \"%s\") returned %s: %s\n", bad[i][0],
                    bad[i][1], lsm_status_str(s), lsm_errmsg());
        }
    }
    /* None of them stuck: the options still open a database. */
    char path[600];
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
}

static void test_open_path_wins_over_config_root(void) {
    char toml[600], elsewhere[600], path[600], sst[700];
    snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", base_dir);
    snprintf(toml, sizeof toml, "%s/root.toml", base_dir);
    char text[800];
    snprintf(text, sizeof text, "[directory]\nroot = \"%s\"\n", elsewhere);
    CHECK(write_file(toml, text));
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_load(o, toml));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    CHECK_OK(lsm_put(db, S("k"), S("v")));
    CHECK_OK(lsm_flush(db));
    snprintf(sst, sizeof sst, "%s/ss_tables", path);
    CHECK(is_dir(sst));
    CHECK(!is_dir(elsewhere));
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
}

static void test_open_errors(void) {
    char path[600];
    lsm_db *db = (lsm_db *)&db; /* not NULL, to see it reset */
    CHECK_STATUS(lsm_open(NULL, NULL, &db), LSM_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK_STATUS(lsm_open(fresh_path(path, sizeof path), NULL, NULL), LSM_INVALID_ARGUMENT);

    /* A second open of the same path is LOCKED. */
    lsm_db *first = open_fresh(path, sizeof path);
    lsm_db *second = (lsm_db *)&second;
    CHECK_STATUS(lsm_open(path, NULL, &second), LSM_LOCKED);
    CHECK(second == NULL);
    CHECK(strstr(lsm_errmsg(), "locked") != NULL);
    CHECK_OK(lsm_close(first));
    CHECK_OK(lsm_open(path, NULL, &second)); /* the lock went with the close */
    CHECK_OK(lsm_close(second));

    /* Options that do not fit together fail at open. */
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "compaction.level0_slowdown_files", "2"));
    CHECK_OK(lsm_options_set(o, "compaction.level0_stop_files", "1"));
    db = NULL;
    CHECK_STATUS(lsm_open(fresh_path(path, sizeof path), o, &db), LSM_CONFIG_ERROR);
    CHECK(db == NULL);
    lsm_options_free(o);

    CHECK_OK(lsm_close(NULL));
}

static void test_put_get_delete(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("alpha"), S("one")));
    CHECK_OK(lsm_put(db, S("beta"), S("two")));
    CHECK(has(db, "alpha", "one"));
    CHECK(has(db, "beta", "two"));
    CHECK(has(db, "gamma", NULL));
    CHECK(strcmp(lsm_errmsg(), "key not found") == 0);
    CHECK_OK(lsm_put(db, S("alpha"), S("uno")));
    CHECK(has(db, "alpha", "uno"));
    CHECK_OK(lsm_delete(db, S("alpha")));
    CHECK(has(db, "alpha", NULL));
    CHECK_OK(lsm_delete(db, S("never-there")));

    /* Empty keys and values: (NULL, 0) is the empty string; a non-NULL result. */
    CHECK_OK(lsm_put(db, NULL, 0, NULL, 0));
    uint8_t *v = NULL;
    size_t n = 99;
    CHECK_OK(lsm_get(db, NULL, 0, &v, &n));
    CHECK(v != NULL && n == 0);
    lsm_free(v);

    /* Binary keys and values with NUL bytes. */
    const uint8_t bk[] = {0, 1, 2, 0}, bv[] = {0xff, 0, 0xfe};
    CHECK_OK(lsm_put(db, bk, sizeof bk, bv, sizeof bv));
    CHECK_OK(lsm_get(db, bk, sizeof bk, &v, &n));
    CHECK(n == sizeof bv && memcmp(v, bv, n) == 0);
    free(v); /* lsm_free is free */

    /* Durable across a reopen. */
    CHECK_OK(lsm_sync(db));
    CHECK_OK(lsm_close(db));
    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(has(db, "beta", "two"));
    CHECK(has(db, "alpha", NULL));
    CHECK_OK(lsm_close(db));
}

static void test_get_into(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("k"), S("0123456789")));
    char buf[16];
    size_t n = 0;
    memset(buf, 'x', sizeof buf);
    CHECK_STATUS(lsm_get_into(db, S("k"), (uint8_t *)buf, 4, &n), LSM_BUFFER_TOO_SMALL);
    CHECK(n == 10);
    CHECK(buf[0] == 'x'); /* untouched */
    CHECK_STATUS(lsm_get_into(db, S("k"), NULL, 0, &n), LSM_BUFFER_TOO_SMALL);
    CHECK(n == 10);
    CHECK_OK(lsm_get_into(db, S("k"), (uint8_t *)buf, 10, &n));
    CHECK(n == 10 && memcmp(buf, "0123456789", 10) == 0);
    CHECK_OK(lsm_get_into(db, S("k"), (uint8_t *)buf, sizeof buf, &n));
    CHECK(n == 10 && buf[10] == 'x');
    n = 7;
    CHECK_STATUS(lsm_get_into(db, S("nope"), (uint8_t *)buf, sizeof buf, &n), LSM_NOT_FOUND);
    CHECK(n == 0);
    CHECK_OK(lsm_put(db, S("empty"), NULL, 0));
    CHECK_OK(lsm_get_into(db, S("empty"), NULL, 0, &n));
    CHECK(n == 0);
    CHECK_STATUS(lsm_get_into(db, S("k"), NULL, 8, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_into(db, S("k"), (uint8_t *)buf, sizeof buf, NULL),
                 LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_close(db));
}

static void test_delete_range(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) CHECK_OK(lsm_put(db, S(keys[i]), S("v")));
    CHECK_OK(lsm_delete_range(db, S("b"), S("d")));
    CHECK(has(db, "a", "v") && has(db, "b", NULL) && has(db, "c", NULL) && has(db, "d", "v"));
    CHECK_STATUS(lsm_delete_range(db, S("z"), S("a")), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_close(db));
}

static void test_null_arguments(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    uint8_t *v = NULL;
    size_t n = 0;
    char *out = NULL;
    uint8_t buf[4];

    /* NULL handles. */
    CHECK_STATUS(lsm_put(NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get(NULL, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_into(NULL, S("k"), buf, sizeof buf, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete(NULL, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range(NULL, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_sync(NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_flush(NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_compact(NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_property(NULL, "lsm.stats", &out), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_checkpoint(NULL, "x"), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_verify(NULL, &out), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write(NULL, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write(db, NULL), LSM_INVALID_ARGUMENT);
    lsm_snapshot *snap = NULL;
    CHECK_STATUS(lsm_snapshot_new(NULL, &snap), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_new(db, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_get(NULL, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    lsm_iterator *it = NULL;
    CHECK_STATUS(lsm_iter_new(NULL, NULL, &it), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_iter_new(db, NULL, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_put(NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete(NULL, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_iter_status(NULL), LSM_INVALID_ARGUMENT);
    /* The void ones do nothing and say why. */
    lsm_iter_seek_first(NULL);
    CHECK(strstr(lsm_errmsg(), "iterator is NULL") != NULL);
    lsm_iter_seek_last(NULL);
    lsm_iter_seek(NULL, S("k"));
    lsm_iter_next(NULL);
    lsm_iter_prev(NULL);
    CHECK(!lsm_iter_valid(NULL));
    n = 5;
    CHECK(lsm_iter_key(NULL, &n) == NULL && n == 0);
    n = 5;
    CHECK(lsm_iter_value(NULL, &n) == NULL && n == 0);
    lsm_iter_free(NULL);
    lsm_snapshot_free(NULL);
    lsm_write_batch_clear(NULL);
    lsm_write_batch_free(NULL);
    lsm_free(NULL);

    /* NULL pointer with a non-zero length. */
    CHECK_STATUS(lsm_put(db, NULL, 3, S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "key is NULL with length 3") != NULL);
    CHECK_STATUS(lsm_put(db, S("k"), NULL, 3), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get(db, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_into(db, NULL, 1, buf, sizeof buf, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete(db, NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range(db, NULL, 1, S("b")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range(db, S("a"), NULL, 1), LSM_INVALID_ARGUMENT);
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_STATUS(lsm_write_batch_put(b, NULL, 1, S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_put(b, S("k"), NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete(b, NULL, 1), LSM_INVALID_ARGUMENT);
    lsm_write_batch_free(b);
    CHECK_OK(lsm_snapshot_new(db, &snap));
    CHECK_STATUS(lsm_snapshot_get(snap, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);
    lsm_snapshot_free(snap);

    /* NULL out-pointers and strings. */
    CHECK_STATUS(lsm_get(db, S("k"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get(db, S("k"), &v, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_property(db, NULL, &out), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_property(db, "lsm.stats", NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_checkpoint(db, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_verify(db, NULL), LSM_INVALID_ARGUMENT);

    /* Still works after all that. */
    CHECK_OK(lsm_put(db, S("k"), S("v")));
    CHECK(has(db, "k", "v"));
    CHECK_OK(lsm_close(db));
}

static void test_limits(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    size_t big = (1u << 20) + 1; /* one byte over the key limit */
    uint8_t *key = calloc(big, 1);
    CHECK(key != NULL);
    CHECK_STATUS(lsm_put(db, key, big, S("v")), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_put(db, key, big - 1, S("v")));
    free(key);
    CHECK_OK(lsm_close(db));
}

static void test_batch(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("gone"), S("x")));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK(b != NULL);
    CHECK_OK(lsm_write_batch_put(b, S("a"), S("1")));
    CHECK_OK(lsm_write_batch_put(b, S("b"), S("2")));
    CHECK_OK(lsm_write_batch_delete(b, S("gone")));
    CHECK(has(db, "a", NULL));
    CHECK_OK(lsm_write(db, b));
    CHECK(has(db, "a", "1") && has(db, "b", "2") && has(db, "gone", NULL));

    /* Writing again applies the same batch; clear empties it. */
    CHECK_OK(lsm_put(db, S("a"), S("changed")));
    CHECK_OK(lsm_write(db, b));
    CHECK(has(db, "a", "1"));
    lsm_write_batch_clear(b);
    CHECK_OK(lsm_put(db, S("a"), S("changed")));
    CHECK_OK(lsm_write(db, b));
    CHECK(has(db, "a", "changed"));

    /* One bad operation rejects the whole batch. */
    size_t big = (1u << 20) + 1;
    uint8_t *key = calloc(big, 1);
    CHECK_OK(lsm_write_batch_put(b, S("c"), S("3")));
    CHECK_OK(lsm_write_batch_put(b, key, big, S("v")));
    CHECK_STATUS(lsm_write(db, b), LSM_INVALID_ARGUMENT);
    CHECK(has(db, "c", NULL));
    free(key);
    lsm_write_batch_free(b);
    CHECK_OK(lsm_close(db));
}

static void test_snapshot(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("k"), S("old")));
    lsm_snapshot *s = NULL;
    CHECK_OK(lsm_snapshot_new(db, &s));
    CHECK(s != NULL);
    CHECK_OK(lsm_put(db, S("k"), S("new")));
    CHECK_OK(lsm_put(db, S("later"), S("x")));
    CHECK_OK(lsm_flush(db));
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_OK(lsm_snapshot_get(s, S("k"), &v, &n));
    CHECK(n == 3 && memcmp(v, "old", 3) == 0);
    lsm_free(v);
    CHECK_STATUS(lsm_snapshot_get(s, S("later"), &v, &n), LSM_NOT_FOUND);
    CHECK(v == NULL && n == 0);
    CHECK_STATUS(lsm_snapshot_get(s, S("k"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK(has(db, "k", "new"));

    /* An iterator over the snapshot sees one key, and outlives the snapshot. */
    lsm_iterator *it = NULL;
    CHECK_OK(lsm_iter_new(db, s, &it));
    lsm_snapshot_free(s);
    int count = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) count++;
    CHECK(count == 1);
    CHECK_OK(lsm_iter_status(it));
    lsm_iter_free(it);
    CHECK_OK(lsm_close(db));
}

static int key_is(const lsm_iterator *it, const char *want) {
    size_t n = 0;
    const uint8_t *k = lsm_iter_key(it, &n);
    return k != NULL && n == strlen(want) && memcmp(k, want, n) == 0;
}

static void test_iterator(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    const char *keys[] = {"apple", "banana", "cherry", "date"};
    for (int i = 0; i < 4; i++) CHECK_OK(lsm_put(db, S(keys[i]), S(keys[i])));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_put(db, S("cherry"), S("CHERRY"))); /* newer, in the memtable */
    CHECK_OK(lsm_delete(db, S("date")));
    lsm_iterator *it = NULL;
    CHECK_OK(lsm_iter_new(db, NULL, &it));
    CHECK(!lsm_iter_valid(it)); /* unpositioned */
    size_t n = 7;
    CHECK(lsm_iter_key(it, &n) == NULL && n == 0);
    n = 7;
    CHECK(lsm_iter_value(it, &n) == NULL && n == 0);
    CHECK(lsm_iter_key(it, NULL) == NULL);

    lsm_iter_seek_first(it);
    CHECK(key_is(it, "apple"));
    lsm_iter_next(it);
    CHECK(key_is(it, "banana"));
    lsm_iter_next(it);
    CHECK(key_is(it, "cherry"));
    const uint8_t *v = lsm_iter_value(it, &n);
    CHECK(v != NULL && n == 6 && memcmp(v, "CHERRY", 6) == 0);
    lsm_iter_next(it);
    CHECK(!lsm_iter_valid(it)); /* date was deleted */
    CHECK_OK(lsm_iter_status(it));
    lsm_iter_next(it); /* no-op when not valid */
    CHECK(!lsm_iter_valid(it));

    lsm_iter_seek_last(it);
    CHECK(key_is(it, "cherry"));
    lsm_iter_prev(it);
    CHECK(key_is(it, "banana"));
    lsm_iter_seek(it, S("b"));
    CHECK(key_is(it, "banana"));
    lsm_iter_seek(it, S("banana0"));
    CHECK(key_is(it, "cherry"));
    lsm_iter_seek(it, S("zzz"));
    CHECK(!lsm_iter_valid(it));
    lsm_iter_seek(it, NULL, 0); /* the empty key: the first */
    CHECK(key_is(it, "apple"));

    /* A bad seek leaves it not valid, with the reason, until the next seek. */
    lsm_iter_seek(it, NULL, 4);
    CHECK(!lsm_iter_valid(it));
    CHECK_STATUS(lsm_iter_status(it), LSM_INVALID_ARGUMENT);
    lsm_iter_next(it);
    CHECK(!lsm_iter_valid(it));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "apple"));
    CHECK_OK(lsm_iter_status(it));

    /* Its view is fixed when it was made. */
    CHECK_OK(lsm_put(db, S("aaa"), S("new")));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "apple"));
    lsm_iter_free(it);
    CHECK_OK(lsm_close(db));
}

static void test_outlive_close(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("k1"), S("v1")));
    CHECK_OK(lsm_put(db, S("k2"), S("v2")));
    lsm_snapshot *s = NULL;
    lsm_iterator *it = NULL, *snap_it = NULL;
    CHECK_OK(lsm_snapshot_new(db, &s));
    CHECK_OK(lsm_iter_new(db, NULL, &it));
    CHECK_OK(lsm_iter_new(db, s, &snap_it));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "k1"));
    CHECK_OK(lsm_close(db)); /* frees db; the others stay safe */

    CHECK(!lsm_iter_valid(it));
    size_t n = 9;
    CHECK(lsm_iter_key(it, &n) == NULL && n == 0);
    CHECK(lsm_iter_value(it, &n) == NULL && n == 0);
    CHECK_STATUS(lsm_iter_status(it), LSM_CLOSED);
    lsm_iter_next(it);
    lsm_iter_prev(it);
    lsm_iter_seek_first(it);
    lsm_iter_seek_last(it);
    lsm_iter_seek(it, S("k"));
    CHECK(!lsm_iter_valid(it));
    CHECK_STATUS(lsm_iter_status(it), LSM_CLOSED);

    lsm_iter_seek_first(snap_it);
    CHECK(!lsm_iter_valid(snap_it));
    CHECK_STATUS(lsm_iter_status(snap_it), LSM_CLOSED);

    uint8_t *v = NULL;
    CHECK_STATUS(lsm_snapshot_get(s, S("k1"), &v, &n), LSM_CLOSED);
    CHECK(v == NULL && n == 0);
    CHECK(strstr(lsm_errmsg(), "closed") != NULL);

    lsm_iter_free(it);
    lsm_snapshot_free(s); /* before the iterator made from it */
    lsm_iter_free(snap_it);

    /* The database reopens: close released the lock. */
    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(has(db, "k2", "v2"));
    CHECK_OK(lsm_close(db));
}

/* 1 when `key` reads as `want` (NULL: missing) in transaction `tx`. */
static int tx_has(lsm_transaction *tx, const char *key, const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status s = lsm_transaction_get(tx, S(key), &v, &n);
    return got(s, v, n, want);
}

static void test_transaction(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("a"), S("1")));
    CHECK_OK(lsm_put(db, S("b"), S("2")));

    /* Reads its snapshot and its own writes; commits all at once. */
    lsm_transaction *tx = NULL;
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK(tx != NULL);
    CHECK_OK(lsm_put(db, S("c"), S("3")));
    CHECK(tx_has(tx, "c", NULL)); /* written after it began */
    CHECK(tx_has(tx, "a", "1"));
    CHECK_OK(lsm_transaction_put(tx, S("a"), S("10")));
    CHECK_OK(lsm_transaction_delete(tx, S("b")));
    CHECK(tx_has(tx, "a", "10"));
    CHECK(tx_has(tx, "b", NULL));
    CHECK(has(db, "a", "1") && has(db, "b", "2"));
    /* It read "c", which was written after it began: a conflict, nothing applied. */
    CHECK_STATUS(lsm_transaction_commit(tx), LSM_CONFLICT);
    CHECK(has(db, "a", "1") && has(db, "b", "2"));
    lsm_transaction_free(tx);
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK(tx_has(tx, "a", "1"));
    CHECK_OK(lsm_transaction_put(tx, S("a"), S("10")));
    CHECK_OK(lsm_transaction_delete(tx, S("b")));
    CHECK_OK(lsm_transaction_commit(tx));
    CHECK(has(db, "a", "10") && has(db, "b", NULL) && has(db, "c", "3"));
    /* Over after its commit. */
    CHECK_STATUS(lsm_transaction_put(tx, S("x"), S("y")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "transaction is over") != NULL);
    CHECK_STATUS(lsm_transaction_commit(tx), LSM_INVALID_ARGUMENT);
    uint8_t *v = NULL;
    size_t n = 7;
    CHECK_STATUS(lsm_transaction_get(tx, S("a"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK(v == NULL && n == 0);
    lsm_transaction_free(tx);

    /* Write skew: both read both keys, each writes one; the second commit conflicts
       and applies nothing. */
    lsm_transaction *t1 = NULL, *t2 = NULL;
    CHECK_OK(lsm_transaction_begin(db, &t1));
    CHECK_OK(lsm_transaction_begin(db, &t2));
    CHECK(tx_has(t1, "a", "10") && tx_has(t1, "c", "3"));
    CHECK(tx_has(t2, "a", "10") && tx_has(t2, "c", "3"));
    CHECK_OK(lsm_transaction_put(t1, S("a"), S("0")));
    CHECK_OK(lsm_transaction_put(t2, S("c"), S("0")));
    CHECK_OK(lsm_transaction_commit(t1));
    CHECK_STATUS(lsm_transaction_commit(t2), LSM_CONFLICT);
    CHECK(strstr(lsm_errmsg(), "conflict") != NULL);
    CHECK(has(db, "a", "0") && has(db, "c", "3"));
    CHECK_STATUS(lsm_transaction_delete(t2, S("a")), LSM_INVALID_ARGUMENT);
    lsm_transaction_free(t1);
    lsm_transaction_free(t2);

    /* Dropped uncommitted: nothing happens. */
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_OK(lsm_transaction_put(tx, S("never"), S("x")));
    lsm_transaction_free(tx);
    CHECK(has(db, "never", NULL));

    /* NULLs. */
    CHECK_STATUS(lsm_transaction_begin(NULL, &tx), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_begin(db, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_get(NULL, S("a"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put(NULL, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete(NULL, S("a")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_commit(NULL), LSM_INVALID_ARGUMENT);
    lsm_transaction_free(NULL);
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_STATUS(lsm_transaction_put(tx, NULL, 2, S("b")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put(tx, S("a"), NULL, 2), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_get(tx, S("a"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_get(tx, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);

    /* It outlives lsm_close: calls say so, and it still frees. */
    CHECK_OK(lsm_transaction_put(tx, S("late"), S("x")));
    CHECK_OK(lsm_close(db));
    CHECK_STATUS(lsm_transaction_get(tx, S("a"), &v, &n), LSM_CLOSED);
    CHECK_STATUS(lsm_transaction_commit(tx), LSM_CLOSED);
    lsm_transaction_free(tx);
}

/* Four threads increment one counter in transactions, retrying on LSM_CONFLICT:
   no increment is lost. */
#define TX_THREADS 4
#define TX_INCREMENTS 100

static void *tx_counter_thread(void *arg) {
    lsm_db *db = arg;
    for (int i = 0; i < TX_INCREMENTS; i++) {
        for (;;) {
            lsm_transaction *tx = NULL;
            if (lsm_transaction_begin(db, &tx) != LSM_OK) return (void *)1;
            uint8_t *v = NULL;
            size_t n = 0;
            if (lsm_transaction_get(tx, S("n"), &v, &n) != LSM_OK) return (void *)1;
            char buf[32];
            size_t len = n < sizeof buf - 1 ? n : sizeof buf - 1;
            memcpy(buf, v, len);
            buf[len] = '\0';
            lsm_free(v);
            snprintf(buf, sizeof buf, "%ld", strtol(buf, NULL, 10) + 1);
            if (lsm_transaction_put(tx, S("n"), S(buf)) != LSM_OK) return (void *)1;
            lsm_status s = lsm_transaction_commit(tx);
            lsm_transaction_free(tx);
            if (s == LSM_OK) break;
            if (s != LSM_CONFLICT) return (void *)1;
        }
    }
    return NULL;
}

static void test_transaction_counter_threads(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("n"), S("0")));
    pthread_t th[TX_THREADS];
    for (int i = 0; i < TX_THREADS; i++) CHECK(pthread_create(&th[i], NULL, tx_counter_thread, db) == 0);
    for (int i = 0; i < TX_THREADS; i++) {
        void *r = NULL;
        CHECK(pthread_join(th[i], &r) == 0);
        CHECK(r == NULL);
    }
    char want[16];
    snprintf(want, sizeof want, "%d", TX_THREADS * TX_INCREMENTS);
    CHECK(has(db, "n", want));
    CHECK_OK(lsm_close(db));
}

static void test_maintenance(void) {
    char path[600], cp[700];
    lsm_db *db = open_fresh(path, sizeof path);
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%03d", i);
        CHECK_OK(lsm_put(db, S(k), S("value")));
    }
    CHECK_OK(lsm_sync(db));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_put(db, S("key000"), S("newer")));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    CHECK(has(db, "key000", "newer") && has(db, "key099", "value"));

    char *out = NULL;
    CHECK_OK(lsm_property(db, "lsm.stats", &out));
    CHECK(out != NULL && strstr(out, "writes: 101") != NULL);
    lsm_free(out);
    CHECK_OK(lsm_property(db, "lsm.stats.json", &out));
    CHECK(out != NULL && strncmp(out, "{\"writes\":101,", 14) == 0);
    CHECK(out != NULL && strstr(out, "\"levels\":[") != NULL && out[strlen(out) - 1] == '}');
    lsm_free(out);
    out = (char *)&out;
    CHECK_STATUS(lsm_property(db, "lsm.nope", &out), LSM_NOT_FOUND);
    CHECK(out == NULL);

    CHECK_OK(lsm_verify(db, &out));
    CHECK(out != NULL && strncmp(out, "{\"files\":[{\"path\":\"", 19) == 0);
    CHECK(out != NULL && strstr(out, "\"kind\":\"table\"") != NULL);
    CHECK(out != NULL && strstr(out, "\"md5\":\"") != NULL);
    CHECK(out != NULL && strstr(out, "\"total_bytes\":") != NULL);
    lsm_free(out);

    snprintf(cp, sizeof cp, "%s-checkpoint", path);
    CHECK_OK(lsm_checkpoint(db, cp));
    CHECK_STATUS(lsm_checkpoint(db, cp), LSM_INVALID_ARGUMENT); /* exists */
    CHECK_OK(lsm_put(db, S("after"), S("x")));
    CHECK_OK(lsm_close(db));
    CHECK_OK(lsm_open(cp, NULL, &db));
    CHECK(has(db, "key000", "newer") && has(db, "key050", "value") && has(db, "after", NULL));
    CHECK_OK(lsm_close(db));
}

/* ---- threads ------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 500

struct worker {
    lsm_db *db;
    int id;
    int errors;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "t%d-%04d", w->id, i);
        snprintf(v, sizeof v, "value-%d-%d", w->id, i);
        if (lsm_put(w->db, S(k), S(v)) != LSM_OK) w->errors++;
        if (!has(w->db, k, v)) w->errors++;
        if (i % 100 == 0) {
            lsm_iterator *it = NULL;
            if (lsm_iter_new(w->db, NULL, &it) != LSM_OK) {
                w->errors++;
                continue;
            }
            for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
            }
            if (lsm_iter_status(it) != LSM_OK) w->errors++;
            lsm_iter_free(it);
        }
    }
    /* Each thread has its own message. */
    if (lsm_put(NULL, S("k"), S("v")) != LSM_INVALID_ARGUMENT) w->errors++;
    if (strstr(lsm_errmsg(), "NULL") == NULL) w->errors++;
    return NULL;
}

static void test_threads_share_one_db(void) {
    char path[600];
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "700")); /* flushes under way */
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    lsm_options_free(o);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){db, i, 0};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(w[i].errors == 0);
    }
    CHECK(strcmp(lsm_errmsg(), "") == 0 || strstr(lsm_errmsg(), "NULL") == NULL);
    lsm_iterator *it = NULL;
    CHECK_OK(lsm_iter_new(db, NULL, &it));
    int count = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) count++;
    CHECK(count == THREADS * PER_THREAD);
    lsm_iter_free(it);
    CHECK_OK(lsm_close(db));
}

/* ---- keyspaces ------------------------------------------------------------------ */

/* 1 when `key` has the value `want` (NULL: missing) in keyspace `ks`. */
static int ks_has(lsm_keyspace *ks, const char *key, const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status s = lsm_get_ks(ks, S(key), &v, &n);
    return got(s, v, n, want);
}

/* 1 when `key` reads as `want` (NULL: missing) in keyspace `ks` of snapshot `s`. */
static int snap_ks_has(const lsm_snapshot *s, const lsm_keyspace *ks, const char *key,
                       const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status st = lsm_snapshot_get_ks(s, ks, S(key), &v, &n);
    return got(st, v, n, want);
}

/* 1 when `key` reads as `want` in snapshot `s` ("default"). */
static int snap_has(const lsm_snapshot *s, const char *key, const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status st = lsm_snapshot_get(s, S(key), &v, &n);
    return got(st, v, n, want);
}

/* 1 when `key` reads as `want` in keyspace `ks` in transaction `tx`. */
static int tx_ks_has(lsm_transaction *tx, const lsm_keyspace *ks, const char *key,
                     const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status st = lsm_transaction_get_ks(tx, ks, S(key), &v, &n);
    return got(st, v, n, want);
}

/* 1 when the keyspaces of `db` are `want` ("default\nusers"). */
static int names_are(lsm_db *db, const char *want) {
    char *names = NULL;
    lsm_status s = lsm_keyspaces(db, &names);
    int ok = s == LSM_OK && names != NULL && strcmp(names, want) == 0;
    if (!ok) fprintf(stderr, "keyspaces: \"%s\", want \"%s\"\n", names ? names : "(NULL)", want);
    lsm_free(names);
    return ok;
}

static lsm_keyspace *ks_open(lsm_db *db, const char *name) {
    lsm_keyspace *ks = NULL;
    CHECK_OK(lsm_keyspace_open(db, name, NULL, &ks));
    CHECK(ks != NULL);
    return ks;
}

/* The same key holds different values in "default" and in "users"; every call of a
   keyspace reaches its keyspace alone. */
static void test_keyspaces_are_separate(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK(names_are(db, "default"));
    lsm_keyspace *users = ks_open(db, "users");
    CHECK(names_are(db, "default\nusers"));
    CHECK_OK(lsm_put(db, S("k"), S("in default")));
    CHECK_OK(lsm_put_ks(users, S("k"), S("in users")));
    CHECK(has(db, "k", "in default"));
    CHECK(ks_has(users, "k", "in users"));
    CHECK_OK(lsm_put_ks(users, S("only-users"), S("u")));
    CHECK(has(db, "only-users", NULL));
    CHECK_OK(lsm_put(db, S("only-default"), S("d")));
    CHECK(ks_has(users, "only-default", NULL));

    /* An empty value and the (NULL, 0) key. */
    CHECK_OK(lsm_put_ks(users, NULL, 0, NULL, 0));
    uint8_t *v = NULL;
    size_t n = 9;
    CHECK_OK(lsm_get_ks(users, NULL, 0, &v, &n));
    CHECK(v != NULL && n == 0);
    lsm_free(v);
    CHECK(has(db, "", NULL));

    /* Deleting in one keyspace leaves the other. */
    CHECK_OK(lsm_delete_ks(users, S("k")));
    CHECK(ks_has(users, "k", NULL) && has(db, "k", "in default"));
    CHECK_OK(lsm_put_ks(users, S("r1"), S("x")));
    CHECK_OK(lsm_put_ks(users, S("r2"), S("x")));
    CHECK_OK(lsm_put_ks(users, S("r3"), S("x")));
    CHECK_OK(lsm_put(db, S("r2"), S("d")));
    CHECK_OK(lsm_delete_range_ks(users, S("r1"), S("r3")));
    CHECK(ks_has(users, "r1", NULL) && ks_has(users, "r2", NULL) && ks_has(users, "r3", "x"));
    CHECK(has(db, "r2", "d"));
    CHECK_STATUS(lsm_delete_range_ks(users, S("z"), S("a")), LSM_INVALID_ARGUMENT);

    /* Opening a name again gives the same keyspace; "default" is the db's own. */
    lsm_keyspace *again = ks_open(db, "users");
    CHECK(ks_has(again, "r3", "x"));
    lsm_keyspace_free(again);
    lsm_keyspace *def = ks_open(db, "default");
    CHECK(ks_has(def, "k", "in default"));
    CHECK_OK(lsm_put_ks(def, S("via-handle"), S("1")));
    CHECK(has(db, "via-handle", "1"));
    lsm_keyspace_free(def);
    CHECK(names_are(db, "default\nusers"));

    /* Data of a keyspace survives a flush and a compaction. */
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    CHECK(ks_has(users, "r3", "x") && ks_has(users, "only-users", "u"));
    lsm_keyspace_free(users);
    CHECK_OK(lsm_close(db));
}

/* Keyspaces and their data survive close and reopen; a drop removes the data and the
   name, also after a reopen, and a new keyspace of that name starts empty. */
static void test_keyspaces_persist_and_drop(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *users = ks_open(db, "users");
    lsm_keyspace *logs = ks_open(db, "logs");
    CHECK_OK(lsm_put_ks(users, S("ada"), S("1")));
    CHECK_OK(lsm_put_ks(logs, S("0001"), S("ada joined")));
    CHECK_OK(lsm_put(db, S("ada"), S("default")));
    lsm_keyspace_free(users);
    lsm_keyspace_free(logs);
    CHECK_OK(lsm_close(db)); /* the memtables are only in the WAL and flushed at close */

    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(names_are(db, "default\nusers\nlogs"));
    users = ks_open(db, "users");
    logs = ks_open(db, "logs");
    CHECK(ks_has(users, "ada", "1") && ks_has(logs, "0001", "ada joined"));
    CHECK(has(db, "ada", "default"));
    /* A write still in the memtable goes with the drop too. */
    CHECK_OK(lsm_put_ks(logs, S("0002"), S("x")));
    lsm_keyspace_free(users);

    CHECK_OK(lsm_keyspace_drop(db, "logs"));
    CHECK(names_are(db, "default\nusers"));
    /* The handle stays, to be freed; its calls say the keyspace was dropped. */
    CHECK_STATUS(lsm_put_ks(logs, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "keyspace \"logs\" was dropped") != NULL);
    CHECK(!ks_has(logs, "0001", "ada joined"));
    uint8_t *v = NULL;
    size_t n = 7;
    CHECK_STATUS(lsm_get_ks(logs, S("0001"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK(v == NULL && n == 0);
    CHECK(strstr(lsm_errmsg(), "was dropped") != NULL);
    CHECK_STATUS(lsm_delete_ks(logs, S("0001")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range_ks(logs, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_STATUS(lsm_write_batch_put_ks(b, logs, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "was dropped") != NULL);
    CHECK_STATUS(lsm_write_batch_delete_ks(b, logs, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_range_ks(b, logs, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    lsm_write_batch_free(b);
    lsm_iterator *it = NULL;
    CHECK_STATUS(lsm_iter_new_ks(db, logs, NULL, &it), LSM_INVALID_ARGUMENT);
    CHECK(it == NULL);
    lsm_snapshot *s = NULL;
    CHECK_OK(lsm_snapshot_new(db, &s));
    CHECK_STATUS(lsm_snapshot_get_ks(s, logs, S("0001"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_iter_new_ks(db, logs, s, &it), LSM_INVALID_ARGUMENT);
    lsm_snapshot_free(s);
    lsm_transaction *tx = NULL;
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_STATUS(lsm_transaction_get_ks(tx, logs, S("0001"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put_ks(tx, logs, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete_ks(tx, logs, S("k")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "was dropped") != NULL);
    lsm_transaction_free(tx);
    lsm_keyspace_free(logs);

    /* Dropping it again, "default", or a name never created. */
    CHECK_STATUS(lsm_keyspace_drop(db, "logs"), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "does not exist") != NULL);
    CHECK_STATUS(lsm_keyspace_drop(db, "default"), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "default") != NULL);
    CHECK_STATUS(lsm_keyspace_drop(db, "never"), LSM_INVALID_ARGUMENT);
    CHECK(names_are(db, "default\nusers"));
    CHECK_OK(lsm_close(db));

    /* Still gone after a reopen; a new "logs" is a new, empty keyspace. */
    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(names_are(db, "default\nusers"));
    users = ks_open(db, "users");
    CHECK(ks_has(users, "ada", "1"));
    logs = ks_open(db, "logs");
    CHECK(names_are(db, "default\nusers\nlogs"));
    CHECK(ks_has(logs, "0001", NULL) && ks_has(logs, "0002", NULL));
    CHECK_OK(lsm_iter_new_ks(db, logs, NULL, &it));
    lsm_iter_seek_first(it);
    CHECK(!lsm_iter_valid(it));
    CHECK_OK(lsm_iter_status(it));
    lsm_iter_free(it);
    lsm_keyspace_free(users);
    lsm_keyspace_free(logs);
    CHECK_OK(lsm_close(db));
}

/* A batch across keyspaces applies all of it or none of it. */
static void test_keyspace_batch(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *users = ks_open(db, "users");
    lsm_keyspace *logs = ks_open(db, "logs");
    CHECK_OK(lsm_put_ks(logs, S("old"), S("x")));
    CHECK_OK(lsm_put_ks(users, S("r1"), S("x")));
    CHECK_OK(lsm_put_ks(users, S("r2"), S("x")));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("grace"), S("2")));
    CHECK_OK(lsm_write_batch_put_ks(b, logs, S("0002"), S("grace joined")));
    CHECK_OK(lsm_write_batch_delete_ks(b, logs, S("old")));
    CHECK_OK(lsm_write_batch_delete_range_ks(b, users, S("r1"), S("r3")));
    CHECK_OK(lsm_write_batch_put(b, S("grace"), S("default")));
    CHECK(ks_has(users, "grace", NULL)); /* nothing before lsm_write */
    CHECK_OK(lsm_write(db, b));
    CHECK(ks_has(users, "grace", "2") && ks_has(logs, "0002", "grace joined"));
    CHECK(ks_has(logs, "old", NULL) && ks_has(users, "r1", NULL) && ks_has(users, "r2", NULL));
    CHECK(has(db, "grace", "default"));
    CHECK(ks_has(logs, "grace", NULL));
    CHECK_STATUS(lsm_write_batch_delete_range_ks(b, users, S("z"), S("a")), LSM_INVALID_ARGUMENT);

    /* One operation on a keyspace dropped before the write: nothing is applied. */
    lsm_write_batch_clear(b);
    CHECK_OK(lsm_write_batch_put(b, S("atomic"), S("d")));
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("atomic"), S("u")));
    CHECK_OK(lsm_write_batch_put_ks(b, logs, S("atomic"), S("l")));
    CHECK_OK(lsm_keyspace_drop(db, "logs"));
    CHECK_STATUS(lsm_write(db, b), LSM_INVALID_ARGUMENT);
    CHECK(has(db, "atomic", NULL) && ks_has(users, "atomic", NULL));

    /* A batch holds the keyspaces of one database only. */
    char path2[600];
    lsm_db *db2 = open_fresh(path2, sizeof path2);
    lsm_keyspace *other = ks_open(db2, "users"); /* the same name and id in db2 */
    lsm_write_batch_clear(b);
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("k"), S("1")));
    CHECK_STATUS(lsm_write_batch_put_ks(b, other, S("k"), S("2")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "another database") != NULL);
    CHECK_STATUS(lsm_write(db2, b), LSM_INVALID_ARGUMENT);
    CHECK(ks_has(other, "k", NULL));
    CHECK_OK(lsm_write(db, b));
    CHECK(ks_has(users, "k", "1"));
    lsm_write_batch_clear(b); /* forgets the database too */
    CHECK_OK(lsm_write_batch_put_ks(b, other, S("k"), S("2")));
    CHECK_OK(lsm_write(db2, b));
    CHECK(ks_has(other, "k", "2") && ks_has(users, "k", "1"));
    lsm_write_batch_free(b);
    lsm_keyspace_free(other);
    CHECK_OK(lsm_close(db2));
    lsm_keyspace_free(users);
    lsm_keyspace_free(logs);
    CHECK_OK(lsm_close(db));
}

/* A snapshot sees every keyspace at one point. */
static void test_keyspace_snapshot(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *users = ks_open(db, "users");
    CHECK_OK(lsm_put(db, S("k"), S("d1")));
    CHECK_OK(lsm_put_ks(users, S("k"), S("u1")));
    lsm_snapshot *s = NULL;
    CHECK_OK(lsm_snapshot_new(db, &s));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_OK(lsm_write_batch_put(b, S("k"), S("d2")));
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("k"), S("u2")));
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("new"), S("n")));
    CHECK_OK(lsm_write(db, b));
    lsm_write_batch_free(b);
    CHECK_OK(lsm_flush(db));

    uint8_t *v = NULL;
    size_t n = 0;
    CHECK(snap_has(s, "k", "d1"));
    CHECK(snap_ks_has(s, users, "k", "u1"));
    CHECK(snap_ks_has(s, users, "new", NULL));
    CHECK(has(db, "k", "d2") && ks_has(users, "k", "u2") && ks_has(users, "new", "n"));

    /* An iterator over the keyspace in the snapshot. */
    lsm_iterator *it = NULL;
    CHECK_OK(lsm_iter_new_ks(db, users, s, &it));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "k"));
    const uint8_t *val = lsm_iter_value(it, &n);
    CHECK(val != NULL && n == 2 && memcmp(val, "u1", 2) == 0);
    lsm_iter_next(it);
    CHECK(!lsm_iter_valid(it));
    CHECK_OK(lsm_iter_status(it));
    lsm_iter_free(it);

    /* A keyspace created after the snapshot reads as empty in it. */
    lsm_keyspace *later = ks_open(db, "later");
    CHECK_OK(lsm_put_ks(later, S("k"), S("x")));
    CHECK(snap_ks_has(s, later, "k", NULL));

    /* The value out-pointers are required; the snapshot and the keyspace too. */
    CHECK_STATUS(lsm_snapshot_get_ks(s, users, S("k"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_get_ks(s, users, S("k"), &v, NULL), LSM_INVALID_ARGUMENT);
    lsm_keyspace_free(later);
    lsm_snapshot_free(s);
    lsm_keyspace_free(users);
    CHECK_OK(lsm_close(db));
}

/* lsm_iter_new_ks walks one keyspace's keys, forward and back. */
static void test_keyspace_iterator(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *users = ks_open(db, "users");
    lsm_keyspace *logs = ks_open(db, "logs");
    const char *keys[] = {"apple", "banana", "cherry", "date"};
    for (int i = 0; i < 4; i++) CHECK_OK(lsm_put_ks(users, S(keys[i]), S(keys[i])));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_put_ks(users, S("cherry"), S("CHERRY")));
    CHECK_OK(lsm_delete_ks(users, S("date")));
    CHECK_OK(lsm_put(db, S("aaa"), S("default")));
    CHECK_OK(lsm_put(db, S("zzz"), S("default")));
    CHECK_OK(lsm_put_ks(logs, S("b0"), S("logs")));

    lsm_iterator *it = NULL;
    CHECK_OK(lsm_iter_new_ks(db, users, NULL, &it));
    const char *want[] = {"apple", "banana", "cherry"};
    int i = 0;
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++) {
        CHECK(i < 3 && key_is(it, want[i]));
    }
    CHECK(i == 3);
    CHECK_OK(lsm_iter_status(it));
    lsm_iter_seek_last(it);
    CHECK(key_is(it, "cherry"));
    size_t n = 0;
    const uint8_t *v = lsm_iter_value(it, &n);
    CHECK(v != NULL && n == 6 && memcmp(v, "CHERRY", 6) == 0);
    lsm_iter_prev(it);
    CHECK(key_is(it, "banana"));
    lsm_iter_seek(it, S("banana0"));
    CHECK(key_is(it, "cherry"));

    /* Its view is fixed when made, and survives a drop of the keyspace and the free
       of the handle. */
    CHECK_OK(lsm_put_ks(users, S("aardvark"), S("late")));
    lsm_keyspace_free(users);
    CHECK_OK(lsm_keyspace_drop(db, "users"));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "apple"));
    lsm_iter_free(it);

    /* The default keyspace's own iterator sees none of the others' keys. */
    CHECK_OK(lsm_iter_new(db, NULL, &it));
    lsm_iter_seek_first(it);
    CHECK(key_is(it, "aaa"));
    lsm_iter_next(it);
    CHECK(key_is(it, "zzz"));
    lsm_iter_next(it);
    CHECK(!lsm_iter_valid(it));
    lsm_iter_free(it);
    lsm_keyspace_free(logs);
    CHECK_OK(lsm_close(db));
}

/* Transactions read and write keyspaces; a conflict is per keyspace and key. */
static void test_keyspace_transaction(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *users = ks_open(db, "users");
    CHECK_OK(lsm_put_ks(users, S("n"), S("1")));
    CHECK_OK(lsm_put(db, S("n"), S("default")));

    lsm_transaction *tx = NULL;
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK(tx_ks_has(tx, users, "n", "1"));
    CHECK(tx_has(tx, "n", "default"));
    CHECK_OK(lsm_transaction_put_ks(tx, users, S("n"), S("2")));
    CHECK_OK(lsm_transaction_put_ks(tx, users, S("gone"), S("x")));
    CHECK_OK(lsm_transaction_delete_ks(tx, users, S("gone")));
    CHECK_OK(lsm_transaction_put(tx, S("n"), S("default2")));
    /* Its own writes, per keyspace; nothing outside before the commit. */
    CHECK(tx_ks_has(tx, users, "n", "2"));
    CHECK(tx_ks_has(tx, users, "gone", NULL));
    CHECK(tx_has(tx, "n", "default2"));
    CHECK(ks_has(users, "n", "1"));
    CHECK_OK(lsm_transaction_commit(tx));
    lsm_transaction_free(tx);
    CHECK(ks_has(users, "n", "2") && has(db, "n", "default2") && ks_has(users, "gone", NULL));

    /* It read users/n, which another commit wrote: LSM_CONFLICT, nothing applied. */
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK(tx_ks_has(tx, users, "n", "2"));
    CHECK_OK(lsm_put_ks(users, S("n"), S("3")));
    CHECK_OK(lsm_transaction_put_ks(tx, users, S("n"), S("from tx")));
    CHECK_OK(lsm_transaction_put(tx, S("side"), S("effect")));
    CHECK_STATUS(lsm_transaction_commit(tx), LSM_CONFLICT);
    CHECK(ks_has(users, "n", "3") && has(db, "side", NULL));
    CHECK_STATUS(lsm_transaction_put_ks(tx, users, S("n"), S("x")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "transaction is over") != NULL);
    lsm_transaction_free(tx);

    /* The same key in another keyspace is another key: no conflict. */
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK(tx_has(tx, "n", "default2"));
    CHECK_OK(lsm_put_ks(users, S("n"), S("4")));
    CHECK_OK(lsm_transaction_put(tx, S("n"), S("default3")));
    CHECK_OK(lsm_transaction_commit(tx));
    lsm_transaction_free(tx);
    CHECK(has(db, "n", "default3") && ks_has(users, "n", "4"));

    /* A keyspace of another database is refused. */
    char path2[600];
    lsm_db *db2 = open_fresh(path2, sizeof path2);
    lsm_keyspace *other = ks_open(db2, "users");
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_STATUS(lsm_transaction_put_ks(tx, other, S("n"), S("x")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "another database") != NULL);
    CHECK_STATUS(lsm_transaction_get_ks(tx, other, S("n"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete_ks(tx, other, S("n")), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_transaction_commit(tx));
    lsm_transaction_free(tx);
    CHECK(ks_has(other, "n", NULL));

    /* NULLs. */
    CHECK_STATUS(lsm_transaction_get_ks(NULL, users, S("n"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put_ks(NULL, users, S("n"), S("x")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete_ks(NULL, users, S("n")), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_STATUS(lsm_transaction_get_ks(tx, NULL, S("n"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "keyspace is NULL") != NULL);
    CHECK_STATUS(lsm_transaction_put_ks(tx, NULL, S("n"), S("x")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete_ks(tx, NULL, S("n")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_get_ks(tx, users, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_get_ks(tx, users, S("n"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put_ks(tx, users, NULL, 1, S("x")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_put_ks(tx, users, S("n"), NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_transaction_delete_ks(tx, users, NULL, 1), LSM_INVALID_ARGUMENT);
    lsm_transaction_free(tx);

    lsm_keyspace_free(other);
    CHECK_OK(lsm_close(db2));
    lsm_keyspace_free(users);
    CHECK_OK(lsm_close(db));
}

/* Options of a keyspace: only per-keyspace keys, fixed at creation, persisted. */
static void test_keyspace_options(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "sstable.compression", "none"));
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "64"));
    lsm_keyspace *plain = NULL;
    CHECK_OK(lsm_keyspace_open(db, "plain", o, &plain));
    CHECK(plain != NULL);
    for (int i = 0; i < 300; i++) { /* several flushes at 64 entries */
        char k[32];
        snprintf(k, sizeof k, "key%04d", i);
        CHECK_OK(lsm_put_ks(plain, S(k), S("v")));
    }
    CHECK(ks_has(plain, "key0123", "v"));
    lsm_keyspace_free(plain);

    /* A database option is no keyspace option: LSM_CONFIG_ERROR naming it, and no
       keyspace is made. */
    lsm_options *bad = lsm_options_new();
    CHECK_OK(lsm_options_set(bad, "wal.sync", "always"));
    lsm_keyspace *ks = NULL;
    CHECK_STATUS(lsm_keyspace_open(db, "bad", bad, &ks), LSM_CONFIG_ERROR);
    CHECK(strstr(lsm_errmsg(), "wal.sync") != NULL);
    CHECK(strstr(lsm_errmsg(), "per-keyspace") != NULL);
    CHECK(ks == NULL);
    CHECK(names_are(db, "default\nplain"));
    lsm_options_free(bad);

    /* Options with no set are the database's; an existing keyspace opens with NULL,
       with its own options again, but not with others. */
    lsm_options *empty = lsm_options_new();
    CHECK_OK(lsm_keyspace_open(db, "dbopts", empty, &ks));
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_keyspace_open(db, "plain", NULL, &ks));
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_keyspace_open(db, "plain", o, &ks));
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_keyspace_open(db, "plain", empty, &ks));
    lsm_keyspace_free(ks);
    lsm_options *other = lsm_options_new();
    CHECK_OK(lsm_options_set(other, "sstable.compression", "lz4"));
    ks = NULL;
    CHECK_STATUS(lsm_keyspace_open(db, "plain", other, &ks), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "other options") != NULL);
    CHECK(ks == NULL);
    CHECK_STATUS(lsm_keyspace_open(db, "dbopts", other, &ks), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_close(db));

    /* Persisted: after a reopen, the same rule and the data. */
    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(names_are(db, "default\nplain\ndbopts"));
    CHECK_STATUS(lsm_keyspace_open(db, "plain", other, &ks), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_keyspace_open(db, "plain", o, &ks));
    CHECK(ks_has(ks, "key0299", "v"));
    lsm_keyspace_free(ks);
    CHECK_STATUS(lsm_keyspace_open(db, "x", (const lsm_options *)NULL, NULL),
                 LSM_INVALID_ARGUMENT);
    lsm_options_free(other);
    lsm_options_free(empty);
    lsm_options_free(o);
    CHECK_OK(lsm_close(db));
}

/* NULL handles, pointers and names, invalid names: LSM_INVALID_ARGUMENT, never a
   crash; keyspace handles, snapshots and transactions that outlive lsm_close say
   LSM_CLOSED and still free. */
static void test_keyspace_misuse(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_keyspace *ks = NULL;
    uint8_t *v = NULL;
    size_t n = 0;
    char *names = NULL;

    /* NULL db, name or out. */
    CHECK_STATUS(lsm_keyspace_open(NULL, "users", NULL, &ks), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "db is NULL") != NULL);
    CHECK_STATUS(lsm_keyspace_open(db, NULL, NULL, &ks), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "name is NULL") != NULL);
    CHECK(ks == NULL);
    CHECK_STATUS(lsm_keyspace_open(db, "users", NULL, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_keyspace_drop(NULL, "users"), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_keyspace_drop(db, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_keyspaces(NULL, &names), LSM_INVALID_ARGUMENT);
    CHECK(names == NULL);
    CHECK_STATUS(lsm_keyspaces(db, NULL), LSM_INVALID_ARGUMENT);

    /* Invalid names, for open and for drop. */
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    const char *invalid[] = {"", "a b", long_name, "a/b", "\xff", "caf\xc3\xa9", "a\nb"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        ks = NULL;
        CHECK_STATUS(lsm_keyspace_open(db, invalid[i], NULL, &ks), LSM_INVALID_ARGUMENT);
        CHECK(ks == NULL);
        CHECK_STATUS(lsm_keyspace_drop(db, invalid[i]), LSM_INVALID_ARGUMENT);
    }
    CHECK(names_are(db, "default"));
    long_name[64] = '\0'; /* 64 bytes is the limit */
    CHECK_OK(lsm_keyspace_open(db, long_name, NULL, &ks));
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_keyspace_open(db, "A-z_0.9", NULL, &ks));
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_keyspace_drop(db, long_name));
    CHECK_OK(lsm_keyspace_drop(db, "A-z_0.9"));
    CHECK(names_are(db, "default"));

    /* NULL keyspace handles. */
    CHECK_STATUS(lsm_put_ks(NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "keyspace is NULL") != NULL);
    CHECK_STATUS(lsm_get_ks(NULL, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_ks(NULL, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range_ks(NULL, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_STATUS(lsm_write_batch_put_ks(b, NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_ks(b, NULL, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_range_ks(b, NULL, S("a"), S("b")), LSM_INVALID_ARGUMENT);
    lsm_snapshot *s = NULL;
    CHECK_OK(lsm_snapshot_new(db, &s));
    CHECK_STATUS(lsm_snapshot_get_ks(s, NULL, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    lsm_iterator *it = NULL;
    CHECK_STATUS(lsm_iter_new_ks(db, NULL, NULL, &it), LSM_INVALID_ARGUMENT);
    CHECK(it == NULL);
    lsm_keyspace_free(NULL);

    /* NULL other handles and pointers with a keyspace. */
    lsm_keyspace *users = ks_open(db, "users");
    CHECK_STATUS(lsm_write_batch_put_ks(NULL, users, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "batch is NULL") != NULL);
    CHECK_STATUS(lsm_write_batch_delete_ks(NULL, users, S("k")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_range_ks(NULL, users, S("a"), S("b")),
                 LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_get_ks(NULL, users, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_iter_new_ks(NULL, users, NULL, &it), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_iter_new_ks(db, users, NULL, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_put_ks(users, NULL, 1, S("v")), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "k is NULL with length 1") != NULL);
    CHECK_STATUS(lsm_put_ks(users, S("k"), NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_ks(users, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_ks(users, S("k"), NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_ks(users, S("k"), &v, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_ks(users, NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range_ks(users, NULL, 1, S("b")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_delete_range_ks(users, S("a"), NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_put_ks(b, users, NULL, 1, S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_put_ks(b, users, S("k"), NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_ks(b, users, NULL, 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_write_batch_delete_range_ks(b, users, NULL, 1, S("b")),
                 LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_get_ks(s, users, NULL, 1, &v, &n), LSM_INVALID_ARGUMENT);
    /* A missing key is LSM_NOT_FOUND with the out-values cleared. */
    v = (uint8_t *)&n;
    n = 5;
    CHECK_STATUS(lsm_get_ks(users, S("missing"), &v, &n), LSM_NOT_FOUND);
    CHECK(v == NULL && n == 0);

    /* Handles of two databases do not mix. */
    char path2[600];
    lsm_db *db2 = open_fresh(path2, sizeof path2);
    lsm_snapshot *s2 = NULL;
    CHECK_OK(lsm_snapshot_new(db2, &s2));
    CHECK_STATUS(lsm_iter_new_ks(db2, users, NULL, &it), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "another database") != NULL);
    CHECK_STATUS(lsm_iter_new_ks(db, users, s2, &it), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_snapshot_get_ks(s2, users, S("k"), &v, &n), LSM_INVALID_ARGUMENT);
    lsm_snapshot_free(s2);
    CHECK_OK(lsm_close(db2));

    /* After lsm_close: LSM_CLOSED from every call on the keyspace, then it frees. */
    CHECK_OK(lsm_put_ks(users, S("k"), S("v")));
    lsm_keyspace *logs = ks_open(db, "logs");
    lsm_transaction *tx = NULL;
    CHECK_OK(lsm_transaction_begin(db, &tx));
    CHECK_OK(lsm_close(db));
    CHECK_STATUS(lsm_put_ks(users, S("k"), S("v")), LSM_CLOSED);
    CHECK(strstr(lsm_errmsg(), "closed") != NULL);
    v = NULL;
    n = 3;
    CHECK_STATUS(lsm_get_ks(users, S("k"), &v, &n), LSM_CLOSED);
    CHECK(v == NULL && n == 0);
    CHECK_STATUS(lsm_delete_ks(users, S("k")), LSM_CLOSED);
    CHECK_STATUS(lsm_delete_range_ks(users, S("a"), S("b")), LSM_CLOSED);
    CHECK_STATUS(lsm_write_batch_put_ks(b, users, S("k"), S("v")), LSM_CLOSED);
    CHECK_STATUS(lsm_write_batch_delete_ks(b, users, S("k")), LSM_CLOSED);
    CHECK_STATUS(lsm_write_batch_delete_range_ks(b, users, S("a"), S("b")), LSM_CLOSED);
    CHECK_STATUS(lsm_snapshot_get_ks(s, users, S("k"), &v, &n), LSM_CLOSED);
    CHECK_STATUS(lsm_transaction_get_ks(tx, users, S("k"), &v, &n), LSM_CLOSED);
    CHECK_STATUS(lsm_transaction_put_ks(tx, logs, S("k"), S("v")), LSM_CLOSED);
    CHECK_STATUS(lsm_transaction_delete_ks(tx, logs, S("k")), LSM_CLOSED);
    lsm_transaction_free(tx);
    lsm_snapshot_free(s);
    lsm_write_batch_free(b);
    lsm_keyspace_free(users);
    lsm_keyspace_free(logs);

    /* The database reopens (close released the lock) with both keyspaces. */
    CHECK_OK(lsm_open(path, NULL, &db));
    CHECK(names_are(db, "default\nusers\nlogs"));
    users = ks_open(db, "users");
    CHECK(ks_has(users, "k", "v"));
    lsm_keyspace_free(users);
    CHECK_OK(lsm_close(db));
}

/* ---- the change feed ------------------------------------------------------------ */

/* A database that keeps its WAL history for the feed (wal.retention), with small
 * memtables so flushes retire segments. */
static lsm_db *open_retaining(char *path, size_t cap, const char *retention) {
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "wal.retention", retention));
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "200"));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, cap), o, &db));
    lsm_options_free(o);
    return db;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

/* 1 when the byte string (p, n) is `want` (NULL: p is NULL and n is 0). */
static int bytes_are(const uint8_t *p, size_t n, const char *want) {
    if (want == NULL) return p == NULL && n == 0;
    return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* One operation the feed must hand out. */
struct want_op {
    lsm_change_kind kind;
    const char *keyspace, *key, *end, *value;
};

/* Reads batches from `f` (waiting up to `timeout_ms` for each) until `n` operations
 * are read, checking each against `want` and that sequence numbers run on from
 * `*next` without a gap; leaves `*next` after the last. */
static void expect_ops(lsm_changes *f, uint64_t timeout_ms, const struct want_op *want,
                       size_t n, uint64_t *next) {
    size_t i = 0;
    while (i < n) {
        lsm_status s = lsm_changes_next(f, timeout_ms);
        CHECK_OK(s);
        if (s != LSM_OK) return;
        size_t len = lsm_changes_len(f);
        CHECK(len >= 1);
        CHECK(lsm_changes_seq(f) == *next);
        CHECK(lsm_changes_last_seq(f) == *next + len - 1);
        for (size_t j = 0; j < len; j++, i++) {
            lsm_change_op op;
            CHECK_OK(lsm_changes_op(f, j, &op));
            CHECK(op.seq == *next + j);
            if (i >= n) {
                CHECK(!"more operations than expected");
                continue;
            }
            CHECK(op.kind == want[i].kind);
            CHECK(op.keyspace != NULL && strcmp(op.keyspace, want[i].keyspace) == 0);
            CHECK(bytes_are(op.key, op.key_len, want[i].key));
            CHECK(bytes_are(op.end, op.end_len, want[i].end));
            CHECK(bytes_are(op.value, op.value_len, want[i].value));
        }
        lsm_change_op op;
        CHECK_STATUS(lsm_changes_op(f, len, &op), LSM_INVALID_ARGUMENT);
        *next += len;
    }
}

/* Every kind of write comes back from the feed, op by op and in order: the history
 * from sequence 1 (across a flush), then live batches, then a resumed feed. */
static void test_changes_replay(void) {
    char path[600];
    lsm_db *db = open_retaining(path, sizeof path, "1GiB");
    uint64_t seq = 99;
    CHECK_OK(lsm_latest_sequence(db, &seq));
    CHECK(seq == 0);
    lsm_keyspace *users = ks_open(db, "users");
    CHECK_OK(lsm_put(db, S("a"), S("1")));
    CHECK_OK(lsm_put(db, S("b"), (const uint8_t *)"", 0)); /* an empty value */
    CHECK_OK(lsm_delete(db, S("a")));
    CHECK_OK(lsm_delete_range(db, S("b"), S("d")));
    CHECK_OK(lsm_flush(db));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_OK(lsm_write_batch_put(b, S("k"), S("v")));
    CHECK_OK(lsm_write_batch_put_ks(b, users, S("ada"), S("x")));
    CHECK_OK(lsm_write_batch_delete_ks(b, users, S("bob")));
    CHECK_OK(lsm_write(db, b));
    lsm_write_batch_free(b);
    const struct want_op history[] = {
        {LSM_CHANGE_PUT, "default", "a", NULL, "1"},
        {LSM_CHANGE_PUT, "default", "b", NULL, ""},
        {LSM_CHANGE_DELETE, "default", "a", NULL, NULL},
        {LSM_CHANGE_DELETE_RANGE, "default", "b", "d", NULL},
        {LSM_CHANGE_PUT, "default", "k", NULL, "v"},
        {LSM_CHANGE_PUT, "users", "ada", NULL, "x"},
        {LSM_CHANGE_DELETE, "users", "bob", NULL, NULL},
    };
    CHECK_OK(lsm_latest_sequence(db, &seq));
    CHECK(seq == 7);

    lsm_changes *f = NULL;
    CHECK_OK(lsm_changes_new(db, 1, &f));
    CHECK(f != NULL);
    CHECK(lsm_changes_len(f) == 0 && lsm_changes_seq(f) == 0);
    uint64_t next = 1;
    /* The history is ready at once: a timeout of 0 reads it. */
    expect_ops(f, 0, history, 7, &next);
    CHECK(next == 8);
    CHECK_STATUS(lsm_changes_next(f, 0), LSM_NOT_FOUND);
    CHECK(strstr(lsm_errmsg(), "no change") != NULL);
    CHECK(lsm_changes_len(f) == 0 && lsm_changes_seq(f) == 0 && lsm_changes_last_seq(f) == 0);

    /* Then what commits later, on the same feed. */
    CHECK_OK(lsm_put_ks(users, S("cy"), S("y")));
    CHECK_OK(lsm_delete_range_ks(users, S("a"), S("b")));
    const struct want_op live[] = {
        {LSM_CHANGE_PUT, "users", "cy", NULL, "y"},
        {LSM_CHANGE_DELETE_RANGE, "users", "a", "b", NULL},
    };
    expect_ops(f, 5000, live, 2, &next);
    CHECK(next == 10);
    lsm_changes_free(f);

    /* Resuming from the middle hands out the rest, from the whole batch that holds
     * the sequence number asked for (5 to 7 here); a start past the end, nothing. */
    CHECK_OK(lsm_changes_new(db, 6, &f));
    next = 5;
    expect_ops(f, 0, &history[4], 3, &next);
    expect_ops(f, 0, live, 2, &next);
    CHECK_STATUS(lsm_changes_next(f, 0), LSM_NOT_FOUND);
    lsm_changes_free(f);
    CHECK_OK(lsm_changes_new(db, 1000, &f));
    CHECK_OK(lsm_put(db, S("later"), S("z")));
    CHECK_STATUS(lsm_changes_next(f, 50), LSM_NOT_FOUND);
    lsm_changes_free(f);

    /* And after a reopen, from the first write again. */
    lsm_keyspace_free(users);
    CHECK_OK(lsm_close(db));
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "wal.retention", "1GiB"));
    CHECK_OK(lsm_open(path, o, &db));
    lsm_options_free(o);
    CHECK_OK(lsm_changes_new(db, 1, &f));
    next = 1;
    expect_ops(f, 0, history, 7, &next);
    lsm_changes_free(f);
    CHECK_OK(lsm_close(db));
}

/* History that wal.retention did not keep is LSM_CHANGES_PURGED, never skipped. */
static void test_changes_purged(void) {
    char path[600];
    lsm_db *db = open_retaining(path, sizeof path, "0");
    uint64_t oldest = 0;
    CHECK_OK(lsm_changes_oldest(db, &oldest));
    CHECK(oldest == 1);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(lsm_put(db, S(key), S("v")));
    }
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_put(db, S("late"), S("v")));
    lsm_changes *f = (lsm_changes *)&oldest; /* must be overwritten with NULL */
    CHECK_STATUS(lsm_changes_new(db, 1, &f), LSM_CHANGES_PURGED);
    CHECK(f == NULL);
    CHECK(strstr(lsm_errmsg(), "no longer kept") != NULL);
    CHECK(strcmp(lsm_status_str(LSM_CHANGES_PURGED), "changes purged") == 0);
    CHECK_OK(lsm_changes_oldest(db, &oldest));
    uint64_t latest = 0;
    CHECK_OK(lsm_latest_sequence(db, &latest));
    CHECK(oldest > 1 && oldest <= latest);
    char want[64];
    snprintf(want, sizeof want, "before sequence %llu ", (unsigned long long)oldest);
    CHECK_STATUS(lsm_changes_new(db, oldest - 1, &f), LSM_CHANGES_PURGED);
    CHECK(strstr(lsm_errmsg(), want) != NULL);
    CHECK_OK(lsm_changes_new(db, oldest, &f));
    CHECK_OK(lsm_changes_next(f, 0));
    CHECK(lsm_changes_seq(f) == oldest);
    lsm_changes_free(f);
    CHECK_OK(lsm_close(db));
}

struct delayed_put {
    lsm_db *db;
    int delay_ms;
};

static void *put_after_delay(void *arg) {
    struct delayed_put *d = arg;
    struct timespec t = {0, d->delay_ms * 1000000L};
    nanosleep(&t, NULL);
    return lsm_put(d->db, S("user:late"), S("v")) == LSM_OK ? NULL : (void *)1;
}

/* A timeout returns promptly with LSM_NOT_FOUND; a commit during the wait ends it. */
static void test_changes_timeout(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_changes *f = NULL;
    CHECK_OK(lsm_changes_subscribe(db, S("user:"), &f));
    double t0 = now_ms();
    CHECK_STATUS(lsm_changes_next(f, 100), LSM_NOT_FOUND);
    double waited = now_ms() - t0;
    CHECK(waited >= 90 && waited < 2000);
    t0 = now_ms();
    CHECK_STATUS(lsm_changes_next(f, 0), LSM_NOT_FOUND);
    CHECK(now_ms() - t0 < 500);

    /* Only the prefix: "other" never arrives; "user:late", written while the feed
     * waits, ends the wait long before the timeout. */
    CHECK_OK(lsm_put(db, S("other"), S("v")));
    struct delayed_put d = {db, 50};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, put_after_delay, &d) == 0);
    t0 = now_ms();
    CHECK_OK(lsm_changes_next(f, 60000));
    CHECK(now_ms() - t0 < 30000);
    void *r = NULL;
    pthread_join(th, &r);
    CHECK(r == NULL);
    lsm_change_op op;
    CHECK(lsm_changes_len(f) == 1);
    CHECK_OK(lsm_changes_op(f, 0, &op));
    CHECK(bytes_are(op.key, op.key_len, "user:late") && op.seq == 2);
    CHECK(lsm_changes_seq(f) == 2);
    lsm_changes_free(f);
    CHECK_OK(lsm_close(db));
}

struct waiting_feed {
    lsm_changes *f;
    lsm_status got;
};

static void *wait_forever(void *arg) {
    struct waiting_feed *w = arg;
    w->got = lsm_changes_next(w->f, UINT64_MAX);
    return NULL;
}

/* A feed outlives lsm_close safely: LSM_CLOSED, also for a call waiting meanwhile. */
static void test_changes_after_close(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    CHECK_OK(lsm_put(db, S("k"), S("v")));
    lsm_changes *history = NULL, *live = NULL;
    CHECK_OK(lsm_changes_new(db, 1, &history));
    CHECK_OK(lsm_changes_subscribe(db, NULL, 0, &live));
    struct waiting_feed w = {live, LSM_OK};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_forever, &w) == 0);
    struct timespec t = {0, 50 * 1000000L};
    nanosleep(&t, NULL); /* let it wait */
    CHECK_OK(lsm_close(db));
    pthread_join(th, NULL);
    CHECK_STATUS(w.got, LSM_CLOSED);
    CHECK_STATUS(lsm_changes_next(live, 0), LSM_CLOSED);
    /* The history feed may still hand out the batch it had read; then it is closed. */
    lsm_status s = LSM_OK;
    for (int i = 0; i < 3 && s == LSM_OK; i++) s = lsm_changes_next(history, 1000);
    CHECK_STATUS(s, LSM_CLOSED);
    CHECK(strstr(lsm_errmsg(), "closed") != NULL);
    CHECK(lsm_changes_len(history) == 0 && lsm_changes_seq(history) == 0);
    lsm_change_op op;
    CHECK_STATUS(lsm_changes_op(history, 0, &op), LSM_INVALID_ARGUMENT);
    lsm_changes_free(history);
    lsm_changes_free(live);
}

/* NULL and misaligned handles, NULL out-pointers and bad indexes are errors. */
static void test_changes_misuse(void) {
    char path[600];
    lsm_db *db = open_fresh(path, sizeof path);
    lsm_changes *f = NULL;
    lsm_change_op op;
    uint64_t n = 0;
    CHECK_STATUS(lsm_changes_new(NULL, 1, &f), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "db is NULL") != NULL);
    CHECK_STATUS(lsm_changes_new(db, 1, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_subscribe(NULL, S("p"), &f), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_subscribe(db, NULL, 3, &f), LSM_INVALID_ARGUMENT);
    CHECK(f == NULL);
    CHECK_STATUS(lsm_changes_subscribe(db, S("p"), NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_next(NULL, 0), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "feed is NULL") != NULL);
    CHECK(lsm_changes_seq(NULL) == 0 && lsm_changes_last_seq(NULL) == 0);
    CHECK(lsm_changes_len(NULL) == 0);
    CHECK_STATUS(lsm_changes_op(NULL, 0, &op), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_latest_sequence(NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_latest_sequence(db, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_oldest(NULL, &n), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_oldest(db, NULL), LSM_INVALID_ARGUMENT);
    lsm_changes_free(NULL);

    /* A pointer that cannot be a feed (misaligned) is refused, not followed. */
    uint64_t junk[8] = {0};
    lsm_changes *bad = (lsm_changes *)((char *)junk + 1);
    CHECK_STATUS(lsm_changes_next(bad, 0), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "not a valid pointer") != NULL);
    CHECK(lsm_changes_len(bad) == 0);
    CHECK_STATUS(lsm_changes_op(bad, 0, &op), LSM_INVALID_ARGUMENT);

    CHECK_OK(lsm_changes_new(db, 1, &f));
    CHECK_OK(lsm_put(db, S("k"), S("v")));
    CHECK_OK(lsm_changes_next(f, 5000));
    CHECK_STATUS(lsm_changes_op(f, 0, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_changes_op(f, (size_t)-1, &op), LSM_INVALID_ARGUMENT);
    CHECK(strstr(lsm_errmsg(), "operation") != NULL);
    CHECK_OK(lsm_changes_op(f, 0, &op));
    CHECK(bytes_are(op.key, op.key_len, "k"));
    lsm_changes_free(f);
    CHECK_OK(lsm_close(db));
}

int main(int argc, char **argv) {
    if (set_base_dir(argc, argv, "/tmp/lsm-c-test-XXXXXX") != 0) return 2;
    printf("lsm %s, databases in %s\n", lsm_version(), base_dir);

    RUN(test_version);
    RUN(test_status_values_and_strings);
    RUN(test_status_str_of_unknown_values);
    RUN(test_errmsg);
    RUN(test_options);
    RUN(test_options_rules);
    RUN(test_open_path_wins_over_config_root);
    RUN(test_open_errors);
    RUN(test_put_get_delete);
    RUN(test_get_into);
    RUN(test_delete_range);
    RUN(test_null_arguments);
    RUN(test_limits);
    RUN(test_batch);
    RUN(test_snapshot);
    RUN(test_iterator);
    RUN(test_outlive_close);
    RUN(test_transaction);
    RUN(test_transaction_counter_threads);
    RUN(test_maintenance);
    RUN(test_threads_share_one_db);
    RUN(test_keyspaces_are_separate);
    RUN(test_keyspaces_persist_and_drop);
    RUN(test_keyspace_batch);
    RUN(test_keyspace_snapshot);
    RUN(test_keyspace_iterator);
    RUN(test_keyspace_transaction);
    RUN(test_keyspace_options);
    RUN(test_keyspace_misuse);
    RUN(test_changes_replay);
    RUN(test_changes_purged);
    RUN(test_changes_timeout);
    RUN(test_changes_after_close);
    RUN(test_changes_misuse);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
