"""Time to live from Python: put(..., ttl=seconds) on the database, a keyspace and a
batch, the keyspace and database ttl option, and misuse. The engine's clock is the
system's here, so expiries are short and waited for (the clock only moves forward:
once a TTL has passed, the entry is gone for good)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import lsm


def test_put_with_ttl_expires(path: Path) -> None:
    with lsm.open(path) as db:
        db.put(b"short", b"1", ttl=0.01)
        db.put(b"long", b"2", ttl=3600)
        db.put(b"plain", b"3")
        ks = db.keyspace("sessions")
        ks.put(b"k", b"4", ttl=0.01)
        ks.put(b"stays", b"5", ttl=3600.5)
        b = lsm.WriteBatch()
        b.put(b"batch", b"6", ttl=0.01)
        b.put(b"batch-ks", b"7", keyspace=ks, ttl=0.01)
        db.write(b)
        db.put(b"synced", b"8", ttl=0.01, sync=True)
        time.sleep(0.05)
        for k in [b"short", b"batch", b"synced"]:
            assert db.get(k) is None, k
        assert db[b"long"] == b"2"
        assert db[b"plain"] == b"3"
        assert ks.get(b"k") is None
        assert ks.get(b"batch-ks") is None
        assert ks[b"stays"] == b"5"
        assert dict(db.items()) == {b"long": b"2", b"plain": b"3"}
        db.flush()
        db.compact()
        assert dict(db.items()) == {b"long": b"2", b"plain": b"3"}
    with lsm.open(path) as db:
        assert db.get(b"short") is None
        assert db[b"long"] == b"2"


def test_default_ttls(path: Path) -> None:
    with lsm.open(path, ttl="1h") as db:
        ks = db.keyspace("cache", ttl="1s")
        ks.put(b"k", b"v")
        db.put(b"d", b"v")
        assert ks[b"k"] == b"v"
        time.sleep(1.05)
        assert ks.get(b"k") is None
        assert db[b"d"] == b"v"


def test_ttl_misuse(path: Path) -> None:
    with lsm.open(path) as db:
        for bad in [0, -1, float("nan"), float("inf")]:
            with pytest.raises(ValueError, match="ttl"):
                db.put(b"k", b"v", ttl=bad)
        for wrong in ["10", b"10", True, None.__class__]:
            with pytest.raises(TypeError, match="ttl"):
                db.put(b"k", b"v", ttl=wrong)  # type: ignore[arg-type]
        assert db.get(b"k") is None
        with pytest.raises(TypeError):
            lsm.WriteBatch().put(b"k", b"v", ttl="1")  # type: ignore[arg-type]
    with pytest.raises(lsm.ConfigError, match="ttl"):
        lsm.open(path, ttl="soon")
