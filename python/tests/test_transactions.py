"""Optimistic transactions: snapshot reads, own writes, conflicts, write skew, the
context manager, transact() retries, asyncio forms and misuse."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import lsm


def test_reads_its_snapshot_and_own_writes_and_commits_at_once(db: lsm.DB) -> None:
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    tx = db.transaction()
    db[b"late"] = b"x"
    assert tx.get(b"late") is None
    assert b"late" not in tx
    assert tx[b"a"] == b"1"
    tx[b"a"] = b"10"
    del tx[b"b"]
    tx.put(b"c", b"3")
    assert tx[b"a"] == b"10"
    assert tx.get(b"b", b"gone") == b"gone"
    with pytest.raises(KeyError):
        tx[b"b"]
    assert tx.items(start=b"a", stop=b"z") == [(b"a", b"10"), (b"c", b"3")]
    assert db[b"a"] == b"1" and b"c" not in db
    # The range read meets b"late", written after the transaction began: a conflict.
    with pytest.raises(lsm.ConflictError):
        tx.commit()
    assert tx.done
    assert db[b"a"] == b"1" and b"c" not in db

    tx = db.transaction()
    tx[b"a"] = str(int(tx[b"a"]) + 1).encode()
    tx.commit()
    assert db[b"a"] == b"2"


def test_context_manager_commits_on_success_and_discards_on_error(db: lsm.DB) -> None:
    with db.transaction() as tx:
        tx[b"k"] = b"v"
    assert db[b"k"] == b"v"
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx[b"k"] = b"changed"
            raise RuntimeError("boom")
    assert db[b"k"] == b"v"
    assert tx.done
    # A conflict surfaces from the with statement, nothing applied.
    with pytest.raises(lsm.ConflictError):
        with db.transaction() as tx:
            assert tx[b"k"] == b"v"
            db[b"k"] = b"other"
            tx[b"k"] = b"mine"
    assert db[b"k"] == b"other"


def test_write_skew_is_impossible(db: lsm.DB) -> None:
    db[b"oncall/alice"] = b"1"
    db[b"oncall/bob"] = b"1"
    t1, t2 = db.transaction(), db.transaction()
    assert len([v for _, v in t1.items(prefix=b"oncall/") if v == b"1"]) == 2
    assert len([v for _, v in t2.items(prefix=b"oncall/") if v == b"1"]) == 2
    t1[b"oncall/alice"] = b"0"
    t2[b"oncall/bob"] = b"0"
    t1.commit()
    with pytest.raises(lsm.ConflictError):
        t2.commit()
    assert db[b"oncall/bob"] == b"1"


def test_transact_retries_so_no_increment_is_lost(db: lsm.DB) -> None:
    db[b"n"] = b"0"

    def incr(tx: lsm.Transaction) -> int:
        n = int(tx[b"n"]) + 1
        tx[b"n"] = str(n).encode()
        return n

    def worker() -> None:
        for _ in range(100):
            db.transact(incr, retries=1000)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db[b"n"] == b"400"
    assert db.transact(incr) == 401

    runs = 0

    def always_conflicts(tx: lsm.Transaction) -> None:
        nonlocal runs
        runs += 1
        tx.get(b"n")
        db[b"n"] = b"moved"
        tx[b"n"] = b"mine"

    with pytest.raises(lsm.ConflictError):
        db.transact(always_conflicts, retries=3)
    assert runs == 4
    assert db[b"n"] == b"moved"

    def fails(tx: lsm.Transaction) -> None:
        tx[b"n"] = b"never"
        raise KeyError("mine")

    with pytest.raises(KeyError):
        db.transact(fails)
    assert db[b"n"] == b"moved"
    for bad in (-1, "3", True):
        with pytest.raises(lsm.InvalidArgumentError):
            db.transact(incr, retries=bad)  # type: ignore[arg-type]


def test_asyncio_forms(db: lsm.DB) -> None:
    async def main() -> None:
        db[b"a"] = b"1"
        tx = db.transaction()
        assert await tx.aget(b"a") == b"1"
        assert await tx.aget(b"missing", b"d") == b"d"
        await tx.aput(b"b", b"2")
        await tx.adelete(b"a")
        await tx.acommit()
        assert db.get(b"a") is None and db[b"b"] == b"2"
        tx = db.transaction()
        await tx.aget(b"b")
        await db.aput(b"b", b"3")
        await tx.aput(b"b", b"4")
        with pytest.raises(lsm.ConflictError):
            await tx.acommit()
        assert db[b"b"] == b"3"

    asyncio.run(main())


def test_misuse_gives_clear_errors(path: Path) -> None:
    db = lsm.open(path)
    tx = db.transaction()
    tx.commit()
    for use in (
        lambda: tx.get(b"k"),
        lambda: tx.put(b"k", b"v"),
        lambda: tx.delete(b"k"),
        lambda: tx.commit(),
        lambda: tx.items(),
    ):
        with pytest.raises(lsm.InvalidArgumentError, match="transaction is over"):
            use()
    tx.rollback()  # a no-op once over
    tx = db.transaction()
    with pytest.raises(TypeError):
        tx.put("text", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tx.get(123)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        lsm.Transaction("not a db")  # type: ignore[arg-type]
    tx[b"k"] = b"v"
    db.close()
    with pytest.raises(lsm.ClosedError):
        tx.get(b"k")
    with pytest.raises(lsm.ClosedError):
        tx.commit()
    with pytest.raises(lsm.ClosedError):
        db.transaction()
    db = lsm.open(path)
    assert b"k" not in db
    db.close()
