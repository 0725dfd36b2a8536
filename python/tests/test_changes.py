"""The change feed: db.changes(since=...) replays into a model, purged history raises
ChangesPurgedError, and db.watch(prefix=...) sees every change under its prefix once
while 100 writer tasks run, without blocking the event loop."""

from __future__ import annotations

import asyncio
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

import lsm

Model = dict[tuple[str, bytes], bytes]


def apply(model: Model, ch: lsm.Change) -> None:
    for op in ch.ops:
        if op.kind == "put":
            assert op.value is not None and op.end is None
            model[(op.keyspace, op.key)] = op.value
        elif op.kind == "delete":
            assert op.value is None and op.end is None
            model.pop((op.keyspace, op.key), None)
        elif op.kind == "delete_range":
            assert op.value is None and op.end is not None
            end = op.end
            for k in [k for k in model if k[0] == op.keyspace and op.key <= k[1] < end]:
                del model[k]
        else:
            raise AssertionError(f"unexpected kind {op.kind!r}")


def replay(db: lsm.DB, since: int, model: Model) -> int:
    """Applies the feed from `since` to `model`; returns the next sequence number."""
    expect = since
    for ch in db.changes(since=since):
        assert ch.seq == expect, "a gap or a repeat"
        assert [op.seq for op in ch.ops] == list(range(ch.seq, ch.last_seq + 1))
        apply(model, ch)
        expect = ch.last_seq + 1
    return expect


def contents(db: lsm.DB, names: list[str]) -> Model:
    out: Model = {("default", k): v for k, v in db.items()}
    for name in names:
        out.update({(name, k): v for k, v in db.keyspace(name).items()})
    return out


def test_the_feed_replays_into_a_dict_model(path: Path) -> None:
    rng = random.Random(5)
    model: Model = {}
    with lsm.open(path, wal_retention="1GiB", memtable_max_entries=200) as db:
        assert db.latest_sequence() == 0
        users = db.keyspace("users")
        nxt = 1
        for rnd in range(6):
            for _ in range(300):
                key = b"k%03d" % rng.randrange(400)
                target: Any = rng.choice([db, users])
                r = rng.random()
                if r < 0.6:
                    target.put(key, rng.randbytes(rng.randrange(0, 8)))
                elif r < 0.8:
                    target.delete(key)
                elif r < 0.9:
                    end = b"k%03d" % rng.randrange(400)
                    if key < end:
                        target.delete_range(key, end)
                else:
                    with db.write_batch() as wb:
                        wb.put(key, b"batch")
                        wb.put(key, b"in users", keyspace=users)
                        wb.delete(b"k000")
            if rnd == 2:
                db.flush()
            nxt = replay(db, nxt, model)
            assert nxt == db.latest_sequence() + 1
            assert model == contents(db, ["users"])
        # The whole history again, from the first write.
        again: Model = {}
        assert replay(db, 1, again) == nxt
        assert again == model
        assert list(db.changes(since=nxt)) == []
    # And after a reopen.
    with lsm.open(path, wal_retention="1GiB") as db:
        again = {}
        assert replay(db, 1, again) == nxt
        assert again == model == contents(db, ["users"])


def test_changes_of_each_kind_look_as_documented(db: lsm.DB) -> None:
    db.put(b"a", b"")
    db.delete_range(b"a", b"c")
    db.keyspace("logs").delete(b"x")
    put, rng, dele = [ch.ops[0] for ch in db.changes(since=1)]
    assert (put.seq, put.keyspace, put.kind, put.key, put.end, put.value) == (
        1, "default", "put", b"a", None, b"")
    assert (rng.kind, rng.key, rng.end, rng.value) == ("delete_range", b"a", b"c", None)
    assert (dele.keyspace, dele.kind, dele.key, dele.value) == ("logs", "delete", b"x", None)
    ch = next(iter(db.changes(since=3)))
    assert (ch.seq, ch.last_seq, len(ch.ops)) == (3, 3, 1)
    assert "delete_range" in repr(rng) and "Change(seq=3" in repr(ch)
    assert isinstance(db.changes(), lsm.ChangeFeed)


def test_purged_history_raises_changes_purged_error(path: Path) -> None:
    with lsm.open(path, wal_retention="0", memtable_max_entries=200) as db:
        for i in range(1000):
            db.put(b"k%04d" % i, b"v")
        db.flush()
        db.put(b"late", b"v")
        with pytest.raises(lsm.ChangesPurgedError) as info:
            db.changes(since=1)
        e = info.value
        assert isinstance(e, lsm.Error)
        assert 1 < e.oldest <= db.latest_sequence()
        assert f"before sequence {e.oldest} " in str(e)
        copy = pickle.loads(pickle.dumps(e))
        assert isinstance(copy, lsm.ChangesPurgedError) and copy.oldest == e.oldest
        first = next(iter(db.changes(since=e.oldest)))
        assert first.seq == e.oldest


def test_wrong_arguments_raise_type_or_value_errors(db: lsm.DB) -> None:
    for bad in ["1", 1.0, True, b"1"]:
        with pytest.raises(TypeError, match="since must be an int"):
            db.changes(since=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="since must be >= 0"):
        db.changes(since=-1)
    with pytest.raises(TypeError):
        db.changes(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="prefix must be bytes-like"):
        db.watch(prefix="user:")  # type: ignore[arg-type]
    assert list(db.changes(since=0)) == list(db.changes(since=1)) == []


def test_a_closed_database_raises_closed_error(path: Path) -> None:
    db = lsm.open(path)
    db.put(b"k", b"v")
    feed = db.changes(since=1)
    db.close()
    with pytest.raises(lsm.ClosedError):
        next(feed)
    for call in (db.latest_sequence, lambda: db.changes(since=1), db.watch):
        with pytest.raises(lsm.ClosedError):
            call()


def test_watch_sees_100_writers_changes_under_its_prefix_exactly_once(db: lsm.DB) -> None:
    writers, per = 100, 10

    def write(w: int) -> None:
        for i in range(per):
            db.put(b"user:%03d:%02d" % (w, i), b"v")
            db.put(b"other:%03d:%02d" % (w, i), b"v")
        db.delete(b"user:%03d:00" % w)

    async def main() -> None:
        db.put(b"user:before", b"x")
        watch = db.watch(prefix=b"user:")
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        tasks = [asyncio.create_task(asyncio.to_thread(write, w)) for w in range(writers)]
        seen: set[tuple[str, bytes]] = set()
        want = writers * (per + 1)
        last = 0
        while len(seen) < want:
            ch = await asyncio.wait_for(anext(watch), 60)
            assert ch.seq > last
            last = ch.last_seq
            for op in ch.ops:
                assert op.key.startswith(b"user:"), op.key
                assert (op.kind, op.key) not in seen, f"twice: {op}"
                seen.add((op.kind, op.key))
        await asyncio.gather(*tasks)
        assert len(seen) == want
        assert ("put", b"user:before") not in seen
        assert ("delete", b"user:042:00") in seen
        # Nothing more; a wait that times out (cancelling __anext__) leaves the watch
        # usable for the next change.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(watch), 0.2)
        db.put(b"other", b"-")
        db.put(b"user:after", b"x")
        ch = await asyncio.wait_for(anext(watch), 30)
        assert [op.key for op in ch.ops] == [b"user:after"]
        stop.set()
        await tick_task
        assert ticks > 50, "the event loop was blocked while the watch waited"
        await watch.aclose()
        assert watch.closed
        with pytest.raises(StopAsyncIteration):
            await anext(watch)

    asyncio.run(main())


def test_watch_subscribes_when_called_and_ends_when_the_database_closes(path: Path) -> None:
    db = lsm.open(path)

    async def main() -> list[bytes]:
        watch = db.watch()
        db.put(b"before-the-loop", b"v")  # committed before `async for` began
        got: list[bytes] = []

        async def consume() -> None:
            async for ch in watch:
                got.extend(op.key for op in ch.ops)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="already waiting"):
            await anext(watch)
        await asyncio.to_thread(db.close)
        await asyncio.wait_for(task, 30)  # the iteration ended
        assert watch.closed
        return got

    assert asyncio.run(main()) == [b"before-the-loop"]
