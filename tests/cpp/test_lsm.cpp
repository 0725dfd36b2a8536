// Tests of bindings/cpp/lsm.hpp. Run by scripts/test_c.sh, plain and under sanitizers.
//   test_lsm_cpp [DIR]    The last line is "N passed, N failed".
#include <lsm.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;
static bool test_failed;
static std::string base;
static int counter;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            test_failed = true;                                                      \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

// Runs `body`, which must throw an lsm::Error with `want`.
#define CHECK_THROWS(body, want)                                                     \
    do {                                                                             \
        bool threw_ = false;                                                         \
        try {                                                                        \
            body;                                                                    \
        } catch (const lsm::Error &e_) {                                             \
            threw_ = e_.status() == (want) && std::string(e_.what()).size() > 0;    \
        }                                                                            \
        if (!threw_) {                                                               \
            test_failed = true;                                                      \
            std::fprintf(stderr, "%s:%d: %s did not throw %s\n", __FILE__, __LINE__, \
                         #body, #want);                                              \
        }                                                                            \
    } while (0)

static void run(const char *name, const std::function<void()> &test) {
    test_failed = false;
    try {
        test();
    } catch (const std::exception &e) {
        test_failed = true;
        std::fprintf(stderr, "%s: unexpected exception: %s\n", name, e.what());
    }
    (test_failed ? failed : passed)++;
    std::printf("%s %s\n", test_failed ? "FAIL" : "ok  ", name);
}

static std::string fresh() { return base + "/db" + std::to_string(counter++); }

static void basics() {
    lsm::Db db(fresh());
    db.put("a", "1");
    db.put(std::string_view("b\0x", 3), std::string("2\0y", 3));
    CHECK(db.get("a") == std::optional<std::string>("1"));
    CHECK(db.get(std::string_view("b\0x", 3)) == std::optional<std::string>(std::string("2\0y", 3)));
    CHECK(!db.get("missing").has_value());
    db.del("a");
    CHECK(!db.get("a"));
    db.put("", "");
    CHECK(db.get("") == std::optional<std::string>(""));
    db.put("k1", "v");
    db.put("k2", "v");
    db.delete_range("k1", "k2");
    CHECK(!db.get("k1") && db.get("k2"));
    CHECK_THROWS(db.delete_range("z", "a"), LSM_INVALID_ARGUMENT);
    db.sync();
    db.flush();
    db.compact();
    CHECK(db.property("lsm.stats")->find("writes:") != std::string::npos);
    CHECK(db.property("lsm.stats.json")->rfind("{\"writes\":", 0) == 0);
    CHECK(!db.property("nope"));
    CHECK(db.verify().rfind("{\"files\":", 0) == 0);
    std::string cp = fresh();
    db.checkpoint(cp);
    CHECK_THROWS(db.checkpoint(cp), LSM_INVALID_ARGUMENT);
    db.close();
    CHECK_THROWS(db.put("a", "b"), LSM_INVALID_ARGUMENT);
    lsm::Db copy(cp);
    CHECK(copy.get("k2") == std::optional<std::string>("v"));
}

static void options_and_errors() {
    lsm::Options o;
    o.set("wal.sync", "none").set("memtable.max_entries", "100");
    CHECK_THROWS(o.set("no.such", "1"), LSM_CONFIG_ERROR);
    try {
        o.set("wal.sync", "bogus");
    } catch (const lsm::Error &e) {
        CHECK(std::string(e.what()).find("wal.sync") != std::string::npos);
        CHECK(dynamic_cast<const std::runtime_error *>(&e) != nullptr);
    }
    CHECK_THROWS(o.load(base + "/missing.toml"), LSM_CONFIG_ERROR);
    std::string path = fresh();
    lsm::Db db(path, o);
    for (int i = 0; i < 300; i++) db.put("key" + std::to_string(i), "v");
    CHECK_THROWS(lsm::Db second(path), LSM_LOCKED);
    lsm::Db moved = std::move(db);
    CHECK(moved.get("key299"));
}

static void batches_and_snapshots() {
    lsm::Db db(fresh());
    db.put("gone", "x");
    lsm::WriteBatch b;
    b.put("a", "1").put("b", "2").del("gone");
    db.write(b);
    CHECK(db.get("a") && db.get("b") && !db.get("gone"));
    b.clear();
    db.write(b);

    lsm::Snapshot s = db.snapshot();
    db.put("a", "new");
    CHECK(s.get("a") == std::optional<std::string>("1"));
    CHECK(db.get("a") == std::optional<std::string>("new"));
    int n = 0;
    for (auto [k, v] : db.iter(s)) {
        (void)k;
        (void)v;
        n++;
    }
    CHECK(n == 2);
}

static void iteration() {
    lsm::Db db(fresh());
    std::vector<std::pair<std::string, std::string>> want = {
        {"apple", "1"}, {"banana", "2"}, {"cherry", "3"}};
    for (auto &[k, v] : want) db.put(k, v);
    std::vector<std::pair<std::string, std::string>> got;
    for (auto [k, v] : db.iter()) got.emplace_back(std::string(k), std::string(v));
    CHECK(got == want);

    lsm::Iterator it = db.iter();
    it.seek("b");
    CHECK(it.valid() && it.key() == "banana" && it.value() == "2");
    it.prev();
    CHECK(it.key() == "apple");
    it.seek_last();
    CHECK(it.key() == "cherry");
    it.next();
    CHECK(!it.valid() && it.key().empty());
    it.check();
}

static void outlive_close() {
    lsm::Db db(fresh());
    db.put("k", "v");
    lsm::Snapshot s = db.snapshot();
    lsm::Iterator it = db.iter();
    db.close();
    CHECK_THROWS(s.get("k"), LSM_CLOSED);
    it.seek_first();
    CHECK(!it.valid());
    CHECK_THROWS(it.check(), LSM_CLOSED);
    CHECK_THROWS(for (auto kv : it) { (void)kv; }, LSM_CLOSED);
}

static void threads() {
    lsm::Db db(fresh());
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; t++) {
        ts.emplace_back([&db, t] {
            for (int i = 0; i < 200; i++) {
                std::string k = std::to_string(t) + "-" + std::to_string(i);
                db.put(k, k);
                if (db.get(k) != std::optional<std::string>(k)) std::abort();
            }
        });
    }
    for (auto &t : ts) t.join();
    int n = 0;
    for (auto kv : db.iter()) {
        (void)kv;
        n++;
    }
    CHECK(n == 1600);
}

static void transactions() {
    lsm::Db db(fresh());
    db.put("a", "1");
    db.put("b", "1");
    {
        lsm::Transaction tx = db.transaction();
        db.put("late", "x");
        CHECK(!tx.get("late"));
        CHECK(tx.get("a") == std::optional<std::string>("1"));
        tx.put("a", "2");
        tx.del("b");
        CHECK(tx.get("a") == std::optional<std::string>("2") && !tx.get("b"));
        CHECK(db.get("a") == std::optional<std::string>("1"));
        // It read "late", written after it began: a conflict, nothing applied.
        CHECK_THROWS(tx.commit(), LSM_CONFLICT);
        CHECK(db.get("a") == std::optional<std::string>("1") && db.get("b"));
        CHECK_THROWS(tx.put("x", "y"), LSM_INVALID_ARGUMENT);  // over
    }
    {
        lsm::Transaction tx = db.transaction();
        CHECK(tx.get("a") == std::optional<std::string>("1"));
        tx.put("a", "2");
        tx.del("b");
        tx.commit();
        CHECK(db.get("a") == std::optional<std::string>("2") && !db.get("b"));
    }
    {
        // Write skew: the second commit conflicts and applies nothing.
        lsm::Transaction t1 = db.transaction(), t2 = db.transaction();
        CHECK(t1.get("a") && t1.get("late"));
        CHECK(t2.get("a") && t2.get("late"));
        t1.put("a", "0");
        t2.put("late", "0");
        t1.commit();
        CHECK_THROWS(t2.commit(), LSM_CONFLICT);
        CHECK(db.get("late") == std::optional<std::string>("x"));
    }
    {
        lsm::Transaction tx = db.transaction();
        tx.put("never", "x");
    }  // destroyed uncommitted
    CHECK(!db.get("never"));

    // transact retries: four threads add to one counter, no increment is lost.
    db.put("n", "0");
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) {
        ts.emplace_back([&db] {
            for (int i = 0; i < 50; i++) {
                db.transact([](lsm::Transaction &tx) {
                    long n = std::stol(*tx.get("n"));
                    tx.put("n", std::to_string(n + 1));
                }, 1000);
            }
        });
    }
    for (auto &t : ts) t.join();
    CHECK(db.get("n") == std::optional<std::string>("200"));
    int runs = 0;
    std::string got = db.transact([&](lsm::Transaction &tx) {
        runs++;
        return *tx.get("n");
    });
    CHECK(got == "200" && runs == 1);
    runs = 0;
    CHECK_THROWS(db.transact([&](lsm::Transaction &tx) {
        runs++;
        tx.get("n");
        db.put("n", "moved");  // always conflicts
        tx.put("n", "mine");
    }, 3), LSM_CONFLICT);
    CHECK(runs == 3 && db.get("n") == std::optional<std::string>("moved"));
}

int main(int argc, char **argv) {
    if (argc > 1) {
        base = argv[1];
        mkdir(base.c_str(), 0755);
    } else {
        char tmpl[] = "/tmp/lsm-cpp-test-XXXXXX";
        if (!mkdtemp(tmpl)) return 2;
        base = tmpl;
    }
    run("basics", basics);
    run("options_and_errors", options_and_errors);
    run("batches_and_snapshots", batches_and_snapshots);
    run("iteration", iteration);
    run("outlive_close", outlive_close);
    run("threads", threads);
    run("transactions", transactions);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
