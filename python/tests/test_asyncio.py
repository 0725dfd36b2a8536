"""asyncio: futures completed from the engine's runtime."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import lsm


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_thousand_concurrent_puts_and_gets(db: lsm.DB) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        problems: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: problems.append(ctx))
        await asyncio.gather(*(db.aput(b"k%04d" % i, b"v%d" % i) for i in range(1000)))
        values = await asyncio.gather(*(db.aget(b"k%04d" % i) for i in range(1000)))
        assert values == [b"v%d" % i for i in range(1000)]
        # Reads and writes interleaved.
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(db.aput(b"m%04d" % i, b"x")) for i in range(500)
        ]
        tasks += [asyncio.create_task(db.aget(b"k%04d" % i)) for i in range(500)]
        await asyncio.gather(*tasks)
        assert not problems

    run(main())
    assert len(db) == 1500


def test_results_come_from_engine_threads(db: lsm.DB) -> None:
    main_thread = threading.get_ident()
    seen: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def spy(*args: Any, **kw: Any) -> Any:
            seen.append(threading.get_ident())
            return original(*args, **kw)

        loop.call_soon_threadsafe = spy  # type: ignore[method-assign, assignment]
        await db.aput(b"k", b"v")
        assert await db.aget(b"k") == b"v"

    run(main())
    assert len(seen) == 2 and main_thread not in seen


def test_every_async_call(db: lsm.DB, tmp_path: Path) -> None:
    async def main() -> None:
        await db.aput(bytearray(b"a"), memoryview(b"1"))
        await db.aput(b"b", b"2")
        assert await db.aget(b"a") == b"1"
        assert await db.aget(b"missing") is None
        assert await db.aget(b"missing", b"d") == b"d"
        await db.adelete(b"a")
        assert await db.aget(b"a") is None
        wb = lsm.WriteBatch()
        wb.put(b"c", b"3")
        wb.put(b"d", b"4")
        await db.awrite(wb)
        await db.awrite(wb, sync=True)
        await db.adelete_range(b"c", b"d")
        await db.aflush()
        await db.async_sync()
        await db.acompact()
        await db.acheckpoint(tmp_path / "cp")
        report = await db.averify()
        assert report["total_bytes"] > 0

    run(main())
    assert dict(db.items()) == {b"b": b"2", b"d": b"4"}


def test_async_errors(path: Path) -> None:
    async def main() -> None:
        db = lsm.open(path)
        with pytest.raises(TypeError, match="key must be bytes-like, not str"):
            await db.aget("k")  # type: ignore[arg-type]
        with pytest.raises(lsm.InvalidArgumentError):
            await db.adelete_range(b"z", b"a")
        db.close()
        with pytest.raises(lsm.ClosedError):
            await db.aput(b"k", b"v")
        with pytest.raises(lsm.ClosedError):
            await db.aget(b"k")

    run(main())


def test_cancelled_calls_are_harmless(db: lsm.DB) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        problems: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: problems.append(ctx))
        tasks = [asyncio.create_task(db.aput(b"c%03d" % i, b"v")) for i in range(200)]
        await asyncio.sleep(0)
        for t in tasks[::2]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.2)  # let late completions arrive
        assert await db.aget(b"c001") == b"v"
        assert not problems

    run(main())


def test_event_loop_keeps_running_during_compaction(db: lsm.DB) -> None:
    for start in range(0, 20_000, 1000):
        with db.write_batch() as wb:
            for i in range(start, start + 1000):
                wb.put(b"%08d" % i, b"v" * 64)

    async def main() -> None:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(ticker())
        await db.acompact()
        done = True
        await t
        assert ticks > 0

    run(main())
