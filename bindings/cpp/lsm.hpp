// lsm.hpp: header-only C++17 wrapper of the C API in lsm.h.
//
// RAII classes that own the C handles (move-only) and throw lsm::Error, which carries
// the lsm_status and the message, on every failure. A missing key is not an error:
// get() returns std::nullopt.
//
//     lsm::Db db("/tmp/mydb");
//     db.put("user:1", "ada");
//     std::optional<std::string> v = db.get("user:1");
//     lsm::WriteBatch b;
//     b.put("user:2", "grace").del("user:1");
//     db.write(b);
//     for (auto [key, value] : db.iter()) { ... }   // std::string_view pairs
//     lsm::Keyspace users = db.keyspace("users");  // opens or creates
//     users.put("ada", "1");
//     b.put(users, "grace", "2");                   // a batch across keyspaces
//     lsm::Changes feed = db.changes(1);            // the change feed from sequence 1
//     while (feed.next(std::chrono::seconds(1)))    // false: nothing within the timeout
//         for (size_t i = 0; i < feed.size(); i++) { lsm::ChangeOp op = feed.op(i); ... }
//
// Link with `pkg-config --cflags --libs lsm`. Thread safety is the C API's: a Db may
// be shared between threads, and so may a Keyspace or a Snapshot; a WriteBatch, an
// Iterator or a Changes is used by one at a time.
#ifndef LSM_HPP
#define LSM_HPP

#include <lsm.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace lsm {

/// A failed call: the status and lsm_errmsg() at the time of the failure.
class Error : public std::runtime_error {
  public:
    Error(lsm_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}

    /// The status the C call returned (never LSM_OK or LSM_NOT_FOUND).
    lsm_status status() const noexcept { return status_; }

  private:
    lsm_status status_;
};

namespace detail {

inline const uint8_t *bytes(std::string_view s) noexcept {
    return reinterpret_cast<const uint8_t *>(s.data());
}

[[noreturn]] inline void fail(lsm_status s) {
    std::string msg = lsm_errmsg();
    if (msg.empty()) msg = lsm_status_str(s);
    throw Error(s, msg);
}

inline void check(lsm_status s) {
    if (s != LSM_OK) fail(s);
}

/// Takes over malloc'ed memory from the C API.
struct Freed {
    void *p;
    ~Freed() { lsm_free(p); }
};

/// `Some(value)`, nullopt for LSM_NOT_FOUND, and throws otherwise.
inline std::optional<std::string> value(lsm_status s, uint8_t *v, size_t n) {
    Freed guard{v};
    if (s == LSM_NOT_FOUND) return std::nullopt;
    check(s);
    return std::string(reinterpret_cast<const char *>(v), n);
}

inline std::string text(lsm_status s, char *out) {
    Freed guard{out};
    check(s);
    return std::string(out);
}

}  // namespace detail

class Keyspace;

/// A value read without a copy (Db::get_pinned, Db::multi_get): it borrows the
/// database's memory and keeps it alive, also across later writes, flushes and close,
/// until it is destroyed. Move-only.
class Pinned {
  public:
    Pinned() noexcept = default;
    explicit Pinned(lsm_pinned *p) noexcept : p_(p) {}
    Pinned(const Pinned &) = delete;
    Pinned &operator=(const Pinned &) = delete;
    Pinned(Pinned &&other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    Pinned &operator=(Pinned &&other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    ~Pinned() { lsm_pinned_free(p_); }

    /// False for a missing key (an empty Pinned).
    explicit operator bool() const noexcept { return p_ != nullptr; }

    /// The bytes, valid while this Pinned lives; empty for a missing key.
    std::string_view view() const noexcept {
        if (p_ == nullptr) return {};
        size_t n = 0;
        const uint8_t *v = lsm_pinned_value(p_, &n);
        return std::string_view(reinterpret_cast<const char *>(v), n);
    }

  private:
    lsm_pinned *p_ = nullptr;
};

namespace detail {

/// A pinned lookup's result: an empty Pinned for LSM_NOT_FOUND, throws otherwise.
inline Pinned pinned(lsm_status s, lsm_pinned *p) {
    if (s == LSM_NOT_FOUND) return Pinned();
    check(s);
    return Pinned(p);
}

/// Runs a C multi-get over `keys` and wraps its values.
template <typename Call>
std::vector<Pinned> multi_get(const std::vector<std::string_view> &keys, Call call) {
    std::vector<const uint8_t *> ptrs;
    std::vector<size_t> lens;
    ptrs.reserve(keys.size());
    lens.reserve(keys.size());
    for (auto k : keys) {
        ptrs.push_back(bytes(k));
        lens.push_back(k.size());
    }
    std::vector<lsm_pinned *> raw(keys.size(), nullptr);
    check(call(keys.size(), ptrs.data(), lens.data(), raw.data()));
    std::vector<Pinned> out;
    out.reserve(keys.size());
    for (auto *p : raw) out.emplace_back(p);
    return out;
}

}  // namespace detail

/// Options for Db: defaults, a config.toml, and key/value sets (lsm_options_set).
class Options {
  public:
    Options() : o_(lsm_options_new()) {
        if (!o_) detail::fail(LSM_INTERNAL);
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;
    Options(Options &&other) noexcept : o_(std::exchange(other.o_, nullptr)) {}
    Options &operator=(Options &&other) noexcept {
        std::swap(o_, other.o_);
        return *this;
    }
    ~Options() { lsm_options_free(o_); }

    /// Replaces everything with the options of a config.toml.
    Options &load(const std::string &config_toml_path) {
        detail::check(lsm_options_load(o_, config_toml_path.c_str()));
        return *this;
    }

    /// Sets a dotted key, e.g. set("wal.sync", "always").
    Options &set(const std::string &key, const std::string &value) {
        detail::check(lsm_options_set(o_, key.c_str(), value.c_str()));
        return *this;
    }

    const lsm_options *get() const noexcept { return o_; }

  private:
    lsm_options *o_;
};

/// Writes applied atomically by Db::write.
class WriteBatch {
  public:
    WriteBatch() : b_(lsm_write_batch_new()) {
        if (!b_) detail::fail(LSM_INTERNAL);
    }
    WriteBatch(const WriteBatch &) = delete;
    WriteBatch &operator=(const WriteBatch &) = delete;
    WriteBatch(WriteBatch &&other) noexcept : b_(std::exchange(other.b_, nullptr)) {}
    WriteBatch &operator=(WriteBatch &&other) noexcept {
        std::swap(b_, other.b_);
        return *this;
    }
    ~WriteBatch() { lsm_write_batch_free(b_); }

    WriteBatch &put(std::string_view key, std::string_view value) {
        detail::check(lsm_write_batch_put(b_, detail::bytes(key), key.size(),
                                          detail::bytes(value), value.size()));
        return *this;
    }

    /// Adds merge operand `operand` for `key` (see Db::merge).
    WriteBatch &merge(std::string_view key, std::string_view operand) {
        detail::check(lsm_write_batch_merge(b_, detail::bytes(key), key.size(),
                                            detail::bytes(operand), operand.size()));
        return *this;
    }

    WriteBatch &del(std::string_view key) {
        detail::check(lsm_write_batch_delete(b_, detail::bytes(key), key.size()));
        return *this;
    }

    /// The same in a keyspace (of the database the batch is written to).
    WriteBatch &put(const Keyspace &ks, std::string_view key, std::string_view value);
    WriteBatch &merge(const Keyspace &ks, std::string_view key, std::string_view operand);
    WriteBatch &del(const Keyspace &ks, std::string_view key);
    /// Deletes every key in [start, end) of the keyspace.
    WriteBatch &delete_range(const Keyspace &ks, std::string_view start, std::string_view end);

    void clear() noexcept { lsm_write_batch_clear(b_); }

    const lsm_write_batch *get() const noexcept { return b_; }

  private:
    lsm_write_batch *b_;
};

/// A consistent read-only view. Safe to keep after its Db is closed (reads then
/// throw an Error with LSM_CLOSED).
class Snapshot {
  public:
    explicit Snapshot(lsm_snapshot *s) noexcept : s_(s) {}
    Snapshot(const Snapshot &) = delete;
    Snapshot &operator=(const Snapshot &) = delete;
    Snapshot(Snapshot &&other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    Snapshot &operator=(Snapshot &&other) noexcept {
        std::swap(s_, other.s_);
        return *this;
    }
    ~Snapshot() { lsm_snapshot_free(s_); }

    std::optional<std::string> get(std::string_view key) const {
        uint8_t *v = nullptr;
        size_t n = 0;
        lsm_status s = lsm_snapshot_get(s_, detail::bytes(key), key.size(), &v, &n);
        return detail::value(s, v, n);
    }

    /// The value of `key` in keyspace `ks` in this view.
    std::optional<std::string> get(const Keyspace &ks, std::string_view key) const;

    const lsm_snapshot *handle() const noexcept { return s_; }

  private:
    lsm_snapshot *s_;
};

/// An optimistic, serializable transaction (Db::transaction()). Reads see the database
/// as it was when the transaction began, plus its own writes; commit() applies every
/// write at once, or throws an Error with LSM_CONFLICT (nothing applied) when something
/// it read was written by another commit meanwhile. Either way it is over after
/// commit(). Destroyed uncommitted, it discards its writes. One thread at a time.
class Transaction {
  public:
    explicit Transaction(lsm_transaction *t) noexcept : t_(t) {}
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    Transaction(Transaction &&other) noexcept : t_(std::exchange(other.t_, nullptr)) {}
    Transaction &operator=(Transaction &&other) noexcept {
        std::swap(t_, other.t_);
        return *this;
    }
    ~Transaction() { lsm_transaction_free(t_); }

    std::optional<std::string> get(std::string_view key) {
        uint8_t *v = nullptr;
        size_t n = 0;
        lsm_status s = lsm_transaction_get(t_, detail::bytes(key), key.size(), &v, &n);
        return detail::value(s, v, n);
    }

    void put(std::string_view key, std::string_view value) {
        detail::check(lsm_transaction_put(t_, detail::bytes(key), key.size(),
                                          detail::bytes(value), value.size()));
    }

    void del(std::string_view key) {
        detail::check(lsm_transaction_delete(t_, detail::bytes(key), key.size()));
    }

    /// The same in keyspace `ks` (of the transaction's database).
    std::optional<std::string> get(const Keyspace &ks, std::string_view key);
    void put(const Keyspace &ks, std::string_view key, std::string_view value);
    void del(const Keyspace &ks, std::string_view key);

    /// Throws an Error with LSM_CONFLICT when the transaction must be run again.
    void commit() { detail::check(lsm_transaction_commit(t_)); }

  private:
    lsm_transaction *t_;
};

/// A cursor (seek, next, prev) that is also a range: `for (auto [k, v] : it)` runs
/// from the first key, yielding std::string_view pairs valid until the next step.
/// The loop throws an Error if the iteration stopped on an error (LSM_CLOSED,
/// LSM_CORRUPTION).
class Iterator {
  public:
    explicit Iterator(lsm_iterator *it) noexcept : it_(it) {}
    Iterator(const Iterator &) = delete;
    Iterator &operator=(const Iterator &) = delete;
    Iterator(Iterator &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    Iterator &operator=(Iterator &&other) noexcept {
        std::swap(it_, other.it_);
        return *this;
    }
    ~Iterator() { lsm_iter_free(it_); }

    void seek_first() noexcept { lsm_iter_seek_first(it_); }
    void seek_last() noexcept { lsm_iter_seek_last(it_); }
    void seek(std::string_view key) noexcept {
        lsm_iter_seek(it_, detail::bytes(key), key.size());
    }
    void next() noexcept { lsm_iter_next(it_); }
    void prev() noexcept { lsm_iter_prev(it_); }
    bool valid() const noexcept { return lsm_iter_valid(it_); }

    /// The current key; empty when not valid. Valid until the next move.
    std::string_view key() const noexcept {
        size_t n = 0;
        const uint8_t *k = lsm_iter_key(it_, &n);
        return k ? std::string_view(reinterpret_cast<const char *>(k), n) : std::string_view();
    }

    /// The current value; empty when not valid. Valid until the next move.
    std::string_view value() const noexcept {
        size_t n = 0;
        const uint8_t *v = lsm_iter_value(it_, &n);
        return v ? std::string_view(reinterpret_cast<const char *>(v), n) : std::string_view();
    }

    /// Throws if the iterator stopped on an error.
    void check() const { detail::check(lsm_iter_status(it_)); }

    using value_type = std::pair<std::string_view, std::string_view>;

    /// The input iterator of a range-for loop.
    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Iterator::value_type;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = value_type;

        iterator() noexcept = default;
        explicit iterator(Iterator *owner) : owner_(owner) { settle(); }

        value_type operator*() const { return {owner_->key(), owner_->value()}; }
        iterator &operator++() {
            owner_->next();
            settle();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator &o) const noexcept { return owner_ == o.owner_; }
        bool operator!=(const iterator &o) const noexcept { return owner_ != o.owner_; }

      private:
        void settle() {
            if (owner_ && !owner_->valid()) {
                owner_->check();
                owner_ = nullptr;
            }
        }
        Iterator *owner_ = nullptr;
    };

    /// Seeks to the first key and iterates forward.
    iterator begin() {
        seek_first();
        return iterator(this);
    }
    iterator end() noexcept { return iterator(); }

    lsm_iterator *handle() const noexcept { return it_; }

  private:
    lsm_iterator *it_;
};

/// One operation of a change (Changes::op). The views point into the Changes and are
/// valid until its next next() or its destruction.
struct ChangeOp {
    uint64_t seq;
    lsm_change_kind kind;
    std::string_view keyspace;
    /// The key; a range delete's start.
    std::string_view key;
    /// A range delete's (exclusive) end; nullopt for the other kinds.
    std::optional<std::string_view> end;
    /// A put's value or a merge's operand; nullopt for deletes.
    std::optional<std::string_view> value;
};

/// The change feed (Db::changes, Db::subscribe): committed batches, oldest first, each
/// once. next() moves to the next batch; seq(), last_seq(), size() and op(i) read it.
/// Used by one thread at a time. Safe to keep after its Db is closed: next() then
/// throws an Error with LSM_CLOSED.
class Changes {
  public:
    explicit Changes(lsm_changes *f) noexcept : f_(f) {}
    Changes(const Changes &) = delete;
    Changes &operator=(const Changes &) = delete;
    Changes(Changes &&other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
    Changes &operator=(Changes &&other) noexcept {
        std::swap(f_, other.f_);
        return *this;
    }
    ~Changes() { lsm_changes_free(f_); }

    /// Moves to the next batch, waiting up to `timeout` for one to be committed (zero:
    /// only one that is ready now). False when none came in that time; throws an
    /// Error on a failure (LSM_CLOSED, LSM_CHANGES_PURGED, ...).
    bool next(std::chrono::milliseconds timeout = std::chrono::milliseconds::zero()) {
        uint64_t ms = timeout.count() < 0 ? 0 : static_cast<uint64_t>(timeout.count());
        lsm_status s = lsm_changes_next(f_, ms);
        if (s == LSM_NOT_FOUND) return false;
        detail::check(s);
        return true;
    }

    /// The sequence numbers of the current batch's first and last operations (0 when
    /// there is no current batch).
    uint64_t seq() const noexcept { return lsm_changes_seq(f_); }
    uint64_t last_seq() const noexcept { return lsm_changes_last_seq(f_); }

    /// How many operations the current batch holds.
    size_t size() const noexcept { return lsm_changes_len(f_); }

    /// Operation `i` of the current batch (LSM_INVALID_ARGUMENT when i >= size()).
    ChangeOp op(size_t i) const {
        lsm_change_op o;
        detail::check(lsm_changes_op(f_, i, &o));
        auto view = [](const uint8_t *p, size_t n) {
            return std::string_view(reinterpret_cast<const char *>(p), n);
        };
        ChangeOp out{o.seq, o.kind, o.keyspace, view(o.key, o.key_len), std::nullopt,
                     std::nullopt};
        if (o.end) out.end = view(o.end, o.end_len);
        if (o.value) out.value = view(o.value, o.value_len);
        return out;
    }

    lsm_changes *handle() const noexcept { return f_; }

  private:
    lsm_changes *f_;
};

namespace detail {

/// The lsm_db of a Db, shared with its Keyspaces: null once the Db is closed or
/// destroyed, so Keyspace::iter() throws LSM_CLOSED instead of using a freed handle.
using DbCell = std::shared_ptr<std::atomic<lsm_db *>>;

}  // namespace detail

/// A keyspace of a Db (Db::keyspace): a named key space with its own options; batches,
/// snapshots and transactions span all keyspaces of a Db atomically. Move-only; may be
/// shared between threads (by reference). It outlives its Db safely: calls then throw
/// an Error with LSM_CLOSED. After Db::drop_keyspace of its name they throw
/// LSM_INVALID_ARGUMENT. iter() must not run at the same time as Db::close().
class Keyspace {
  public:
    Keyspace(lsm_keyspace *ks, detail::DbCell db) noexcept : ks_(ks), db_(std::move(db)) {}
    Keyspace(const Keyspace &) = delete;
    Keyspace &operator=(const Keyspace &) = delete;
    Keyspace(Keyspace &&other) noexcept
        : ks_(std::exchange(other.ks_, nullptr)), db_(std::move(other.db_)) {}
    Keyspace &operator=(Keyspace &&other) noexcept {
        std::swap(ks_, other.ks_);
        std::swap(db_, other.db_);
        return *this;
    }
    ~Keyspace() { lsm_keyspace_free(ks_); }

    void put(std::string_view key, std::string_view value) {
        detail::check(
            lsm_put_ks(ks_, detail::bytes(key), key.size(), detail::bytes(value), value.size()));
    }

    /// Merges `operand` into `key` with the keyspace's merge operator.
    void merge(std::string_view key, std::string_view operand) {
        detail::check(lsm_merge_ks(ks_, detail::bytes(key), key.size(), detail::bytes(operand),
                                   operand.size()));
    }

    std::optional<std::string> get(std::string_view key) const {
        uint8_t *v = nullptr;
        size_t n = 0;
        lsm_status s = lsm_get_ks(ks_, detail::bytes(key), key.size(), &v, &n);
        return detail::value(s, v, n);
    }

    /// The value of `key` without a copy; an empty Pinned when missing.
    Pinned get_pinned(std::string_view key) const {
        lsm_pinned *p = nullptr;
        lsm_status s = lsm_get_pinned_ks(ks_, detail::bytes(key), key.size(), &p);
        return detail::pinned(s, p);
    }

    /// The values of `keys`, in order, read at one point in time (empty Pinned: missing).
    std::vector<Pinned> multi_get(const std::vector<std::string_view> &keys) const {
        return detail::multi_get(keys, [&](size_t n, const uint8_t *const *k, const size_t *l,
                                           lsm_pinned **v) {
            return lsm_multi_get_ks(ks_, n, k, l, v);
        });
    }

    void del(std::string_view key) {
        detail::check(lsm_delete_ks(ks_, detail::bytes(key), key.size()));
    }

    /// Deletes every key in [start, end).
    void delete_range(std::string_view start, std::string_view end) {
        detail::check(lsm_delete_range_ks(ks_, detail::bytes(start), start.size(),
                                          detail::bytes(end), end.size()));
    }

    /// An iterator over the keyspace now, or in `snapshot` (of the same Db).
    Iterator iter() const { return make_iter(nullptr); }
    Iterator iter(const Snapshot &snapshot) const { return make_iter(snapshot.handle()); }

    lsm_keyspace *handle() const noexcept { return ks_; }

  private:
    Iterator make_iter(const lsm_snapshot *snapshot) const {
        if (!ks_) throw Error(LSM_INVALID_ARGUMENT, "the keyspace was moved from");
        lsm_db *db = db_ ? db_->load() : nullptr;
        if (!db) throw Error(LSM_CLOSED, "the database of the keyspace is closed");
        lsm_iterator *it = nullptr;
        detail::check(lsm_iter_new_ks(db, ks_, snapshot, &it));
        return Iterator(it);
    }

    lsm_keyspace *ks_;
    detail::DbCell db_;
};

inline WriteBatch &WriteBatch::put(const Keyspace &ks, std::string_view key,
                                   std::string_view value) {
    detail::check(lsm_write_batch_put_ks(b_, ks.handle(), detail::bytes(key), key.size(),
                                         detail::bytes(value), value.size()));
    return *this;
}

inline WriteBatch &WriteBatch::merge(const Keyspace &ks, std::string_view key,
                                     std::string_view operand) {
    detail::check(lsm_write_batch_merge_ks(b_, ks.handle(), detail::bytes(key), key.size(),
                                           detail::bytes(operand), operand.size()));
    return *this;
}

inline WriteBatch &WriteBatch::del(const Keyspace &ks, std::string_view key) {
    detail::check(lsm_write_batch_delete_ks(b_, ks.handle(), detail::bytes(key), key.size()));
    return *this;
}

inline WriteBatch &WriteBatch::delete_range(const Keyspace &ks, std::string_view start,
                                            std::string_view end) {
    detail::check(lsm_write_batch_delete_range_ks(b_, ks.handle(), detail::bytes(start),
                                                  start.size(), detail::bytes(end),
                                                  end.size()));
    return *this;
}

inline std::optional<std::string> Snapshot::get(const Keyspace &ks, std::string_view key) const {
    uint8_t *v = nullptr;
    size_t n = 0;
    lsm_status s = lsm_snapshot_get_ks(s_, ks.handle(), detail::bytes(key), key.size(), &v, &n);
    return detail::value(s, v, n);
}

inline std::optional<std::string> Transaction::get(const Keyspace &ks, std::string_view key) {
    uint8_t *v = nullptr;
    size_t n = 0;
    lsm_status s =
        lsm_transaction_get_ks(t_, ks.handle(), detail::bytes(key), key.size(), &v, &n);
    return detail::value(s, v, n);
}

inline void Transaction::put(const Keyspace &ks, std::string_view key, std::string_view value) {
    detail::check(lsm_transaction_put_ks(t_, ks.handle(), detail::bytes(key), key.size(),
                                         detail::bytes(value), value.size()));
}

inline void Transaction::del(const Keyspace &ks, std::string_view key) {
    detail::check(lsm_transaction_delete_ks(t_, ks.handle(), detail::bytes(key), key.size()));
}

/// An open database; closed by close() or the destructor. May be shared between
/// threads (by reference).
class Db {
  public:
    explicit Db(const std::string &path) {
        detail::check(lsm_open(path.c_str(), nullptr, &db_));
        cell_->store(db_);
    }
    Db(const std::string &path, const Options &options) {
        detail::check(lsm_open(path.c_str(), options.get(), &db_));
        cell_->store(db_);
    }
    Db(const Db &) = delete;
    Db &operator=(const Db &) = delete;
    Db(Db &&other) noexcept
        : db_(std::exchange(other.db_, nullptr)), cell_(std::move(other.cell_)) {}
    Db &operator=(Db &&other) noexcept {
        std::swap(db_, other.db_);
        std::swap(cell_, other.cell_);
        return *this;
    }
    /// Closes, ignoring a failure (call close() to see it).
    ~Db() {
        retire();
        lsm_close(db_);
    }

    /// Closes the database; later calls on this Db throw LSM_INVALID_ARGUMENT, and
    /// those on its Keyspaces, Snapshots and Transactions LSM_CLOSED.
    void close() {
        retire();
        detail::check(lsm_close(std::exchange(db_, nullptr)));
    }

    /// The keyspace `name`, created with the database's options if it does not exist.
    /// Names are 1 to 64 characters of A-Z a-z 0-9 _ . - (else LSM_INVALID_ARGUMENT).
    Keyspace keyspace(const std::string &name) { return open_keyspace(name, nullptr); }

    /// The same, created with `options` over the database's: only the keys set on
    /// `options` apply, each a per-keyspace key (memtable.*, sstable.*, ...; another is
    /// LSM_CONFIG_ERROR). An existing keyspace keeps the options it was created with.
    Keyspace keyspace(const std::string &name, const Options &options) {
        return open_keyspace(name, options.get());
    }

    /// The names of the keyspaces, "default" first.
    std::vector<std::string> keyspaces() const {
        char *out = nullptr;
        lsm_status s = lsm_keyspaces(db_, &out);
        std::string all = detail::text(s, out);
        std::vector<std::string> names;
        for (size_t start = 0;;) {
            size_t end = all.find('\n', start);
            names.push_back(all.substr(start, end - start));
            if (end == std::string::npos) break;
            start = end + 1;
        }
        return names;
    }

    /// Drops the keyspace `name` and its data (not "default").
    void drop_keyspace(const std::string &name) {
        detail::check(lsm_keyspace_drop(db_, name.c_str()));
    }

    void put(std::string_view key, std::string_view value) {
        detail::check(
            lsm_put(db_, detail::bytes(key), key.size(), detail::bytes(value), value.size()));
    }

    /// Merges `operand` into `key` with the merge operator the database was opened with
    /// (Options::set("merge.operator", "u64_add")); throws without one.
    void merge(std::string_view key, std::string_view operand) {
        detail::check(lsm_merge(db_, detail::bytes(key), key.size(), detail::bytes(operand),
                                operand.size()));
    }

    std::optional<std::string> get(std::string_view key) const {
        uint8_t *v = nullptr;
        size_t n = 0;
        lsm_status s = lsm_get(db_, detail::bytes(key), key.size(), &v, &n);
        return detail::value(s, v, n);
    }

    /// The value of `key` without a copy; an empty Pinned when missing.
    Pinned get_pinned(std::string_view key) const {
        lsm_pinned *p = nullptr;
        lsm_status s = lsm_get_pinned(db_, detail::bytes(key), key.size(), &p);
        return detail::pinned(s, p);
    }

    /// The values of `keys`, in order, read at one point in time (empty Pinned: missing).
    std::vector<Pinned> multi_get(const std::vector<std::string_view> &keys) const {
        return detail::multi_get(keys, [&](size_t n, const uint8_t *const *k, const size_t *l,
                                           lsm_pinned **v) {
            return lsm_multi_get(db_, n, k, l, v);
        });
    }

    void del(std::string_view key) {
        detail::check(lsm_delete(db_, detail::bytes(key), key.size()));
    }

    /// Deletes every key in [start, end).
    void delete_range(std::string_view start, std::string_view end) {
        detail::check(lsm_delete_range(db_, detail::bytes(start), start.size(),
                                       detail::bytes(end), end.size()));
    }

    void write(const WriteBatch &batch) { detail::check(lsm_write(db_, batch.get())); }
    void sync() { detail::check(lsm_sync(db_)); }
    void flush() { detail::check(lsm_flush(db_)); }
    void compact() { detail::check(lsm_compact(db_)); }
    void checkpoint(const std::string &dir) { detail::check(lsm_checkpoint(db_, dir.c_str())); }

    /// "lsm.stats" or "lsm.stats.json"; nullopt for an unknown name.
    std::optional<std::string> property(const std::string &name) const {
        char *out = nullptr;
        lsm_status s = lsm_property(db_, name.c_str(), &out);
        if (s == LSM_NOT_FOUND) return std::nullopt;
        return detail::text(s, out);
    }

    /// The JSON report of lsm_verify.
    std::string verify() const {
        char *out = nullptr;
        lsm_status s = lsm_verify(db_, &out);
        return detail::text(s, out);
    }

    Snapshot snapshot() const {
        lsm_snapshot *s = nullptr;
        detail::check(lsm_snapshot_new(db_, &s));
        return Snapshot(s);
    }

    /// An iterator over the database now, or over `snapshot`.
    Iterator iter() const {
        lsm_iterator *it = nullptr;
        detail::check(lsm_iter_new(db_, nullptr, &it));
        return Iterator(it);
    }
    Iterator iter(const Snapshot &snapshot) const {
        lsm_iterator *it = nullptr;
        detail::check(lsm_iter_new(db_, snapshot.handle(), &it));
        return Iterator(it);
    }

    /// The change feed: every committed batch from sequence number `since` on (as far
    /// back as wal.retention keeps; older throws LSM_CHANGES_PURGED), then those
    /// committed later.
    Changes changes(uint64_t since) const {
        lsm_changes *f = nullptr;
        detail::check(lsm_changes_new(db_, since, &f));
        return Changes(f);
    }

    /// The batches committed from now on under `prefix` (of any keyspace).
    Changes subscribe(std::string_view prefix = {}) const {
        lsm_changes *f = nullptr;
        detail::check(lsm_changes_subscribe(db_, detail::bytes(prefix), prefix.size(), &f));
        return Changes(f);
    }

    /// The sequence number of the last committed write (0: never written).
    uint64_t latest_sequence() const {
        uint64_t seq = 0;
        detail::check(lsm_latest_sequence(db_, &seq));
        return seq;
    }

    /// The first sequence number changes() can still start from.
    uint64_t oldest_change() const {
        uint64_t seq = 0;
        detail::check(lsm_changes_oldest(db_, &seq));
        return seq;
    }

    Transaction transaction() {
        lsm_transaction *t = nullptr;
        detail::check(lsm_transaction_begin(db_, &t));
        return Transaction(t);
    }

    /// Runs `f(Transaction&)` and commits, again while the commit conflicts, up to
    /// `attempts` times in all; then rethrows the last LSM_CONFLICT. Returns what the
    /// successful run of `f` returned.
    template <typename F>
    auto transact(F &&f, int attempts = 10) -> decltype(f(std::declval<Transaction &>())) {
        for (int i = 1;; i++) {
            Transaction tx = transaction();
            try {
                if constexpr (std::is_void_v<decltype(f(tx))>) {
                    f(tx);
                    tx.commit();
                    return;
                } else {
                    auto out = f(tx);
                    tx.commit();
                    return out;
                }
            } catch (const Error &e) {
                if (e.status() != LSM_CONFLICT || i >= attempts) throw;
            }
        }
    }

    lsm_db *handle() const noexcept { return db_; }

  private:
    Keyspace open_keyspace(const std::string &name, const lsm_options *options) {
        lsm_keyspace *ks = nullptr;
        detail::check(lsm_keyspace_open(db_, name.c_str(), options, &ks));
        return Keyspace(ks, cell_);
    }

    /// Tells the Keyspaces that the handle is going away.
    void retire() noexcept {
        if (cell_) cell_->store(nullptr);
    }

    lsm_db *db_ = nullptr;
    detail::DbCell cell_ = std::make_shared<std::atomic<lsm_db *>>(nullptr);
};

}  // namespace lsm

#endif  // LSM_HPP
