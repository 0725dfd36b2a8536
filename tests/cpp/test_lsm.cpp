// Tests of bindings/cpp/lsm.hpp. Run by scripts/test_c.sh, plain and under sanitizers.
//   test_lsm_cpp [DIR]    The last line is "N passed, N failed".
#include <lsm.hpp>

#include <chrono>
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

static void pinned_and_multi_get() {
    lsm::Db db(fresh());
    db.put("a", "1");
    db.put("c", std::string(3000, 'c'));
    lsm::Pinned a = db.get_pinned("a");
    CHECK(a && a.view() == "1");
    CHECK(!db.get_pinned("missing"));
    CHECK(db.get_pinned("missing").view().empty());
    db.flush();
    std::vector<lsm::Pinned> got = db.multi_get({"c", "x", "a"});
    CHECK(got.size() == 3);
    CHECK(got[0] && got[0].view() == std::string(3000, 'c'));
    CHECK(!got[1]);
    CHECK(got[2] && got[2].view() == "1");
    CHECK(db.multi_get({}).empty());
    lsm::Keyspace ks = db.keyspace("k");
    ks.put("a", "in-ks");
    CHECK(ks.get_pinned("a").view() == "in-ks");
    CHECK(ks.multi_get({"a", "b"})[0].view() == "in-ks");
    db.put("a", "2");
    db.compact();
    lsm::Pinned moved = std::move(a);
    db.close();
    // Pinned values outlive writes, compaction and close.
    CHECK(moved.view() == "1" && !a);
    CHECK(got[0].view() == std::string(3000, 'c'));
    CHECK_THROWS(ks.get_pinned("a"), LSM_CLOSED);
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

static void keyspaces() {
    using opt = std::optional<std::string>;
    std::string path = fresh();
    {
        lsm::Db db(path);
        CHECK(db.keyspaces() == std::vector<std::string>{"default"});
        lsm::Keyspace users = db.keyspace("users");
        CHECK((db.keyspaces() == std::vector<std::string>{"default", "users"}));
        db.put("k", "default");
        users.put("k", "users");
        users.put(std::string_view("b\0x", 3), "nul");
        CHECK(db.get("k") == opt("default") && users.get("k") == opt("users"));
        CHECK(users.get(std::string_view("b\0x", 3)) == opt("nul"));
        CHECK(!users.get("missing"));
        users.del("k");
        CHECK(!users.get("k") && db.get("k") == opt("default"));
        users.put("r1", "x");
        users.put("r2", "x");
        users.delete_range("r1", "r2");
        CHECK(!users.get("r1") && users.get("r2"));
        CHECK_THROWS(users.delete_range("z", "a"), LSM_INVALID_ARGUMENT);

        // Iteration over the keyspace alone.
        std::vector<std::string> keys;
        for (auto [k, v] : users.iter()) {
            (void)v;
            keys.emplace_back(k);
        }
        CHECK((keys == std::vector<std::string>{std::string("b\0x", 3), "r2"}));

        // A batch across keyspaces, atomic.
        lsm::Keyspace logs = db.keyspace("logs");
        lsm::WriteBatch b;
        b.put(users, "grace", "2").put(logs, "0001", "grace joined").del(users, "r2").put("d", "1");
        b.delete_range(logs, "x", "y");
        db.write(b);
        CHECK(users.get("grace") == opt("2") && logs.get("0001") == opt("grace joined"));
        CHECK(!users.get("r2") && db.get("d") == opt("1") && !db.get("grace"));

        // A snapshot of all keyspaces at one point.
        lsm::Snapshot s = db.snapshot();
        users.put("grace", "3");
        db.put("d", "2");
        CHECK(s.get(users, "grace") == opt("2") && s.get("d") == opt("1"));
        CHECK(users.get("grace") == opt("3"));
        int n = 0;
        for (auto [k, v] : users.iter(s)) {
            if (k == "grace") CHECK(v == "2");
            n++;
        }
        CHECK(n == 2);

        // Transactions, with a conflict in a keyspace.
        {
            lsm::Transaction tx = db.transaction();
            CHECK(tx.get(users, "grace") == opt("3"));
            tx.put(users, "grace", "4");
            tx.del(logs, "0001");
            CHECK(tx.get(users, "grace") == opt("4") && !tx.get(logs, "0001"));
            tx.commit();
            CHECK(users.get("grace") == opt("4") && !logs.get("0001"));
        }
        {
            lsm::Transaction tx = db.transaction();
            CHECK(tx.get(users, "grace"));
            users.put("grace", "5");
            tx.put(users, "grace", "mine");
            CHECK_THROWS(tx.commit(), LSM_CONFLICT);
            CHECK(users.get("grace") == opt("5"));
        }

        // Options: per-keyspace keys only.
        lsm::Options o;
        o.set("sstable.compression", "none");
        lsm::Keyspace plain = db.keyspace("plain", o);
        plain.put("p", "1");
        lsm::Options bad;
        bad.set("wal.sync", "always");
        CHECK_THROWS(db.keyspace("bad", bad), LSM_CONFIG_ERROR);
        CHECK_THROWS(db.keyspace("a b"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(db.keyspace(""), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(db.keyspace(std::string(65, 'a')), LSM_INVALID_ARGUMENT);

        // Drop: data and name gone; the handle throws, and is still destroyed.
        db.drop_keyspace("logs");
        CHECK((db.keyspaces() == std::vector<std::string>{"default", "users", "plain"}));
        CHECK_THROWS(logs.put("k", "v"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(logs.get("k"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(logs.iter(), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(b.put(logs, "k", "v"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(db.drop_keyspace("logs"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(db.drop_keyspace("default"), LSM_INVALID_ARGUMENT);

        // Move-only: a moved-from keyspace refuses calls.
        lsm::Keyspace moved = std::move(plain);
        CHECK(moved.get("p") == opt("1"));
        CHECK_THROWS(plain.get("p"), LSM_INVALID_ARGUMENT);
        CHECK_THROWS(plain.iter(), LSM_INVALID_ARGUMENT);
        plain = std::move(moved);
        CHECK(plain.get("p") == opt("1"));

        // Outliving close: every call throws LSM_CLOSED.
        db.close();
        CHECK_THROWS(users.put("k", "v"), LSM_CLOSED);
        CHECK_THROWS(users.get("k"), LSM_CLOSED);
        CHECK_THROWS(users.del("k"), LSM_CLOSED);
        CHECK_THROWS(users.iter(), LSM_CLOSED);
        CHECK_THROWS(s.get(users, "grace"), LSM_CLOSED);
    }
    // Reopened: keyspaces and data persisted, the dropped one still gone.
    lsm::Db db(path);
    CHECK((db.keyspaces() == std::vector<std::string>{"default", "users", "plain"}));
    lsm::Keyspace users = db.keyspace("users");
    CHECK(users.get("grace") == opt("5"));
    CHECK(db.keyspace("plain").get("p") == opt("1"));
    CHECK(!db.keyspace("logs").get("0001"));
    // A Keyspace that outlives its Db object (destroyed, not closed) stays safe.
    lsm::Keyspace kept = db.keyspace("users");
    { lsm::Db gone = std::move(db); }
    CHECK_THROWS(kept.get("grace"), LSM_CLOSED);
    CHECK_THROWS(kept.iter(), LSM_CLOSED);
}

static void merges() {
    lsm::Options o;
    o.set("merge.operator", "append");
    lsm::Db db(fresh(), o);
    db.put("log", "a");
    db.merge("log", "b");
    lsm::WriteBatch b;
    b.merge("log", "c").merge("other", "x");
    db.write(b);
    CHECK(db.get("log") == std::optional<std::string>("abc"));
    CHECK(db.get("other") == std::optional<std::string>("x"));
    lsm::Keyspace ks = db.keyspace("events");
    ks.merge("e", "1");
    lsm::WriteBatch kb;
    kb.merge(ks, "e", "2");
    db.write(kb);
    CHECK(ks.get("e") == std::optional<std::string>("12"));
    lsm::Db plain(fresh());
    CHECK_THROWS(plain.merge("k", "v"), LSM_INVALID_ARGUMENT);
}

static void changes() {
    lsm::Options o;
    o.set("wal.retention", "1GiB");
    lsm::Db db(fresh(), o);
    CHECK(db.latest_sequence() == 0 && db.oldest_change() == 1);
    lsm::Keyspace users = db.keyspace("users");
    db.put("a", "1");
    lsm::WriteBatch b;
    b.put(users, std::string_view("k\0x", 3), "").del("a");
    db.write(b);
    db.delete_range("a", "c");
    lsm::Changes feed = db.changes(1);
    CHECK(feed.next());
    CHECK(feed.seq() == 1 && feed.last_seq() == 1 && feed.size() == 1);
    lsm::ChangeOp op = feed.op(0);
    CHECK(op.kind == LSM_CHANGE_PUT && op.keyspace == "default" && op.key == "a");
    CHECK(op.value == std::optional<std::string_view>("1") && !op.end);
    CHECK_THROWS(feed.op(1), LSM_INVALID_ARGUMENT);
    CHECK(feed.next());
    CHECK(feed.seq() == 2 && feed.size() == 2);
    op = feed.op(0);
    CHECK(op.keyspace == "users" && op.key == std::string_view("k\0x", 3));
    CHECK(op.value && op.value->empty());
    op = feed.op(1);
    CHECK(op.kind == LSM_CHANGE_DELETE && op.key == "a" && !op.value);
    CHECK(feed.next());
    op = feed.op(0);
    CHECK(op.kind == LSM_CHANGE_DELETE_RANGE && op.key == "a" && op.end == std::optional<std::string_view>("c"));
    CHECK(!feed.next());
    CHECK(feed.size() == 0);

    lsm::Changes sub = db.subscribe("user:");
    std::thread writer([&db] {
        db.put("other", "x");
        db.put("user:1", "ada");
    });
    CHECK(sub.next(std::chrono::seconds(30)));
    CHECK(sub.size() == 1 && sub.op(0).key == "user:1");
    writer.join();
    CHECK(feed.next(std::chrono::seconds(30)) && feed.op(0).key == "other");
    db.close();
    CHECK_THROWS(while (sub.next()) {}, LSM_CLOSED);
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
    run("pinned_and_multi_get", pinned_and_multi_get);
    run("threads", threads);
    run("transactions", transactions);
    run("keyspaces", keyspaces);
    run("merges", merges);
    run("changes", changes);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
