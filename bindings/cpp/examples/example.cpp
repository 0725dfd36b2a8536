// A small program on lsm.hpp, built by bindings/cpp/examples/CMakeLists.txt through
// find_package(lsm): ./lsm_example DIR (DIR must not hold another database).
//
// Prints the two users left after a batch, then "ok"; exits 1 with the message of
// lsm::Error on a failure.
#include <lsm.hpp>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        lsm::Db db(argv[1]);
        db.put("user:1", "ada");
        db.put("user:2", "grace");
        lsm::WriteBatch batch;
        batch.put("user:3", "edsger").del("user:2");
        db.write(batch);  // all or nothing

        int n = 0;
        for (auto [key, value] : db.iter()) {
            std::printf("%.*s = %.*s\n", static_cast<int>(key.size()), key.data(),
                        static_cast<int>(value.size()), value.data());
            ++n;
        }
        if (n != 2 || db.get("user:2") || db.get("user:1") != std::string("ada")) {
            std::fprintf(stderr, "unexpected contents\n");
            return 1;
        }
        db.close();
    } catch (const lsm::Error &e) {
        std::fprintf(stderr, "lsm: %s (status %d)\n", e.what(), static_cast<int>(e.status()));
        return 1;
    }
    std::puts("ok");
    return 0;
}
