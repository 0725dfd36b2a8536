/*
 * The tiny test framework of the C tests (tests/c/test_*.c): CHECK, CHECK_STATUS,
 * CHECK_OK and RUN, counting into `passed` and `failed`. Each test program includes it
 * once; its last line prints "N passed, N failed".
 */
#ifndef LSM_TEST_CHECK_H
#define LSM_TEST_CHECK_H

#include <lsm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int passed, failed, test_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            test_failed = 1;                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (lsm_errmsg: \"%s\")\n", __FILE__, \
                    __LINE__, #cond, lsm_errmsg());                                    \
        }                                                                              \
    } while (0)

#define CHECK_STATUS(expr, want)                                                       \
    do {                                                                               \
        lsm_status got_ = (expr);                                                      \
        if (got_ != (want)) {                                                          \
            test_failed = 1;                                                           \
            fprintf(stderr, "%s:%d: %s returned %s (%d), want %s (lsm_errmsg: \"%s\")\n", \
                    __FILE__, __LINE__, #expr, lsm_status_str(got_), (int)got_, #want,  \
                    lsm_errmsg());                                                     \
        }                                                                              \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, LSM_OK)

#define RUN(test)                                                                      \
    do {                                                                               \
        test_failed = 0;                                                               \
        test();                                                                        \
        if (test_failed) {                                                             \
            failed++;                                                                  \
            printf("FAIL %s\n", #test);                                                \
        } else {                                                                       \
            passed++;                                                                  \
            printf("ok   %s\n", #test);                                                \
        }                                                                              \
    } while (0)


#define S(str) (const uint8_t *)(str), strlen(str)

/* Where the databases go (set by main), and a counter naming them. */
static char base_dir[512];
static int db_counter;

/* A fresh, not yet existing path under base_dir. */
static const char *fresh_path(char *buf, size_t cap) {
    snprintf(buf, cap, "%s/db%d", base_dir, db_counter++);
    return buf;
}

/* Sets base_dir from the program's argument (created if missing), or to a new
   directory from mkdtemp `template` (ending in XXXXXX). 0 on success; on failure,
   says why and returns 2, the exit status for "could not run". */
static int set_base_dir(int argc, char **argv, const char *template) {
    if (argc > 1) {
        snprintf(base_dir, sizeof base_dir, "%s", argv[1]);
        mkdir(base_dir, 0755);
        return 0;
    }
    snprintf(base_dir, sizeof base_dir, "%s", template);
    if (mkdtemp(base_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    return 0;
}

#endif
