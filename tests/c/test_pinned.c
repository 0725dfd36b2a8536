/*
 * Tests of the zero-copy reads of the C API: lsm_get_pinned (and _ks), lsm_pinned_value,
 * lsm_pinned_free, lsm_multi_get (and _ks). A pinned value must stay valid and
 * unchanged across overwrites, flushes, compactions and lsm_close: under ASan a read
 * of freed memory fails the run. Run by scripts/test_c.sh, plain and under sanitizers.
 *
 *   test_pinned [DIR]     DIR: where to make databases (default: a new directory in /tmp)
 *
 * The last line is "N passed, N failed"; the exit status is 1 when a test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <lsm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

/* 1 when the pinned value `p` holds exactly `want`. */
static int pinned_is(const lsm_pinned *p, const uint8_t *want, size_t n) {
    size_t len = 99;
    const uint8_t *v = lsm_pinned_value(p, &len);
    return v != NULL && len == n && memcmp(v, want, n) == 0;
}

static lsm_db *open_small(void) {
    char path[600];
    lsm_options *o = lsm_options_new();
    /* No key cache (reads reach the memtable and blocks), a block cache of a few
       blocks (the pinned one gets evicted). */
    CHECK_OK(lsm_options_set(o, "cache.key_cache_entries", "0"));
    CHECK_OK(lsm_options_set(o, "cache.block_cache_bytes", "65536"));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    lsm_options_free(o);
    return db;
}

static void test_pinned_outlives_flush_compaction_and_close(void) {
    lsm_db *db = open_small();
    uint8_t big[3000];
    memset(big, 7, sizeof big);
    CHECK_OK(lsm_put(db, S("m"), big, sizeof big));
    lsm_pinned *from_mem = NULL;
    CHECK_OK(lsm_get_pinned(db, S("m"), &from_mem));
    CHECK(from_mem != NULL && pinned_is(from_mem, big, sizeof big));
    CHECK_OK(lsm_flush(db));
    lsm_pinned *from_block = NULL;
    CHECK_OK(lsm_get_pinned(db, S("m"), &from_block));
    CHECK(from_block != NULL && pinned_is(from_block, big, sizeof big));

    /* Overwrite, fill, flush, compact: the memtable and table both came from are gone. */
    CHECK_OK(lsm_put(db, S("m"), S("newer")));
    char k[32];
    uint8_t fill[200];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "fill%05d", i);
        memset(fill, i & 0xff, sizeof fill);
        CHECK_OK(lsm_put(db, (const uint8_t *)k, strlen(k), fill, sizeof fill));
    }
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    for (int i = 0; i < 2000; i += 7) {
        snprintf(k, sizeof k, "fill%05d", i);
        lsm_pinned *p = NULL;
        CHECK_OK(lsm_get_pinned(db, (const uint8_t *)k, strlen(k), &p));
        lsm_pinned_free(p);
    }
    CHECK(pinned_is(from_mem, big, sizeof big));
    CHECK(pinned_is(from_block, big, sizeof big));
    CHECK_OK(lsm_close(db));
    CHECK(pinned_is(from_mem, big, sizeof big));
    CHECK(pinned_is(from_block, big, sizeof big));
    lsm_pinned_free(from_mem);
    lsm_pinned_free(from_block);
}

static void test_missing_empty_and_bad_arguments(void) {
    lsm_db *db = open_small();
    lsm_pinned *p = (lsm_pinned *)&p; /* garbage in: must come back NULL */
    CHECK_STATUS(lsm_get_pinned(db, S("nope"), &p), LSM_NOT_FOUND);
    CHECK(p == NULL);
    CHECK_OK(lsm_put(db, S("empty"), NULL, 0));
    CHECK_OK(lsm_get_pinned(db, S("empty"), &p));
    size_t len = 5;
    CHECK(p != NULL && lsm_pinned_value(p, &len) != NULL && len == 0);
    lsm_pinned_free(p);
    CHECK_STATUS(lsm_get_pinned(NULL, S("k"), &p), LSM_INVALID_ARGUMENT);
    CHECK(p == NULL);
    CHECK_STATUS(lsm_get_pinned(db, NULL, 3, &p), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_get_pinned(db, S("k"), NULL), LSM_INVALID_ARGUMENT);
    len = 5;
    CHECK(lsm_pinned_value(NULL, &len) == NULL && len == 0);
    CHECK(lsm_pinned_value(NULL, NULL) == NULL);
    lsm_pinned_free(NULL);
    /* lsm_get copies from the pinned value: same bytes. */
    CHECK_OK(lsm_put(db, S("k"), S("v")));
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_OK(lsm_get(db, S("k"), &v, &n));
    CHECK(n == 1 && v[0] == 'v');
    lsm_free(v);
    CHECK_OK(lsm_close(db));
}

static void test_multi_get(void) {
    lsm_db *db = open_small();
    CHECK_OK(lsm_put(db, S("a"), S("1")));
    CHECK_OK(lsm_put(db, S("c"), S("3")));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_put(db, S("b"), S("2")));
    const uint8_t *keys[5] = {(const uint8_t *)"c", (const uint8_t *)"x", (const uint8_t *)"a",
                              (const uint8_t *)"b", (const uint8_t *)"a"};
    size_t klens[5] = {1, 1, 1, 1, 1};
    lsm_pinned *vals[5];
    memset(vals, 0xab, sizeof vals); /* garbage: every slot is written */
    CHECK_OK(lsm_multi_get(db, 5, keys, klens, vals));
    CHECK(vals[0] && pinned_is(vals[0], S("3")));
    CHECK(vals[1] == NULL);
    CHECK(vals[2] && pinned_is(vals[2], S("1")));
    CHECK(vals[3] && pinned_is(vals[3], S("2")));
    CHECK(vals[4] && pinned_is(vals[4], S("1")));
    /* Values outlive a later overwrite and close. */
    CHECK_OK(lsm_put(db, S("a"), S("changed")));
    for (int i = 0; i < 5; i++) {
        if (i != 1) CHECK(vals[i] != NULL);
    }
    CHECK(pinned_is(vals[2], S("1")));

    /* Nothing to look up. */
    CHECK_OK(lsm_multi_get(db, 0, NULL, NULL, NULL));
    /* Bad arguments: clear errors, every slot NULL. */
    lsm_pinned *bad[2] = {(lsm_pinned *)1, (lsm_pinned *)1};
    CHECK_STATUS(lsm_multi_get(db, 2, NULL, klens, bad), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_multi_get(db, 2, keys, NULL, bad), LSM_INVALID_ARGUMENT);
    CHECK(bad[0] == NULL && bad[1] == NULL);
    const uint8_t *null_key[2] = {(const uint8_t *)"a", NULL};
    CHECK_STATUS(lsm_multi_get(db, 2, null_key, klens, bad), LSM_INVALID_ARGUMENT);
    CHECK(bad[0] == NULL && bad[1] == NULL);
    CHECK_STATUS(lsm_multi_get(db, 2, keys, klens, NULL), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_multi_get(NULL, 2, keys, klens, bad), LSM_INVALID_ARGUMENT);

    /* In a keyspace. */
    lsm_keyspace *ks = NULL;
    CHECK_OK(lsm_keyspace_open(db, "logs", NULL, &ks));
    CHECK_OK(lsm_put_ks(ks, S("a"), S("ks-1")));
    lsm_pinned *kv[2];
    CHECK_OK(lsm_multi_get_ks(ks, 2, keys + 1, klens, kv));
    CHECK(kv[0] == NULL);
    CHECK(kv[1] && pinned_is(kv[1], S("ks-1")));
    lsm_pinned_free(kv[1]);
    lsm_pinned *one = NULL;
    CHECK_OK(lsm_get_pinned_ks(ks, S("a"), &one));
    CHECK(one && pinned_is(one, S("ks-1")));
    lsm_pinned_free(one);
    CHECK_STATUS(lsm_get_pinned_ks(ks, S("zz"), &one), LSM_NOT_FOUND);
    CHECK_OK(lsm_close(db));
    CHECK_STATUS(lsm_multi_get_ks(ks, 2, keys, klens, kv), LSM_CLOSED);
    CHECK(kv[0] == NULL && kv[1] == NULL);
    CHECK_STATUS(lsm_get_pinned_ks(ks, S("a"), &one), LSM_CLOSED);
    CHECK(one == NULL);
    lsm_keyspace_free(ks);
    CHECK(pinned_is(vals[0], S("3")));
    for (int i = 0; i < 5; i++) lsm_pinned_free(vals[i]);
}

int main(int argc, char **argv) {
    if (set_base_dir(argc, argv, "/tmp/lsm-c-pinned-XXXXXX") != 0) return 2;
    RUN(test_pinned_outlives_flush_compaction_and_close);
    RUN(test_missing_empty_and_bad_arguments);
    RUN(test_multi_get);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
