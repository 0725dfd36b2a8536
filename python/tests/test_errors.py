"""Wrong types, closed handles, locks, corruption, bad options: the exception tree."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import lsm


def test_exception_tree() -> None:
    for cls in (
        lsm.CorruptionError,
        lsm.LockedError,
        lsm.ConfigError,
        lsm.ClosedError,
        lsm.IOError,
        lsm.InvalidArgumentError,
    ):
        assert issubclass(cls, lsm.Error)
    assert issubclass(lsm.Error, Exception)
    assert issubclass(lsm.IOError, OSError)
    assert issubclass(lsm.InvalidArgumentError, ValueError)


@pytest.mark.parametrize(
    ("bad", "name"),
    [("text", "str"), (1, "int"), (None, "NoneType"), ([1], "list"), (1.5, "float")],
)
def test_wrong_types_name_the_type(db: lsm.DB, bad: object, name: str) -> None:
    with pytest.raises(TypeError, match=f"key must be bytes-like, not {name}"):
        db.get(bad)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=f"key must be bytes-like, not {name}"):
        db[bad]  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=f"key must be bytes-like, not {name}"):
        db.put(bad, b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"value must be bytes-like, not {name}"):
        db.put(b"k", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"value must be bytes-like, not {name}"):
        db[b"k"] = bad  # type: ignore[assignment]
    with pytest.raises(TypeError, match="must be bytes-like"):
        db.delete(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes-like"):
        db.delete_range(bad, b"z")  # type: ignore[arg-type]
    if bad is not None:  # None is "unbounded" there
        with pytest.raises(TypeError, match="must be bytes-like"):
            db.items(start=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes-like"):
        bad in db
    wb = lsm.WriteBatch()
    with pytest.raises(TypeError, match=f"key must be bytes-like, not {name}"):
        wb.put(bad, b"v")  # type: ignore[arg-type]
    with db.snapshot() as snap, pytest.raises(TypeError, match="must be bytes-like"):
        snap.get(bad)  # type: ignore[call-overload]
    assert len(db) == 0


def test_non_byte_buffer_is_a_type_error(db: lsm.DB) -> None:
    import array

    with pytest.raises(TypeError, match="key must be bytes-like, not array"):
        db.put(array.array("i", [1, 2]), b"v")


def test_a_bytearray_cannot_be_resized_while_in_use(db: lsm.DB) -> None:
    key = bytearray(b"k")
    db[key] = b"v"
    key.extend(b"2")  # no export outlives the call
    assert db[b"k"] == b"v"


def test_closed_database(path: Path) -> None:
    db = lsm.open(path)
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    it = db.items()
    assert next(it) == (b"a", b"1")
    snap = db.snapshot()
    snap_it = snap.keys()
    batch = db.write_batch()
    db.close()
    calls: list[Callable[[], object]] = [
        lambda: db.get(b"a"),
        lambda: db[b"a"],
        lambda: db.put(b"a", b"1"),
        lambda: db.__setitem__(b"a", b"1"),
        lambda: db.__delitem__(b"a"),
        lambda: db.delete(b"a"),
        lambda: db.delete_range(b"a", b"b"),
        lambda: b"a" in db,
        lambda: len(db),
        lambda: list(db),
        lambda: db.items(),
        lambda: db[b"a":b"b"],
        lambda: db.write(lsm.WriteBatch()),
        lambda: db.write_batch(),
        lambda: db.snapshot(),
        lambda: db.flush(),
        lambda: db.compact(),
        lambda: db.sync(),
        lambda: db.stats(),
        lambda: db.verify(),
        lambda: db.checkpoint(path.parent / "cp"),
        lambda: next(it),
        lambda: snap.get(b"a"),
        lambda: list(snap.items()),
        lambda: next(snap_it),
    ]
    for call in calls:
        with pytest.raises(lsm.ClosedError):
            call()
    with pytest.raises(lsm.ClosedError):
        with batch:
            batch.put(b"x", b"y")
    db.close()


def test_locked_by_another_process(path: Path) -> None:
    with lsm.open(path):
        code = (
            "import sys, lsm\n"
            "try:\n"
            f"    lsm.open({str(path)!r})\n"
            "except lsm.LockedError as e:\n"
            "    print('LockedError', e)\n"
            "    sys.exit(3)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 3, out.stderr
        assert "LockedError" in out.stdout
        with pytest.raises(lsm.LockedError):  # and in this process
            lsm.open(path)
    with lsm.open(path):  # released on close
        pass


def test_corrupted_sstable(path: Path) -> None:
    with lsm.open(path, cache_persist_on_close=False) as db:
        for i in range(2000):
            db[b"%05d" % i] = b"value-%05d" % i * 4
        db.flush()
    tables = sorted((path / "ss_tables").glob("*.sst"))
    assert tables
    for table in tables:
        data = bytearray(table.read_bytes())
        for off in range(100, len(data) // 2, 97):  # damage the data blocks
            data[off] ^= 0xFF
        table.write_bytes(bytes(data))
    with pytest.raises(lsm.CorruptionError, match="ss_tables"):
        with lsm.open(path) as db:
            try:
                for i in range(2000):
                    db.get(b"%05d" % i)
                list(db.items())
            finally:
                with pytest.raises(lsm.CorruptionError):
                    db.verify()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"memtable_max_entriez": 5}, "memtable_max_entriez"),
        ({"nosuchthing": 1}, "nosuchthing"),
        ({"wal_sync": "sometimes"}, "wal_sync"),
        ({"memtable_max_entries": "lots"}, "memtable_max_entries"),
        ({"sstable_compression": "gzip"}, "sstable_compression"),
        ({"memtable_max_entries": 1.5}, "memtable_max_entries"),
    ],
)
def test_bad_option_names_it(path: Path, options: dict[str, object], named: str) -> None:
    with pytest.raises(lsm.ConfigError, match=named):
        lsm.open(path, **options)  # type: ignore[arg-type]


def test_bad_config_file(path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[memtable]\nmax_entriez = 3\n")
    with pytest.raises(lsm.ConfigError, match="memtable.max_entriez"):
        lsm.open(path, config=cfg)
    with pytest.raises(lsm.ConfigError):
        lsm.open(path, config=tmp_path / "missing.toml")


def test_os_failure_is_an_oserror(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError) as info:
        lsm.open(blocker / "db")
    assert isinstance(info.value, lsm.IOError)
    assert isinstance(info.value, lsm.Error)
    assert info.value.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT)
