"""approximate_len and approximate_size: estimates from metadata, beside exact len()."""

from __future__ import annotations

from pathlib import Path

import pytest

import lsm


def test_empty_database_is_zero(db: lsm.DB) -> None:
    assert db.approximate_len() == 0
    assert db.approximate_size() == 0
    assert db.approximate_size(b"a", b"z") == 0


def test_estimates_after_a_flush(path: Path) -> None:
    n = 5000
    # Blocks stored as they are, so the sizes compare with the bytes put (the repeated
    # values would compress to almost nothing once compacted).
    with lsm.open(path, memtable_max_entries=1000, sstable_compression="none") as db:
        for i in range(n):
            db[b"key%08d" % i] = b"x" * 100
        assert db.approximate_len() == n  # counted in the memtables before a flush
        db.flush()
        assert n <= db.approximate_len() <= 2 * n
        assert len(db) == n  # exact, and unchanged by the estimate

        everything = db.approximate_size()
        assert everything > n * 50
        tenth = db.approximate_size(b"key%08d" % 0, stop=b"key%08d" % (n // 10))
        half = db.approximate_size(start=b"key%08d" % 0, stop=b"key%08d" % (n // 2))
        assert 0 < tenth <= half <= everything
        assert db.approximate_size(b"key5", b"key5") == 0  # empty range
        assert db.approximate_size(b"zzz") == 0  # past every key
        assert db.approximate_size(bytearray(b"key"), memoryview(b"kez")) == everything


def test_bad_bounds_and_closed(path: Path) -> None:
    db = lsm.open(path)
    with pytest.raises(TypeError):
        db.approximate_size("a")  # type: ignore[arg-type]
    db.close()
    with pytest.raises(lsm.ClosedError):
        db.approximate_len()
    with pytest.raises(lsm.ClosedError):
        db.approximate_size()
