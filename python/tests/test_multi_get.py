"""multi_get on the database, a keyspace and a snapshot, and its misuse."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import lsm


def test_multi_get_keeps_order_repeats_and_misses(db: lsm.DB) -> None:
    db[b"a"] = b"1"
    db[b"c"] = b"3"
    db.flush()
    db[b"b"] = b""
    assert db.multi_get([b"c", b"x", b"a", b"b", b"a"]) == [b"3", None, b"1", b"", b"1"]
    assert db.multi_get([]) == []
    mixed: list[memoryview | bytearray] = [memoryview(b"a"), bytearray(b"c")]
    assert db.multi_get(iter(mixed)) == [b"1", b"3"]
    assert db.multi_get({b"a": 0}) == [b"1"]  # any iterable of keys


def test_multi_get_in_a_keyspace_and_a_snapshot(db: lsm.DB) -> None:
    ks = db.keyspace("logs")
    ks[b"k"] = b"in-logs"
    db[b"k"] = b"in-default"
    assert ks.multi_get([b"k", b"z"]) == [b"in-logs", None]
    snap = db.snapshot()
    db[b"k"] = b"later"
    ks[b"k"] = b"later"
    assert snap.multi_get([b"k"]) == [b"in-default"]
    assert snap.multi_get([b"k"], keyspace=ks) == [b"in-logs"]
    assert db.multi_get([b"k"]) == [b"later"]
    snap.close()


def test_multi_get_misuse_is_a_clear_error(db: lsm.DB) -> None:
    with pytest.raises(TypeError, match="keys must be an iterable"):
        db.multi_get(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"keys\[1\] must be bytes-like, not str"):
        db.multi_get([b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"keys\[0\] must be bytes-like, not int"):
        db.multi_get([1])  # type: ignore[list-item]

    def gen() -> Iterator[bytes]:
        yield b"a"
        raise RuntimeError("from the iterable")

    with pytest.raises(RuntimeError, match="from the iterable"):
        db.multi_get(gen())
    ks = db.keyspace("gone")
    db.drop_keyspace("gone")
    with pytest.raises(lsm.InvalidArgumentError, match="gone"):
        ks.multi_get([b"a"])
    db.close()
    with pytest.raises(lsm.ClosedError):
        db.multi_get([b"a"])


def test_multi_get_sees_a_batch_whole_while_it_is_written(db: lsm.DB) -> None:
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            a, b = db.multi_get([b"a", b"b"])
            if a != b:
                errors.append(f"{a!r} != {b!r}")
                return

    t = threading.Thread(target=reader)
    t.start()
    for i in range(3000):
        with db.write_batch() as b:
            b.put(b"a", str(i).encode())
            b.put(b"b", str(i).encode())
    stop.set()
    t.join()
    assert errors == []
