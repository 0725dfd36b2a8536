/* The C API in one page: open, put, get, batch, iterate, close.
 *
 *   cc example.c $(pkg-config --cflags --libs lsm) -o example && ./example /tmp/example-db
 */
#include <lsm.h>

#include <stdio.h>
#include <string.h>

#define S(str) (const uint8_t *)(str), strlen(str)

static int fail(const char *what, lsm_status s) {
    fprintf(stderr, "%s: %s: %s\n", what, lsm_status_str(s), lsm_errmsg());
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "example-db";
    lsm_db *db = NULL;
    lsm_status s;

    lsm_options *o = lsm_options_new();
    if ((s = lsm_options_set(o, "wal.sync", "always")) != LSM_OK) return fail("options", s);
    s = lsm_open(path, o, &db);
    lsm_options_free(o);
    if (s != LSM_OK) return fail("open", s);

    if ((s = lsm_put(db, S("user:1"), S("ada"))) != LSM_OK) return fail("put", s);

    uint8_t *val = NULL;
    size_t len = 0;
    if ((s = lsm_get(db, S("user:1"), &val, &len)) != LSM_OK) return fail("get", s);
    printf("user:1 = %.*s\n", (int)len, (const char *)val);
    lsm_free(val);
    if (lsm_get(db, S("user:9"), &val, &len) == LSM_NOT_FOUND) printf("user:9 is not there\n");

    lsm_write_batch *b = lsm_write_batch_new();
    lsm_write_batch_put(b, S("user:2"), S("grace"));
    lsm_write_batch_put(b, S("user:3"), S("edsger"));
    lsm_write_batch_delete(b, S("user:1"));
    s = lsm_write(db, b); /* all or nothing */
    lsm_write_batch_free(b);
    if (s != LSM_OK) return fail("write", s);

    lsm_iterator *it = NULL;
    if ((s = lsm_iter_new(db, NULL, &it)) != LSM_OK) return fail("iter", s);
    for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = lsm_iter_key(it, &kl), *v = lsm_iter_value(it, &vl);
        printf("%.*s = %.*s\n", (int)kl, (const char *)k, (int)vl, (const char *)v);
    }
    s = lsm_iter_status(it);
    lsm_iter_free(it);
    if (s != LSM_OK) return fail("iterate", s);

    if ((s = lsm_close(db)) != LSM_OK) return fail("close", s);
    return 0;
}
