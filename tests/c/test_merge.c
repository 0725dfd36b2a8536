/*
 * Tests of merge operators, TTL and compaction filters in the C API: built-ins by
 * name, an operator of C callbacks with state and a destructor, callbacks that fail,
 * expiring puts, a filter callback, bad arguments. Run by scripts/test_c.sh, plain
 * and under sanitizers.
 *
 *   test_merge [DIR]     DIR: where to make databases (default: a new directory in /tmp)
 *
 * The last line is "N passed, N failed"; the exit status is 1 when a test failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <lsm.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"


/* 1 when `key` holds exactly `want` (NULL: missing). */
static int has(lsm_db *db, const char *key, const char *want) {
    uint8_t *v = NULL;
    size_t n = 0;
    lsm_status s = lsm_get(db, S(key), &v, &n);
    int ok = want == NULL ? s == LSM_NOT_FOUND
                          : s == LSM_OK && n == strlen(want) && memcmp(v, want, n) == 0;
    lsm_free(v);
    return ok;
}

static uint64_t get_u64(lsm_db *db, const char *key) {
    uint8_t *v = NULL;
    size_t n = 0;
    uint64_t x = UINT64_MAX;
    if (lsm_get(db, S(key), &v, &n) == LSM_OK && n == 8) memcpy(&x, v, 8);
    lsm_free(v);
    return x;
}

/* ---- built-ins ------------------------------------------------------------------ */

static void test_builtin_by_name(void) {
    char path[600];
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "merge.operator", "u64_add"));
    CHECK_STATUS(lsm_options_set(o, "merge.operator", "sum"), LSM_CONFIG_ERROR);
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    uint64_t one = 1;
    for (int i = 0; i < 10; i++) CHECK_OK(lsm_merge(db, S("n"), (const uint8_t *)&one, 8));
    CHECK(get_u64(db, "n") == 10);
    CHECK_OK(lsm_flush(db));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_OK(lsm_write_batch_merge(b, S("n"), (const uint8_t *)&one, 8));
    CHECK_OK(lsm_write_batch_merge(b, S("n"), (const uint8_t *)&one, 8));
    CHECK_OK(lsm_write(db, b));
    lsm_write_batch_free(b);
    CHECK_OK(lsm_compact(db));
    CHECK(get_u64(db, "n") == 12);
    CHECK_OK(lsm_close(db));

    /* The recorded operator is required at the next open. */
    lsm_options *none = lsm_options_new();
    CHECK_STATUS(lsm_open(path, none, &db), LSM_CONFIG_ERROR);
    CHECK(strstr(lsm_errmsg(), "u64_add") != NULL);
    lsm_options_free(none);
    CHECK_OK(lsm_open(path, o, &db));
    CHECK(get_u64(db, "n") == 12);
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
}

static void test_merge_without_operator(void) {
    char path[600];
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), NULL, &db));
    CHECK_STATUS(lsm_merge(db, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK(has(db, "k", NULL));
    CHECK_STATUS(lsm_merge(NULL, S("k"), S("v")), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_merge(db, NULL, 1, S("v")), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_close(db));
}

/* ---- an operator of callbacks ----------------------------------------------------- */

/* The state: counts calls, and is freed by the destructor exactly once. */
struct joiner {
    const char *sep;
    int destroyed;
    long full_calls;
    long partial_calls;
    pthread_mutex_t lock;
};

static int destroyed_count;

static void joiner_destroy(void *state) {
    struct joiner *j = state;
    j->destroyed++;
    destroyed_count++;
}

/* Joins the existing value and the operands with the separator; an operand "bad"
   fails the merge. */
static int join(struct joiner *j, const uint8_t *existing, size_t elen, int has_existing,
                const uint8_t *const *ops, const size_t *lens, size_t n, uint8_t **out,
                size_t *out_len) {
    size_t total = has_existing ? elen : 0, seplen = strlen(j->sep);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 3 && memcmp(ops[i], "bad", 3) == 0) return 0;
        total += lens[i] + seplen;
    }
    uint8_t *buf = malloc(total + 1);
    if (!buf) return 0;
    size_t at = 0;
    if (has_existing) {
        memcpy(buf, existing, elen);
        at = elen;
    }
    for (size_t i = 0; i < n; i++) {
        if (at > 0) {
            memcpy(buf + at, j->sep, seplen);
            at += seplen;
        }
        memcpy(buf + at, ops[i], lens[i]);
        at += lens[i];
    }
    *out = buf;
    *out_len = at;
    return 1;
}

static int join_full(void *state, const uint8_t *key, size_t klen, const uint8_t *existing,
                     size_t elen, int has_existing, const uint8_t *const *ops,
                     const size_t *lens, size_t n, uint8_t **out, size_t *out_len) {
    struct joiner *j = state;
    (void)key;
    (void)klen;
    pthread_mutex_lock(&j->lock);
    j->full_calls++;
    pthread_mutex_unlock(&j->lock);
    return join(j, existing, elen, has_existing, ops, lens, n, out, out_len);
}

static int join_partial(void *state, const uint8_t *key, size_t klen,
                        const uint8_t *const *ops, const size_t *lens, size_t n, uint8_t **out,
                        size_t *out_len) {
    struct joiner *j = state;
    (void)key;
    (void)klen;
    pthread_mutex_lock(&j->lock);
    j->partial_calls++;
    pthread_mutex_unlock(&j->lock);
    return join(j, NULL, 0, 0, ops, lens, n, out, out_len);
}

static void test_callback_operator(void) {
    char path[600];
    static struct joiner j = {",", 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    destroyed_count = 0;
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "50"));
    CHECK_OK(lsm_options_set_merge_operator(o, "join", join_full, join_partial, &j,
                                            joiner_destroy));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    CHECK_OK(lsm_put(db, S("a"), S("x")));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_merge(db, S("a"), S("y")));
    CHECK_OK(lsm_merge(db, S("a"), S("z")));
    CHECK(has(db, "a", "x,y,z"));
    CHECK_OK(lsm_merge(db, S("b"), S("1")));
    CHECK_OK(lsm_merge(db, S("b"), S("2")));
    CHECK_OK(lsm_flush(db));
    CHECK(has(db, "b", "1,2"));
    CHECK(j.full_calls > 0);

    /* A failing callback: the read is an error, the data stays, compaction goes on. */
    CHECK_OK(lsm_merge(db, S("c"), S("bad")));
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_STATUS(lsm_get(db, S("c"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK(v == NULL);
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    CHECK(has(db, "a", "x,y,z"));
    CHECK_STATUS(lsm_get(db, S("c"), &v, &n), LSM_INVALID_ARGUMENT);
    CHECK_OK(lsm_put(db, S("c"), S("fixed")));
    CHECK(has(db, "c", "fixed"));
    CHECK_OK(lsm_close(db));
    CHECK(j.destroyed == 0); /* the options still hold the operator */
    lsm_options_free(o);
    CHECK(j.destroyed == 1);

    /* Reopen with another operator of the same name: the name is what is recorded. */
    static struct joiner j2 = {",", 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    o = lsm_options_new();
    CHECK_OK(lsm_options_set_merge_operator(o, "join", join_full, NULL, &j2, joiner_destroy));
    CHECK_OK(lsm_open(path, o, &db));
    CHECK(has(db, "b", "1,2"));
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
    CHECK(j2.destroyed == 1);

    /* Another name is refused. */
    static struct joiner j3 = {";", 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    o = lsm_options_new();
    CHECK_OK(lsm_options_set_merge_operator(o, "other", join_full, NULL, &j3, joiner_destroy));
    CHECK_STATUS(lsm_open(path, o, &db), LSM_CONFIG_ERROR);
    lsm_options_free(o);
    CHECK(j3.destroyed == 1);
}

struct worker {
    lsm_db *db;
    int id;
};

static void *merge_worker(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 300; i++) {
        char op[16];
        snprintf(op, sizeof op, "%d", w->id);
        if (lsm_merge(w->db, S("shared"), S(op)) != LSM_OK) return (void *)1;
    }
    return NULL;
}

/* Callbacks run on many threads (writers' flushes, compactions, readers). */
static void test_callbacks_from_threads(void) {
    char path[600];
    static struct joiner j = {"", 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set(o, "memtable.max_entries", "64"));
    CHECK_OK(lsm_options_set_merge_operator(o, "concat", join_full, join_partial, &j,
                                            joiner_destroy));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    lsm_options_free(o);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].db = db;
        w[i].id = i;
        pthread_create(&t[i], NULL, merge_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    CHECK_OK(lsm_compact(db));
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_OK(lsm_get(db, S("shared"), &v, &n));
    CHECK(n == 1200);
    int counts[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= '0' && v[i] <= '3') counts[v[i] - '0']++;
    }
    for (int i = 0; i < 4; i++) CHECK(counts[i] == 300);
    lsm_free(v);
    CHECK(j.destroyed == 0); /* the open database still uses it */
    CHECK_OK(lsm_close(db));
    CHECK(j.destroyed == 1);
}

static void test_bad_operator_arguments(void) {
    static struct joiner j = {",", 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    lsm_options *o = lsm_options_new();
    /* Each failure still frees the state. */
    CHECK_STATUS(lsm_options_set_merge_operator(NULL, "x", join_full, NULL, &j, joiner_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(j.destroyed == 1);
    CHECK_STATUS(lsm_options_set_merge_operator(o, NULL, join_full, NULL, &j, joiner_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(j.destroyed == 2);
    CHECK_STATUS(lsm_options_set_merge_operator(o, "x", NULL, NULL, &j, joiner_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(j.destroyed == 3);
    CHECK_STATUS(lsm_options_set_merge_operator(o, "", join_full, NULL, &j, joiner_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(j.destroyed == 4);
    /* No destructor: nothing to call. */
    CHECK_OK(lsm_options_set_merge_operator(o, "x", join_full, NULL, &j, NULL));
    lsm_options_free(o);
    CHECK(j.destroyed == 4);
}

/* ---- TTL -------------------------------------------------------------------------- */

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_put_ttl(void) {
    char path[600];
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), NULL, &db));
    CHECK_OK(lsm_put_ttl(db, S("short"), S("v"), 1));
    CHECK_OK(lsm_put_ttl(db, S("long"), S("v"), 3600 * 1000));
    lsm_write_batch *b = lsm_write_batch_new();
    CHECK_OK(lsm_write_batch_put_ttl(b, S("batch"), S("v"), 1));
    CHECK_OK(lsm_write(db, b));
    lsm_write_batch_free(b);
    lsm_keyspace *ks = NULL;
    CHECK_OK(lsm_keyspace_open(db, "sessions", NULL, &ks));
    CHECK_OK(lsm_put_ttl_ks(ks, S("k"), S("v"), 1));
    sleep_ms(30); /* the clock only moves forward: 1 ms has passed */
    CHECK(has(db, "short", NULL));
    CHECK(has(db, "batch", NULL));
    CHECK(has(db, "long", "v"));
    uint8_t *v = NULL;
    size_t n = 0;
    CHECK_STATUS(lsm_get_ks(ks, S("k"), &v, &n), LSM_NOT_FOUND);
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    CHECK(has(db, "short", NULL));
    CHECK(has(db, "long", "v"));
    CHECK_STATUS(lsm_put_ttl(NULL, S("k"), S("v"), 1), LSM_INVALID_ARGUMENT);
    CHECK_STATUS(lsm_put_ttl(db, NULL, 3, S("v"), 1), LSM_INVALID_ARGUMENT);
    lsm_keyspace_free(ks);
    CHECK_OK(lsm_close(db));
}

/* ---- compaction filters ------------------------------------------------------------ */

struct filter_state {
    long calls;
    int destroyed;
    int saw_expiry;
    pthread_mutex_t lock;
};

static void filter_destroy(void *state) { ((struct filter_state *)state)->destroyed++; }

/* Removes "tmp:" keys, upper-cases the values of "shout:" keys. */
static int my_filter(void *state, const char *keyspace, int level, const uint8_t *key,
                     size_t klen, const uint8_t *value, size_t vlen, uint64_t expires_at_ms,
                     uint64_t now_ms, uint8_t **new_value, size_t *new_len) {
    struct filter_state *f = state;
    (void)level;
    pthread_mutex_lock(&f->lock);
    f->calls++;
    if (expires_at_ms != 0 && expires_at_ms > now_ms) f->saw_expiry = 1;
    pthread_mutex_unlock(&f->lock);
    if (strcmp(keyspace, "default") != 0) return LSM_FILTER_KEEP;
    if (klen >= 4 && memcmp(key, "tmp:", 4) == 0) return LSM_FILTER_REMOVE;
    if (klen >= 6 && memcmp(key, "shout:", 6) == 0) {
        uint8_t *out = malloc(vlen + 1);
        if (!out) return LSM_FILTER_KEEP;
        for (size_t i = 0; i < vlen; i++)
            out[i] = (value[i] >= 'a' && value[i] <= 'z') ? (uint8_t)(value[i] - 32) : value[i];
        *new_value = out;
        *new_len = vlen;
        return LSM_FILTER_REPLACE;
    }
    if (klen >= 4 && memcmp(key, "odd:", 4) == 0) return 77; /* not a decision: kept */
    return LSM_FILTER_KEEP;
}

static void test_compaction_filter(void) {
    char path[600];
    static struct filter_state f = {0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    lsm_options *o = lsm_options_new();
    CHECK_OK(lsm_options_set_compaction_filter(o, "mine", my_filter, &f, filter_destroy));
    lsm_db *db = NULL;
    CHECK_OK(lsm_open(fresh_path(path, sizeof path), o, &db));
    CHECK_OK(lsm_put(db, S("tmp:1"), S("x")));
    CHECK_OK(lsm_put(db, S("shout:1"), S("hello")));
    CHECK_OK(lsm_put_ttl(db, S("shout:2"), S("bye"), 3600 * 1000));
    CHECK_OK(lsm_put(db, S("odd:1"), S("kept")));
    CHECK_OK(lsm_put(db, S("plain"), S("same")));
    CHECK_OK(lsm_flush(db));
    lsm_snapshot *snap = NULL;
    CHECK_OK(lsm_snapshot_new(db, &snap));
    CHECK_OK(lsm_compact(db));
    /* Everything was visible to the snapshot: nothing filtered yet. */
    CHECK(has(db, "tmp:1", "x"));
    lsm_snapshot_free(snap);
    CHECK_OK(lsm_put(db, S("x"), S("y")));
    CHECK_OK(lsm_flush(db));
    CHECK_OK(lsm_compact(db));
    CHECK(has(db, "tmp:1", NULL));
    CHECK(has(db, "shout:1", "HELLO"));
    CHECK(has(db, "shout:2", "BYE"));
    CHECK(has(db, "odd:1", "kept"));
    CHECK(has(db, "plain", "same"));
    CHECK(f.calls > 0);
    CHECK(f.saw_expiry == 1);
    CHECK_OK(lsm_close(db));
    lsm_options_free(o);
    CHECK(f.destroyed == 1);
    static struct filter_state g = {0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    CHECK_STATUS(lsm_options_set_compaction_filter(NULL, "x", my_filter, &g, filter_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(g.destroyed == 1);
    o = lsm_options_new();
    CHECK_STATUS(lsm_options_set_compaction_filter(o, "x", NULL, &g, filter_destroy),
                 LSM_INVALID_ARGUMENT);
    CHECK(g.destroyed == 2);
    lsm_options_free(o);
}

int main(int argc, char **argv) {
    if (set_base_dir(argc, argv, "/tmp/lsm-c-merge-XXXXXX") != 0) return 2;
    RUN(test_builtin_by_name);
    RUN(test_merge_without_operator);
    RUN(test_callback_operator);
    RUN(test_callbacks_from_threads);
    RUN(test_bad_operator_arguments);
    RUN(test_put_ttl);
    RUN(test_compaction_filter);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
