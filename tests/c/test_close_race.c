/*
 * lsm_close while other threads are inside calls on the same handle (issue 10, item
 * 8): the calls running when lsm_close is called must finish (LSM_OK or LSM_CLOSED)
 * before the handle is freed. Run by scripts/test_c.sh plain, under ASan/UBSan and
 * under valgrind's memcheck (a read of the freed handle happens in the library's Rust
 * code, which ASan does not instrument).
 *
 *   test_close_race [DIR]
 *
 * The test must not start a call after lsm_close could have freed the handle (that
 * race is the caller's bug, see lsm.h), so "a call is running" is made certain rather
 * than likely: each worker's last call gets a key on a page it may not read yet. The
 * library faults on its first read of the key, inside the call and past everything
 * lsm_close waits for; the SIGSEGV handler counts the worker as trapped and holds it
 * there. Only when every worker is trapped does the main thread call lsm_close, and a
 * helper thread releases the workers (the handler makes the page readable and the
 * read resumes) a moment later. No worker calls again after its trapped call, so
 * every call on the handle began before lsm_close did. Without the wait, lsm_close
 * returns while the workers are still held, and they then read freed memory.
 *
 * The last line is "N passed, N failed"; the exit status is 1 when a check failed.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L

#include <lsm.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define KEY_LEN 16
#define WARMUP_CALLS 50

static int checks_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            checks_failed++;                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (lsm_errmsg: \"%s\")\n", __FILE__, \
                    __LINE__, #cond, lsm_errmsg());                                    \
        }                                                                              \
    } while (0)

static size_t page;
static uint8_t *trap[THREADS]; /* one page each, unreadable until released */
static atomic_int trapped;     /* workers held inside their last call */
static atomic_int released;    /* set by the releaser: the handler lets them go */
static atomic_int last_phase;  /* 0: warm-up calls, 1: make the trapped call */
static struct sigaction previous;

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Async-signal-safe: atomics, nanosleep and mprotect only. */
static void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    uint8_t *addr = si->si_addr;
    for (int i = 0; i < THREADS; i++) {
        if (addr >= trap[i] && addr < trap[i] + page) {
            atomic_fetch_add(&trapped, 1);
            while (!atomic_load(&released)) sleep_ms(1);
            mprotect(trap[i], page, PROT_READ | PROT_WRITE);
            return; /* the faulting read runs again, and succeeds */
        }
    }
    /* Not a trap: a real crash. Let the previous handler (ASan's, or the default)
     * report it when the access faults again. */
    sigaction(SIGSEGV, &previous, NULL);
}

struct worker {
    lsm_db *db;
    int id;
    atomic_int calls;
    int bad;             /* a warm-up call that was neither OK nor NOT_FOUND */
    lsm_status last;     /* the trapped call */
};

static void *work(void *arg) {
    struct worker *w = arg;
    char key[32], val[32];
    for (int i = 0; !atomic_load(&last_phase); i++) {
        snprintf(key, sizeof key, "t%d-%d", w->id, i % 100);
        snprintf(val, sizeof val, "v%d", i);
        lsm_status s;
        if (i % 2 == 0) {
            s = lsm_put(w->db, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                        strlen(val));
        } else {
            uint8_t *v = NULL;
            size_t n = 0;
            s = lsm_get(w->db, (const uint8_t *)key, strlen(key), &v, &n);
            lsm_free(v);
        }
        if (s != LSM_OK && s != LSM_NOT_FOUND) w->bad++;
        atomic_fetch_add(&w->calls, 1);
    }
    /* The trapped call: half the workers write, half read. */
    if (w->id % 2 == 0) {
        w->last = lsm_put(w->db, trap[w->id], KEY_LEN, (const uint8_t *)"v", 1);
    } else {
        uint8_t *v = NULL;
        size_t n = 0;
        w->last = lsm_get(w->db, trap[w->id], KEY_LEN, &v, &n);
        lsm_free(v);
    }
    return NULL;
}

static void *release_soon(void *arg) {
    (void)arg;
    sleep_ms(200); /* long enough for lsm_close to get to its wait */
    atomic_store(&released, 1);
    return NULL;
}

/* 1 when `cond` became true within about 10 s. */
static int wait_for(atomic_int *v, int want) {
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(v) >= want) return 1;
        sleep_ms(1);
    }
    return 0;
}

int main(int argc, char **argv) {
    char base[512], path[600];
    if (argc > 1) {
        snprintf(base, sizeof base, "%s", argv[1]);
        mkdir(base, 0755);
    } else {
        snprintf(base, sizeof base, "/tmp/lsm-close-race-XXXXXX");
        if (mkdtemp(base) == NULL) {
            perror("mkdtemp");
            return 2;
        }
    }
    snprintf(path, sizeof path, "%s/close-race", base);

    page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < THREADS; i++) {
        void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(p != MAP_FAILED);
        if (p == MAP_FAILED) return 1;
        trap[i] = p;
        memset(trap[i], 'a' + i, KEY_LEN);
        CHECK(mprotect(trap[i], page, PROT_NONE) == 0);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, &previous) == 0);

    lsm_db *db = NULL;
    lsm_options *o = lsm_options_new();
    CHECK(lsm_options_set(o, "memtable.max_entries", "64") == LSM_OK); /* flushes too */
    CHECK(lsm_open(path, o, &db) == LSM_OK);
    lsm_options_free(o);
    if (db == NULL) return 1;

    pthread_t th[THREADS];
    static struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].db = db;
        w[i].id = i;
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) CHECK(wait_for(&w[i].calls, WARMUP_CALLS));
    atomic_store(&last_phase, 1);
    int all_trapped = wait_for(&trapped, THREADS);
    CHECK(all_trapped);

    pthread_t releaser;
    CHECK(pthread_create(&releaser, NULL, release_soon, NULL) == 0);
    lsm_status closed = lsm_close(db);
    /* Had lsm_close not waited for the trapped calls, it would be back by now. */
    int waited = atomic_load(&released);
    CHECK(closed == LSM_OK);
    CHECK(waited);
    CHECK(pthread_join(releaser, NULL) == 0);
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(w[i].bad == 0);
        CHECK(w[i].last == LSM_OK || w[i].last == LSM_CLOSED || w[i].last == LSM_NOT_FOUND);
    }
    sigaction(SIGSEGV, &previous, NULL);

    /* The close went through: the database reopens, with the trapped writes. */
    CHECK(lsm_open(path, NULL, &db) == LSM_OK);
    if (db != NULL) {
        uint8_t *v = NULL;
        size_t n = 0;
        CHECK(lsm_get(db, trap[0], KEY_LEN, &v, &n) == LSM_OK && n == 1 && v[0] == 'v');
        lsm_free(v);
        CHECK(lsm_close(db) == LSM_OK);
    }
    for (int i = 0; i < THREADS; i++) munmap(trap[i], page);

    printf("close while %d threads are inside calls: %s\n", THREADS,
           checks_failed ? "FAIL" : "ok");
    printf("%d passed, %d failed\n", checks_failed ? 0 : 1, checks_failed ? 1 : 0);
    return checks_failed ? 1 : 0;
}
