"""db_bench-style workloads from Python: lsm against rocksdict, plyvel, lmdb, sqlite3.

    python python/bench/bench.py [--num 1000000] [--engines lsm,rocksdict,...]

Workloads (16-byte keys, 100-byte values, no fsync on any engine):
  fillseq     put every key in order into an empty database
  fillrandom  put every key in random order into an empty database
  readrandom  get every key in random order (the fillrandom database)
  readseq     iterate over every (key, value) pair in order
  fillbatch   put every key in random order, 1,000 per atomic batch

Each engine runs with its defaults except: rocksdict in raw mode (bytes, no pickling);
lmdb with sync=False, one write transaction per put (per batch for fillbatch) and one
read transaction for each read workload; sqlite3 with journal_mode=WAL,
synchronous=OFF, autocommit per put, a WITHOUT ROWID table. Engines that are not
installed are skipped. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

VALUE_SIZE = 100
BATCH = 1000


class Engine:
    name = ""

    def open(self, path: str) -> None: ...
    def put(self) -> Callable[[bytes, bytes], Any]: ...
    def get(self) -> Callable[[bytes], Any]: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None: ...
    def close(self) -> None: ...


class Lsm(Engine):
    name = "lsm"

    def open(self, path: str) -> None:
        import lsm

        self.db = lsm.open(path)

    def put(self) -> Callable[[bytes, bytes], Any]:
        return self.db.put

    def get(self) -> Callable[[bytes], Any]:
        return self.db.get

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return self.db.items()

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch() as wb:
            put = wb.put
            for k, v in pairs:
                put(k, v)

    def close(self) -> None:
        self.db.close()


class RocksDict(Engine):
    name = "rocksdict"

    def open(self, path: str) -> None:
        import rocksdict

        self.mod = rocksdict
        self.db = rocksdict.Rdict(path, options=rocksdict.Options(raw_mode=True))

    def put(self) -> Callable[[bytes, bytes], Any]:
        return self.db.put

    def get(self) -> Callable[[bytes], Any]:
        return self.db.get

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return self.db.items()

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        wb = self.mod.WriteBatch(raw_mode=True)
        put = wb.put
        for k, v in pairs:
            put(k, v)
        self.db.write(wb)

    def close(self) -> None:
        self.db.close()


class Plyvel(Engine):
    name = "plyvel"

    def open(self, path: str) -> None:
        import plyvel

        self.db = plyvel.DB(path, create_if_missing=True)

    def put(self) -> Callable[[bytes, bytes], Any]:
        return self.db.put

    def get(self) -> Callable[[bytes], Any]:
        return self.db.get

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.db)

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch() as wb:
            put = wb.put
            for k, v in pairs:
                put(k, v)

    def close(self) -> None:
        self.db.close()


class Lmdb(Engine):
    name = "lmdb"

    def open(self, path: str) -> None:
        import lmdb

        self.env = lmdb.open(path, map_size=8 << 30, sync=False)
        self.read_txn: Any = None

    def put(self) -> Callable[[bytes, bytes], Any]:
        env = self.env

        def put(k: bytes, v: bytes) -> None:
            with env.begin(write=True) as txn:
                txn.put(k, v)

        return put

    def get(self) -> Callable[[bytes], Any]:
        self.read_txn = self.env.begin(buffers=False)
        return self.read_txn.get

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        txn = self.env.begin()
        return iter(txn.cursor())

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        with self.env.begin(write=True) as txn:
            put = txn.put
            for k, v in pairs:
                put(k, v)

    def close(self) -> None:
        if self.read_txn is not None:
            self.read_txn.abort()
        self.env.close()


class Sqlite(Engine):
    name = "sqlite3"

    def open(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(path, "kv.sqlite"), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"
        )

    def put(self) -> Callable[[bytes, bytes], Any]:
        execute = self.db.execute

        def put(k: bytes, v: bytes) -> None:
            execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, v))

        return put

    def get(self) -> Callable[[bytes], Any]:
        execute = self.db.execute

        def get(k: bytes) -> Any:
            row = execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
            return None if row is None else row[0]

        return get

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.db.execute("SELECT k, v FROM kv ORDER BY k"))

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", pairs)
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


ENGINES: dict[str, type[Engine]] = {
    e.name: e for e in (Lsm, RocksDict, Plyvel, Lmdb, Sqlite)
}
WORKLOADS = ["fillseq", "fillrandom", "readrandom", "readseq", "fillbatch"]


def available(name: str) -> bool:
    module = {"lsm": "lsm", "rocksdict": "rocksdict", "plyvel": "plyvel", "lmdb": "lmdb"}
    if name not in module:
        return True
    try:
        __import__(module[name])
    except ImportError:
        return False
    return True


def timed(n: int, f: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    f()
    return n / (time.perf_counter() - t0)


def run_engine(cls: type[Engine], n: int, root: str) -> dict[str, float]:
    rng = random.Random(42)
    seq = [b"%016d" % i for i in range(n)]
    shuffled = seq[:]
    rng.shuffle(shuffled)
    lookups = seq[:]
    rng.shuffle(lookups)
    value_pool = os.urandom(VALUE_SIZE * 2)
    value = value_pool[:VALUE_SIZE]
    result: dict[str, float] = {}

    def fresh(tag: str) -> Engine:
        path = os.path.join(root, f"{cls.name}-{tag}")
        shutil.rmtree(path, ignore_errors=True)
        e = cls()
        e.open(path)
        return e

    e = fresh("seq")

    def fill_seq() -> None:
        put = e.put()
        for k in seq:
            put(k, value)

    result["fillseq"] = timed(n, fill_seq)
    e.close()

    e = fresh("random")

    def fill_random() -> None:
        put = e.put()
        for k in shuffled:
            put(k, value)

    result["fillrandom"] = timed(n, fill_random)

    def read_random() -> None:
        get = e.get()
        found = 0
        for k in lookups:
            if get(k) is not None:
                found += 1
        assert found == n, (cls.name, found)

    result["readrandom"] = timed(n, read_random)

    def read_seq() -> None:
        count = 0
        for _k, _v in e.items():
            count += 1
        assert count == n, (cls.name, count)

    result["readseq"] = timed(n, read_seq)
    e.close()

    e = fresh("batch")

    def fill_batch() -> None:
        for i in range(0, n, BATCH):
            e.write_batch([(k, value) for k in shuffled[i : i + BATCH]])

    result["fillbatch"] = timed(n, fill_batch)
    e.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=1_000_000)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--dir", default=None, help="where to put the databases (default: a temporary directory)")
    args = ap.parse_args()

    names = [n for n in args.engines.split(",") if n]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        ap.error(f"unknown engines: {', '.join(unknown)}")
    root = tempfile.mkdtemp(prefix="lsm-pybench-", dir=args.dir)
    results: dict[str, dict[str, float]] = {}
    try:
        for name in names:
            if not available(name):
                print(f"{name}: not installed, skipped", file=sys.stderr)
                continue
            print(f"running {name} ({args.num:,} keys)...", file=sys.stderr, flush=True)
            results[name] = run_engine(ENGINES[name], args.num, root)
            shutil.rmtree(root, ignore_errors=True)
            os.makedirs(root, exist_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    engines = list(results)
    print(f"\nops/s, {args.num:,} keys, 16 B keys, {VALUE_SIZE} B values, batches of {BATCH}\n")
    header = f"| {'workload':<11} | " + " | ".join(f"{e:>10}" for e in engines) + " |"
    print(header)
    print("|" + "-" * 13 + "|" + "|".join("-" * 12 for _ in engines) + "|")
    for w in WORKLOADS:
        cells = " | ".join(f"{results[e][w]:>10,.0f}" for e in engines)
        print(f"| {w:<11} | {cells} |")
    if "lsm" in results and len(engines) > 1:
        print("\nlsm / other (above 1: lsm is faster)\n")
        others = [e for e in engines if e != "lsm"]
        print(f"| {'workload':<11} | " + " | ".join(f"{e:>10}" for e in others) + " |")
        print("|" + "-" * 13 + "|" + "|".join("-" * 12 for _ in others) + "|")
        for w in WORKLOADS:
            cells = " | ".join(f"{results['lsm'][w] / results[e][w]:>10.2f}" for e in others)
            print(f"| {w:<11} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
