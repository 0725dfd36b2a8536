"""Many threads at once, and the GIL released during long engine calls."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lsm


def test_eight_threads_read_and_write(path: Path) -> None:
    n = 2000
    errors: list[BaseException] = []
    with lsm.open(path, memtable_max_entries=5000) as db:
        start = threading.Barrier(8)

        def work(t: int) -> None:
            try:
                start.wait()
                for i in range(n):
                    db[b"t%d-%05d" % (t, i)] = b"%d" % i
                    other = (t + 1) % 8
                    v = db.get(b"t%d-%05d" % (other, i))
                    assert v is None or v == b"%d" % i
                    if i % 500 == 0:
                        assert all(k.startswith(b"t%d-" % t) for k in db.keys(prefix=b"t%d-" % t))
                with db.write_batch() as wb:
                    for i in range(0, n, 2):
                        wb.delete(b"t%d-%05d" % (t, i))
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        for t in range(8):
            keys = list(db.keys(prefix=b"t%d-" % t))
            assert keys == [b"t%d-%05d" % (t, i) for i in range(1, n, 2)]
        assert len(db) == 8 * n // 2


def test_compact_releases_the_gil(path: Path) -> None:
    # Many level-0 tables and no background compaction, so compact() has real work.
    with lsm.open(
        path,
        memtable_max_entries=20_000,
        compaction_level0_file_trigger=1000,
        compaction_level0_slowdown_files=1000,
        compaction_level0_stop_files=1000,
    ) as db:
        value = b"v" * 100
        for start in range(0, 200_000, 1000):
            with db.write_batch() as wb:
                for i in range(start, start + 1000):
                    wb.put(b"%016d" % i, value)
        db.flush()

        count = 0
        stop = threading.Event()

        def counter() -> None:
            nonlocal count
            while not stop.is_set():
                count += 1

        th = threading.Thread(target=counter)
        th.start()
        try:
            time.sleep(0.05)
            before = count
            t0 = time.perf_counter()
            db.compact()
            elapsed = time.perf_counter() - t0
            during = count - before
        finally:
            stop.set()
            th.join()
        assert elapsed > 0.02, f"compaction too short to tell ({elapsed:.3f}s)"
        # A held GIL would leave the counter at (almost) nothing for the whole call.
        assert during > 10_000, (during, elapsed)
        assert db.stats()["compactions"] >= 1
        assert db[b"%016d" % 123_456] == value
