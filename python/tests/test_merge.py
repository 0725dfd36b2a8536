"""Merge operators from Python: the built-ins by name against a dict model (through
flushes, compactions and a reopen), batches and keyspaces, the recorded operator, and
misuse."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lsm


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def model_merge(op: str, existing: bytes | None, operand: bytes) -> bytes:
    if op == "u64_add":
        e = 0 if existing is None else struct.unpack("<Q", existing)[0]
        return u64((e + struct.unpack("<Q", operand)[0]) % (1 << 64))
    if op == "append":
        return (existing or b"") + operand
    if op == "max":
        return operand if existing is None else max(existing, operand)
    return operand if existing is None else min(existing, operand)


keys = st.sampled_from([b"a", b"b", b"c", b"d"])
ops = st.lists(
    st.tuples(
        st.sampled_from(["merge", "merge", "put", "delete", "flush", "compact"]),
        keys,
        st.integers(min_value=0, max_value=(1 << 64) - 1),
        st.binary(min_size=1, max_size=4),
    ),
    max_size=40,
)


@pytest.mark.parametrize("op", ["u64_add", "append", "max", "min"])
@settings(max_examples=15, deadline=None)
@given(history=ops)
def test_builtins_match_a_dict(
    tmp_path_factory: pytest.TempPathFactory,
    op: str,
    history: list[tuple[str, bytes, int, bytes]],
) -> None:
    path = tmp_path_factory.mktemp("merge") / "db"
    model: dict[bytes, bytes] = {}
    with lsm.open(path, merge_operator=op, memtable_max_entries=8) as db:
        for kind, k, n, raw in history:
            v = u64(n % (1 << 64)) if op == "u64_add" else raw
            if kind == "merge":
                db.merge(k, v)
                model[k] = model_merge(op, model.get(k), v)
            elif kind == "put":
                db.put(k, v)
                model[k] = v
            elif kind == "delete":
                db.delete(k)
                model.pop(k, None)
            elif kind == "flush":
                db.flush()
            else:
                db.compact()
        assert dict(db.items()) == model
        for k in [b"a", b"b", b"c", b"d"]:
            assert db.get(k) == model.get(k)
    with lsm.open(path, merge_operator=op) as db:
        assert dict(db.items()) == model


def test_batches_and_keyspaces(path: Path) -> None:
    with lsm.open(path, merge_operator="append") as db:
        ks = db.keyspace("counters", merge_operator="u64_add")
        b = lsm.WriteBatch()
        b.put(b"log", b"a")
        b.merge(b"log", b"b")
        b.merge(b"hits", u64(2), keyspace=ks)
        b.merge(b"hits", u64(3), keyspace=ks)
        db.write(b)
        ks.merge(b"hits", u64(1))
        assert db[b"log"] == b"ab"
        assert ks[b"hits"] == u64(6)


def test_the_operator_is_recorded(path: Path) -> None:
    with lsm.open(path, merge_operator="max") as db:
        db.merge(b"k", b"m")
    with pytest.raises(lsm.ConfigError, match="max"):
        lsm.open(path, merge_operator="min")
    with pytest.raises(lsm.ConfigError, match="max"):
        lsm.open(path)
    with lsm.open(path, merge_operator="max") as db:
        db.merge(b"k", b"a")
        assert db[b"k"] == b"m"


def test_misuse(path: Path) -> None:
    with pytest.raises(lsm.ConfigError, match="merge.operator"):
        lsm.open(path, merge_operator="sum")
    with lsm.open(path) as db:
        with pytest.raises(lsm.InvalidArgumentError, match="merge operator"):
            db.merge(b"k", b"v")
        assert db.get(b"k") is None
        with pytest.raises(TypeError):
            db.merge("k", b"v")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            db.merge(b"k", 5)  # type: ignore[arg-type]
    with lsm.open(path.parent / "counter", merge_operator="u64_add") as db:
        # A u64_add operand must be 8 bytes: the read reports the bad operand.
        db.merge(b"n", b"abc")
        with pytest.raises(lsm.InvalidArgumentError):
            db.get(b"n")
        db.put(b"n", u64(1))
        db.merge(b"n", u64(1))
        assert db[b"n"] == u64(2)
