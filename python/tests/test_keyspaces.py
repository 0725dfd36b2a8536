"""Keyspaces: a model test over several keyspaces (with batches spanning them, flushes,
reopens and drops), persisted options, snapshots and transactions across keyspaces,
the asyncio forms, dropping, and every misuse."""

from __future__ import annotations

import asyncio
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import lsm

keys = st.binary(min_size=0, max_size=3).map(lambda b: bytes(x % 4 + 0x61 for x in b))
values = st.binary(max_size=8)
bounds = st.none() | keys
# "default" is the database itself; "b" has options of its own.
NAMES = ["default", "a", "b"]
names = st.sampled_from(NAMES)


def model_range(
    model: dict[bytes, bytes], start: bytes | None, stop: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    items = sorted(
        (k, v)
        for k, v in model.items()
        if (start is None or k >= start) and (stop is None or k < stop)
    )
    return items[::-1] if reverse else items


class KeyspacesModel(RuleBasedStateMachine):
    """Three keyspaces of one database against one dict each."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="lsm-ks-model-")
        self.path = f"{self.dir}/db"
        self.models: dict[str, dict[bytes, bytes]] = {n: {} for n in NAMES}
        self.snapshots: list[tuple[lsm.Snapshot, dict[str, dict[bytes, bytes]]]] = []
        self.open()

    def open(self) -> None:
        self.db = lsm.open(self.path, memtable_max_entries=8)
        self.ks: dict[str, lsm.DB | lsm.Keyspace] = {
            "default": self.db,
            "a": self.db.keyspace("a"),
            "b": self.db.keyspace("b", memtable_max_entries=4),
        }
        # "default" first, then in creation order ("a" comes last once recreated).
        names = self.db.keyspaces()
        assert names[0] == "default" and sorted(names) == sorted(NAMES)

    def keyspace(self, name: str) -> lsm.Keyspace | None:
        """The keyspace= argument for `name` (None for the default keyspace)."""
        ks = self.ks[name]
        return ks if isinstance(ks, lsm.Keyspace) else None

    def close_snapshots(self) -> None:
        for snap, _ in self.snapshots:
            snap.close()
        self.snapshots.clear()

    def teardown(self) -> None:
        self.close_snapshots()
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(name=names, k=keys, v=values)
    def put(self, name: str, k: bytes, v: bytes) -> None:
        self.ks[name][k] = v
        self.models[name][k] = v

    @rule(name=names, k=keys)
    def delete(self, name: str, k: bytes) -> None:
        self.ks[name].delete(k)
        self.models[name].pop(k, None)

    @rule(name=names, a=keys, b=keys)
    def delete_range(self, name: str, a: bytes, b: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self.ks[name].delete_range(a, b)
        model = self.models[name]
        for k in [k for k in model if a <= k < b]:
            del model[k]

    @rule(
        ops=st.lists(
            st.tuples(st.sampled_from(["put", "delete", "range"]), names, keys, keys),
            max_size=8,
        ),
        fail=st.booleans(),
    )
    def batch(self, ops: list[tuple[str, str, bytes, bytes]], fail: bool) -> None:
        try:
            with self.db.write_batch() as wb:
                for kind, name, k, v in ops:
                    ks = self.keyspace(name)
                    if kind == "put":
                        wb.put(k, v, keyspace=ks)
                    elif kind == "delete":
                        wb.delete(k, keyspace=ks)
                    else:
                        wb.delete_range(min(k, v), max(k, v), keyspace=ks)
                if fail:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            return
        for kind, name, k, v in ops:
            model = self.models[name]
            if kind == "put":
                model[k] = v
            elif kind == "delete":
                model.pop(k, None)
            else:
                a, b = min(k, v), max(k, v)
                for key in [key for key in model if a <= key < b]:
                    del model[key]

    @rule(name=names, k=keys)
    def get(self, name: str, k: bytes) -> None:
        assert self.ks[name].get(k) == self.models[name].get(k)
        assert (k in self.ks[name]) == (k in self.models[name])

    @rule(name=names, start=bounds, stop=bounds, reverse=st.booleans())
    def scan(self, name: str, start: bytes | None, stop: bytes | None, reverse: bool) -> None:
        got = list(self.ks[name].items(start=start, stop=stop, reverse=reverse))
        assert got == model_range(self.models[name], start, stop, reverse)

    @rule(name=names, prefix=keys)
    def scan_prefix(self, name: str, prefix: bytes) -> None:
        got = list(self.ks[name].keys(prefix=prefix))
        assert got == sorted(k for k in self.models[name] if k.startswith(prefix))

    @precondition(lambda self: len(self.snapshots) < 2)
    @rule()
    def take_snapshot(self) -> None:
        frozen = {n: dict(m) for n, m in self.models.items()}
        self.snapshots.append((self.db.snapshot(), frozen))

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def check_snapshot(self, data: st.DataObject) -> None:
        snap, frozen = data.draw(st.sampled_from(self.snapshots))
        # Every keyspace at the one point in time the snapshot was taken.
        for name in NAMES:
            ks = self.keyspace(name)
            assert list(snap.items(keyspace=ks)) == model_range(frozen[name], None, None, False)
            k = data.draw(keys)
            assert snap.get(k, keyspace=ks) == frozen[name].get(k)

    @rule()
    def flush(self) -> None:
        self.db.flush()

    @rule(name=st.sampled_from(["a", "b"]))
    def compact(self, name: str) -> None:
        ks = self.ks[name]
        assert isinstance(ks, lsm.Keyspace)
        ks.compact()

    @rule()
    def reopen(self) -> None:
        self.close_snapshots()
        self.db.close()
        self.open()

    @rule()
    def drop_and_recreate(self) -> None:
        old = self.ks["a"]
        self.db.drop_keyspace("a")
        assert self.db.keyspaces() == ["default", "b"]
        with pytest.raises(lsm.InvalidArgumentError, match="was dropped"):
            old.get(b"")
        self.ks["a"] = self.db.keyspace("a")
        assert self.db.keyspaces() == ["default", "b", "a"]
        self.models["a"] = {}
        # The new "a" is another keyspace, made after every snapshot taken so far:
        # empty in each of them.
        for _, frozen in self.snapshots:
            frozen["a"] = {}

    @invariant()
    def every_keyspace_matches_its_dict(self) -> None:
        for name in NAMES:
            assert list(self.ks[name].items()) == sorted(self.models[name].items()), name
            assert len(self.ks[name]) == len(self.models[name])


KeyspacesModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None
)
TestKeyspacesModel = KeyspacesModel.TestCase


def test_keyspace_is_a_mapping_like_the_db(db: lsm.DB) -> None:
    users = db.keyspace("users")
    assert isinstance(users, lsm.Keyspace)
    assert users.name == "users" and users.db is db and not users.dropped
    users[b"b"] = b"2"
    users.put(b"a", b"1")
    users.put(b"c", bytearray(b"3"), sync=True)
    db[b"a"] = b"default"
    assert users[b"a"] == b"1" and db[b"a"] == b"default"
    assert users.get(b"zz") is None and users.get(b"zz", b"d") == b"d"
    with pytest.raises(KeyError):
        users[b"zz"]
    assert b"b" in users and b"b" not in db
    assert len(users) == 3 and len(db) == 1
    assert list(users) == [b"a", b"b", b"c"]
    assert list(reversed(users)) == [b"c", b"b", b"a"]
    assert list(users.keys(start=b"b")) == [b"b", b"c"]
    assert list(users.values(stop=b"c")) == [b"1", b"2"]
    assert list(users.items(prefix=b"c")) == [(b"c", b"3")]
    assert list(users.items(reverse=True))[0] == (b"c", b"3")
    assert list(users.iter(start=b"b", stop=b"c")) == [(b"b", b"2")]
    assert list(users[b"a":b"c"]) == [(b"a", b"1"), (b"b", b"2")]
    with pytest.raises(TypeError, match="no step"):
        users[b"a":b"c":2]
    del users[b"b"]
    del users[b"missing"]  # like db: no KeyError
    users.delete(b"c")
    assert dict(users.items()) == {b"a": b"1"}
    users.update({b"x": b"9", b"y": b"8"})
    assert users.pop(b"x") == b"9"
    assert users.setdefault(b"z", b"7") == b"7"
    users.delete_range(b"y", b"z")
    assert dict(users.items()) == {b"a": b"1", b"z": b"7"}
    users.compact()
    users.compact(b"a", b"b")
    assert users.approximate_len() >= 2
    users.clear()
    assert len(users) == 0 and db[b"a"] == b"default"
    users.clear()  # empty: nothing to do
    # "default" is the database's own keyspace.
    default = db.keyspace("default")
    assert default[b"a"] == b"default"
    default[b"d"] = b"via keyspace"
    assert db[b"d"] == b"via keyspace"
    assert db.keyspaces() == ["default", "users"]
    assert "users" in repr(users) and str(db.path) in repr(users)


def test_options_are_fixed_at_creation_and_persisted(path: Path) -> None:
    with lsm.open(path) as db:
        small = db.keyspace("small", memtable_max_entries=4, sstable_compression="lz4")
        assert small.name == "small"
        # The same options (in any order) open it again; other ones do not.
        db.keyspace("small", sstable_compression="lz4", memtable_max_entries=4)
        with pytest.raises(lsm.InvalidArgumentError, match="other options"):
            db.keyspace("small", memtable_max_entries=5)
    with lsm.open(path) as db:
        assert db.keyspaces() == ["default", "small"]
        for i in range(40):
            db[b"%03d" % i] = b"v"
        # The database's own memtable holds far more than 40 entries: no flush.
        assert db.stats()["flushes"] == 0
        small = db.keyspace("small")  # no options: the ones it was created with
        for i in range(40):
            small[b"%03d" % i] = b"v"
        # Its own limit of 4 entries per memtable, persisted: a flush per 4 writes
        # (each in the background, so waited for).
        deadline = time.monotonic() + 30
        while db.stats()["flushes"] < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.stats()["flushes"] >= 8
        assert len(small) == 40
        db.keyspace("small", memtable_max_entries=4, sstable_compression="lz4")
        with pytest.raises(lsm.InvalidArgumentError, match="other options"):
            db.keyspace("small", sstable_compression="zstd")
        assert isinstance(lsm.KEYSPACE_OPTIONS, list)
        assert "sstable_compression" in lsm.KEYSPACE_OPTIONS
        assert "wal_sync" not in lsm.KEYSPACE_OPTIONS
        assert set(lsm.KEYSPACE_OPTIONS) <= set(lsm.OPTIONS)


def test_batches_span_keyspaces_atomically(db: lsm.DB) -> None:
    users, logs = db.keyspace("users"), db.keyspace("logs")
    with db.write_batch() as wb:
        wb.put(b"ada", b"1", keyspace=users)
        wb.put(b"0001", b"ada joined", keyspace=logs)
        wb.put(b"n", b"1")
        wb.put(b"gone", b"x", keyspace=None)
    assert users[b"ada"] == b"1" and logs[b"0001"] == b"ada joined" and db[b"n"] == b"1"
    with pytest.raises(RuntimeError):
        with db.write_batch() as wb:
            wb.delete(b"ada", keyspace=users)
            wb.delete_range(b"0", b"9", keyspace=logs)
            raise RuntimeError
    assert b"ada" in users and len(logs) == 1
    standalone = lsm.WriteBatch()
    standalone.delete(b"ada", keyspace=users)
    standalone.delete_range(b"0", b"9", keyspace=logs)
    standalone.delete(b"gone")
    assert len(standalone) == 3
    db.write(standalone)
    assert len(users) == 0 and len(logs) == 0 and b"gone" not in db and db[b"n"] == b"1"
    # A batch whose keyspace is dropped before it commits applies nothing.
    with pytest.raises(lsm.InvalidArgumentError):
        with db.write_batch() as wb:
            wb.put(b"k", b"v")
            wb.put(b"k", b"v", keyspace=logs)
            db.drop_keyspace("logs")
    assert b"k" not in db


def test_snapshot_across_two_keyspaces(db: lsm.DB) -> None:
    users, logs = db.keyspace("users"), db.keyspace("logs")
    users[b"ada"] = b"1"
    logs[b"0001"] = b"ada joined"
    db[b"ada"] = b"default"
    with db.snapshot() as snap:
        with db.write_batch() as wb:
            wb.put(b"ada", b"2", keyspace=users)
            wb.put(b"0002", b"ada changed", keyspace=logs)
            wb.delete(b"ada")
        users[b"grace"] = b"3"
        later = db.keyspace("later")
        later[b"k"] = b"v"
        assert snap.get(b"ada", keyspace=users) == b"1"
        assert snap.get(b"grace", b"none", keyspace=users) == b"none"
        assert snap.get(b"ada") == b"default" and snap[b"ada"] == b"default"
        assert list(snap.items(keyspace=logs)) == [(b"0001", b"ada joined")]
        assert list(snap.keys(keyspace=users)) == [b"ada"]
        assert list(snap.values(keyspace=logs, reverse=True)) == [b"ada joined"]
        assert list(snap.iter(keyspace=users, prefix=b"a")) == [(b"ada", b"1")]
        assert list(snap.items()) == [(b"ada", b"default")]
        # A keyspace created after the snapshot is empty in it.
        assert snap.get(b"k", keyspace=later) is None
        assert list(snap.items(keyspace=later)) == []
    with db.snapshot() as now:
        assert now.get(b"ada", keyspace=users) == b"2"
        assert list(now.keys(keyspace=logs)) == [b"0001", b"0002"]
        assert now.get(b"ada") is None


def test_transactions_through_tx_keyspace(db: lsm.DB) -> None:
    users = db.keyspace("users")
    users[b"ada"] = b"10"
    db[b"ada"] = b"default"
    with db.transaction() as tx:
        u = tx.keyspace("users")
        assert isinstance(u, lsm.TransactionKeyspace) and u.name == "users"
        same = tx.keyspace(users)
        assert u[b"ada"] == b"10" and tx[b"ada"] == b"default"
        u[b"ada"] = b"7"
        same.put(b"grace", b"3")
        assert u.get(b"ada") == b"7" and same[b"grace"] == b"3"  # its own writes
        assert b"grace" in u and b"grace" not in tx
        assert u.items() == [(b"ada", b"7"), (b"grace", b"3")]
        assert u.items(start=b"b") == [(b"grace", b"3")]
        assert u.items(prefix=b"a") == [(b"ada", b"7")]
        new = tx.keyspace("new")  # opened (here: created) like db.keyspace
        new[b"k"] = b"v"
        del u[b"nobody"]
        tx[b"n"] = b"1"
        assert users[b"ada"] == b"10"  # nothing before the commit
    assert users[b"ada"] == b"7" and users[b"grace"] == b"3"
    assert db.keyspace("new")[b"k"] == b"v" and db[b"n"] == b"1"
    assert db.keyspaces() == ["default", "users", "new"]

    # A key read in one keyspace and written meanwhile by someone else: a conflict,
    # nothing applied.
    tx = db.transaction()
    u = tx.keyspace(users)
    assert u[b"ada"] == b"7"
    users[b"ada"] = b"8"
    u[b"ada"] = b"70"
    tx[b"n"] = b"2"
    with pytest.raises(lsm.ConflictError):
        tx.commit()
    assert users[b"ada"] == b"8" and db[b"n"] == b"1"
    with pytest.raises(lsm.InvalidArgumentError, match="over"):
        u.get(b"ada")

    # The same key in another keyspace is another key: no conflict.
    with db.transaction() as tx:
        u = tx.keyspace("users")
        assert u[b"ada"] == b"8"
        db[b"ada"] = b"changed"
        db.keyspace("new")[b"ada"] = b"changed"
        u[b"ada"] = b"9"
    assert users[b"ada"] == b"9"

    # A range read through the view conflicts with a write into that range.
    with pytest.raises(lsm.ConflictError):
        with db.transaction() as tx:
            assert len(tx.keyspace("users").items(prefix=b"g")) == 1
            users[b"gus"] = b"1"
            tx.keyspace("users")[b"total"] = b"2"
    assert b"total" not in users

    # transact() retries a conflicting run.
    runs = 0

    def bump(tx: lsm.Transaction) -> int:
        nonlocal runs
        runs += 1
        u = tx.keyspace(users)
        n = int(u[b"ada"])
        if runs == 1:
            users[b"ada"] = b"100"
        u[b"ada"] = str(n + 1).encode()
        return n

    assert db.transact(bump) == 100
    assert runs == 2 and users[b"ada"] == b"101"


def test_asyncio_forms(db: lsm.DB) -> None:
    logs = db.keyspace("logs")

    async def main() -> None:
        await asyncio.gather(*(logs.aput(b"%03d" % i, b"v%d" % i) for i in range(100)))
        got = await asyncio.gather(*(logs.aget(b"%03d" % i) for i in range(100)))
        assert got == [b"v%d" % i for i in range(100)]
        assert await logs.aget(b"missing") is None
        assert await logs.aget(b"missing", b"d") == b"d"
        await logs.adelete(b"000")
        await logs.adelete_range(b"050", b"100")
        await logs.acompact()
        assert await db.aget(b"001") is None  # not in the default keyspace

    asyncio.run(main())
    assert list(logs.keys()) == [b"%03d" % i for i in range(1, 50)]
    assert len(db) == 0

    db.drop_keyspace("logs")

    async def dropped() -> None:
        with pytest.raises(lsm.InvalidArgumentError, match="was dropped"):
            await logs.aget(b"001")
        with pytest.raises(lsm.InvalidArgumentError, match="was dropped"):
            await logs.aput(b"001", b"v")

    asyncio.run(dropped())


def test_drop_is_durable(path: Path) -> None:
    with lsm.open(path) as db:
        logs = db.keyspace("logs", memtable_max_entries=4)
        users = db.keyspace("users")
        for i in range(20):
            logs[b"%02d" % i] = b"v"
        users[b"ada"] = b"1"
        it = logs.items()
        db.drop_keyspace("logs")
        assert logs.dropped and "dropped" in repr(logs)
        assert db.keyspaces() == ["default", "users"]
        with pytest.raises(lsm.InvalidArgumentError, match="does not exist|no keyspace|not exist"):
            db.drop_keyspace("logs")
        del it
    with lsm.open(path) as db:
        assert db.keyspaces() == ["default", "users"]
        assert db.keyspace("users")[b"ada"] == b"1"
        again = db.keyspace("logs")  # a new, empty keyspace
        assert len(again) == 0
        assert db.keyspaces() == ["default", "users", "logs"]
    with lsm.open(path) as db:
        assert len(db.keyspace("logs")) == 0


def test_a_keyspace_keeps_its_database_open(path: Path) -> None:
    ks = lsm.open(path).keyspace("users")
    ks[b"k"] = b"v"
    assert ks[b"k"] == b"v"
    del ks
    gc.collect()
    with lsm.open(path) as db:  # the lock was released: the database closed
        assert db.keyspace("users")[b"k"] == b"v"


BAD_TYPES: list[tuple[object, str]] = [(b"users", "bytes"), (1, "int"), (None, "NoneType")]


@pytest.mark.parametrize(("bad", "name"), BAD_TYPES)
def test_wrong_types_name_the_type(db: lsm.DB, bad: object, name: str) -> None:
    ks = db.keyspace("users")
    with pytest.raises(TypeError, match=f"keyspace name must be a str, not {name}"):
        db.keyspace(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"keyspace name must be a str, not {name}"):
        db.drop_keyspace(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"not {name}"):
        with db.transaction() as tx:
            tx.keyspace(bad)  # type: ignore[arg-type]
    if bad is not None:  # keyspace=None is the default keyspace
        wb = lsm.WriteBatch()
        msg = f"keyspace must be an lsm.Keyspace .* not {name}"
        with pytest.raises(TypeError, match=msg):
            wb.put(b"k", b"v", keyspace=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=msg):
            wb.delete(b"k", keyspace=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=msg):
            wb.delete_range(b"a", b"b", keyspace=bad)  # type: ignore[arg-type]
        assert len(wb) == 0
        with db.snapshot() as snap:
            with pytest.raises(TypeError, match=msg):
                snap.get(b"k", keyspace=bad)  # type: ignore[call-overload]
            with pytest.raises(TypeError, match=msg):
                snap.items(keyspace=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keyspace must be a keyspace name"):
        with db.transaction() as tx:
            tx.keyspace(1.5)  # type: ignore[arg-type]
    # Keys and values, as on the db.
    with pytest.raises(TypeError, match="key must be bytes-like, not str"):
        ks.put("k", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value must be bytes-like, not int"):
        ks[b"k"] = 1  # type: ignore[assignment]
    with pytest.raises(TypeError, match="key must be bytes-like, not list"):
        ks.get([1])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="must be bytes-like"):
        ks.items(start="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes-like"):
        with db.transaction() as tx:
            tx.keyspace(ks).put("k", b"v")  # type: ignore[arg-type]
    assert len(ks) == 0


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 65, "é", "a\0b", "../up"])
def test_invalid_names(db: lsm.DB, name: str) -> None:
    with pytest.raises(lsm.InvalidArgumentError, match="invalid keyspace name"):
        db.keyspace(name)
    with pytest.raises(ValueError):
        db.keyspace(name, memtable_max_entries=4)
    with pytest.raises(lsm.InvalidArgumentError):
        db.drop_keyspace(name)
    with pytest.raises(lsm.InvalidArgumentError, match="invalid keyspace name"):
        with db.transaction() as tx:
            tx.keyspace(name)
    assert db.keyspaces() == ["default"]


def test_longest_name_is_fine(db: lsm.DB) -> None:
    name = "A_b-c.9" + "x" * 57
    assert len(name) == 64
    db.keyspace(name)[b"k"] = b"v"
    assert db.keyspaces() == ["default", name]


def test_bad_options_are_config_errors(db: lsm.DB) -> None:
    with pytest.raises(lsm.ConfigError, match="wal_sync.*not per keyspace"):
        db.keyspace("x", wal_sync="none")
    with pytest.raises(lsm.ConfigError, match="unknown option 'bogus'|unknown option \"bogus\""):
        db.keyspace("x", bogus=1)
    with pytest.raises(lsm.ConfigError, match="sstable_compression"):
        db.keyspace("x", sstable_compression="snappy-ish")
    with pytest.raises(lsm.ConfigError, match="expected an int, a str or a bool, not list"):
        db.keyspace("x", memtable_max_entries=[1])  # type: ignore[arg-type]
    assert db.keyspaces() == ["default"]  # nothing created
    with pytest.raises(lsm.InvalidArgumentError, match="cannot be dropped"):
        db.drop_keyspace("default")
    with pytest.raises(lsm.InvalidArgumentError):
        db.drop_keyspace("never-made")


def test_use_after_close_is_closed_error(path: Path) -> None:
    db = lsm.open(path)
    ks = db.keyspace("users")
    ks[b"a"] = b"1"
    ks[b"b"] = b"2"
    it = ks.items()
    assert next(it) == (b"a", b"1")
    tx = db.transaction()
    view = tx.keyspace(ks)
    snap = db.snapshot()
    wb = db.write_batch()
    db.close()
    uses: list[Callable[[], Any]] = [
        lambda: ks[b"a"],
        lambda: ks.get(b"a"),
        lambda: ks.put(b"a", b"1"),
        lambda: ks.__setitem__(b"a", b"1"),
        lambda: ks.delete(b"a"),
        lambda: ks.delete_range(b"a", b"b"),
        lambda: b"a" in ks,
        lambda: len(ks),
        lambda: list(ks),
        lambda: ks.items(),
        lambda: ks[b"a":b"b"],
        lambda: ks.compact(),
        lambda: ks.approximate_len(),
        lambda: next(it),
        lambda: db.keyspace("users"),
        lambda: db.keyspaces(),
        lambda: db.drop_keyspace("users"),
        lambda: view[b"a"],
        lambda: view.put(b"a", b"1"),
        lambda: view.items(),
        lambda: tx.keyspace("users"),
        lambda: snap.get(b"a", keyspace=ks),
        lambda: wb.put(b"a", b"1", keyspace=ks),
        lambda: asyncio.run(ks.aget(b"a")),
        lambda: asyncio.run(ks.aput(b"a", b"1")),
    ]
    for use in uses:
        with pytest.raises(lsm.ClosedError):
            use()
    assert ks.name == "users" and "users" in repr(ks)


def test_use_after_drop_is_invalid_argument(db: lsm.DB) -> None:
    logs = db.keyspace("logs")
    logs[b"a"] = b"1"
    tx = db.transaction()
    view = tx.keyspace("logs")
    it = logs.items()
    db.drop_keyspace("logs")
    wb = db.write_batch()
    uses: list[Callable[[], Any]] = [
        lambda: logs[b"a"],
        lambda: logs.get(b"a"),
        lambda: logs.put(b"a", b"1"),
        lambda: logs.delete(b"a"),
        lambda: logs.delete_range(b"a", b"b"),
        lambda: b"a" in logs,
        lambda: len(logs),
        lambda: list(logs),
        lambda: logs.items(),
        lambda: logs.keys(reverse=True),
        lambda: logs[b"a":b"b"],
        lambda: logs.compact(),
        lambda: logs.approximate_len(),
        lambda: view[b"a"],
        lambda: view.put(b"a", b"1"),
        lambda: view.delete(b"a"),
        lambda: view.items(),
        lambda: tx.keyspace(logs),
        lambda: db.snapshot().get(b"a", keyspace=logs),
        lambda: db.snapshot().items(keyspace=logs),
        lambda: wb.put(b"a", b"1", keyspace=logs),
        lambda: wb.delete(b"a", keyspace=logs),
        lambda: lsm.WriteBatch().delete_range(b"a", b"b", keyspace=logs),
    ]
    for use in uses:
        with pytest.raises(lsm.InvalidArgumentError, match='keyspace "logs" was dropped'):
            use()
    assert len(wb) == 0
    # An iterator made before the drop goes on reading what it saw.
    assert list(it) == [(b"a", b"1")]
    # The transaction itself is still usable in other keyspaces.
    tx[b"k"] = b"v"
    tx.commit()
    assert db[b"k"] == b"v"
    # The name can be used again: a new, empty keyspace the old handle does not reach.
    new = db.keyspace("logs")
    new[b"b"] = b"2"
    assert list(new.items()) == [(b"b", b"2")]
    with pytest.raises(lsm.InvalidArgumentError, match="was dropped"):
        logs[b"b"]


def test_keyspaces_of_another_database_are_refused(tmp_path: Path) -> None:
    with lsm.open(tmp_path / "one") as one, lsm.open(tmp_path / "two") as two:
        a, b = one.keyspace("ks"), two.keyspace("ks")
        with pytest.raises(lsm.InvalidArgumentError, match="another database"):
            with one.write_batch() as wb:
                wb.put(b"k", b"v", keyspace=b)
        standalone = lsm.WriteBatch()
        standalone.put(b"k", b"v", keyspace=a)
        with pytest.raises(lsm.InvalidArgumentError, match="another database"):
            standalone.put(b"k", b"v", keyspace=b)
        with pytest.raises(lsm.InvalidArgumentError, match="another database"):
            two.write(standalone)
        with pytest.raises(lsm.InvalidArgumentError, match="another database"):
            asyncio.run(two.awrite(standalone))
        one.write(standalone)
        assert a[b"k"] == b"v" and b"k" not in b
        standalone.clear()
        standalone.put(b"k2", b"v", keyspace=b)
        two.write(standalone)  # cleared: now a batch of `two`
        assert b[b"k2"] == b"v"
        with one.snapshot() as snap:
            with pytest.raises(lsm.InvalidArgumentError, match="another database"):
                snap.get(b"k", keyspace=b)
            with pytest.raises(lsm.InvalidArgumentError, match="another database"):
                snap.items(keyspace=b)
        with one.transaction() as tx:
            with pytest.raises(lsm.InvalidArgumentError, match="another database"):
                tx.keyspace(b)


def test_a_cycle_through_a_keyspace_is_collected(path: Path) -> None:
    db = lsm.open(path)
    db.users = db.keyspace("users")  # type: ignore[attr-defined]
    db.users[b"k"] = b"v"  # type: ignore[attr-defined]
    del db
    gc.collect()
    with lsm.open(path) as again:  # not LockedError: the cycle was collected, closing it
        assert again.keyspace("users")[b"k"] == b"v"
