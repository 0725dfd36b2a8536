"""Mutable buffers (bytearray, writable or read-only memoryviews of one) mutated by
another thread while a call that released the GIL uses them: the engine must see one
state of the buffer, never a mix (issue 10, item 6)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lsm

if TYPE_CHECKING:
    from typing_extensions import Buffer

VALUE = 1 << 20  # big enough that the engine's copy of it outlasts a mutation
KEY = 512 << 10  # keys may be up to 1 MiB
ROUNDS = 60


@contextmanager
def flipping(buf: bytearray) -> Iterator[None]:
    """A thread rewrites `buf` as all-'a', then all-'b', until the block ends."""
    a, b = b"a" * len(buf), b"b" * len(buf)
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            buf[:] = a
            buf[:] = b

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over as soon as the engine drops it
    t = threading.Thread(target=flip)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)


def uniform(v: bytes) -> bool:
    return len(v) > 0 and v.count(v[:1]) == len(v)


Wrap = Callable[[bytearray], "Buffer"]
WRAPS: list[tuple[str, Wrap]] = [
    ("bytearray", lambda b: b),
    ("memoryview", memoryview),
    ("readonly_memoryview", lambda b: memoryview(b).toreadonly()),
]


@pytest.mark.parametrize("wrap", [w for _, w in WRAPS], ids=[n for n, _ in WRAPS])
def test_a_value_mutated_during_put_is_stored_whole(path: Path, wrap: Wrap) -> None:
    buf = bytearray(b"a" * VALUE)
    arg = wrap(buf)
    with lsm.open(path) as db, flipping(buf):
        for i in range(ROUNDS):
            db.put(b"k", arg)
            v = db.get(b"k")
            assert v is not None and len(v) == VALUE
            assert uniform(v), f"round {i}: a torn value ({v.count(b'a')} a's)"


@pytest.mark.parametrize("wrap", [w for _, w in WRAPS], ids=[n for n, _ in WRAPS])
def test_a_key_mutated_during_put_is_stored_whole(path: Path, wrap: Wrap) -> None:
    buf = bytearray(b"a" * KEY)
    arg = wrap(buf)
    with lsm.open(path) as db:
        with flipping(buf):
            for _ in range(ROUNDS):
                db.put(arg, b"v")
                db.get(arg)
        keys = list(db.keys())
    for k in keys:
        assert len(k) == KEY and uniform(k), f"a torn key ({k.count(b'a')} a's)"
    assert 1 <= len(keys) <= 2


def test_a_bytearray_put_is_a_copy(db: lsm.DB) -> None:
    buf = bytearray(b"before")
    db.put(b"k", buf)
    buf[:] = b"after!"
    assert db[b"k"] == b"before"


def test_views_of_bytes_and_other_buffers_still_work(db: lsm.DB) -> None:
    import array

    data = b"0123456789"
    db.put(memoryview(data), memoryview(data)[2:5])  # lent as is: bytes cannot change
    assert db[data] == b"234"
    db.put(b"arr", array.array("B", b"xyz"))
    assert db[b"arr"] == b"xyz"
    db.put(b"strided", memoryview(bytearray(b"abcdef"))[::2])
    assert db[b"strided"] == b"ace"
