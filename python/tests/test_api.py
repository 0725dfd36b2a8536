"""The dict protocol, batches, snapshots, iteration and maintenance calls."""

from __future__ import annotations

import collections.abc
from pathlib import Path

import pytest

import lsm


def test_open_returns_a_mutable_mapping(db: lsm.DB) -> None:
    assert isinstance(db, lsm.DB)
    assert isinstance(db, collections.abc.MutableMapping)
    assert not db.closed
    assert "lsm.DB" in repr(db)


def test_dict_protocol(db: lsm.DB) -> None:
    db[b"k"] = b"v"
    assert db[b"k"] == b"v"
    assert b"k" in db
    assert b"missing" not in db
    with pytest.raises(KeyError):
        db[b"missing"]
    assert len(db) == 1
    del db[b"k"]
    assert b"k" not in db
    del db[b"never-there"]  # like delete(): no KeyError (that would cost a read)
    assert len(db) == 0


def test_get_put_delete(db: lsm.DB) -> None:
    assert db.get(b"k") is None
    assert db.get(b"k", b"default") == b"default"
    db.put(b"k", b"v")
    db.put(b"s", b"durable", sync=True)
    assert db.get(b"k") == b"v"
    assert db.get(b"k", b"default") == b"v"
    db.delete(b"k")
    assert db.get(b"k") is None


def test_empty_key_and_value_and_large_value(db: lsm.DB) -> None:
    db[b""] = b""
    assert db[b""] == b""
    big = bytes(range(256)) * 4096
    db[b"big"] = big
    assert db[b"big"] == big
    assert isinstance(db[b"big"], bytes)


def test_bytes_like_in_bytes_out(db: lsm.DB) -> None:
    db[bytearray(b"a")] = memoryview(b"1")
    db.put(memoryview(b"b"), bytearray(b"2"))
    db.put(b"c", memoryview(b"xx3xx")[2:3])  # a sliced (still contiguous) view
    assert db[memoryview(b"a")] == b"1"
    assert db.get(bytearray(b"b")) == b"2"
    assert db[b"c"] == b"3"
    assert all(type(k) is bytes and type(v) is bytes for k, v in db.items())
    # A non-contiguous view is copied.
    db[memoryview(b"axbx")[::2]] = b"strided"
    assert db[b"ab"] == b"strided"


def test_mutable_mapping_mixins(db: lsm.DB) -> None:
    db.update({b"a": b"1", b"b": b"2"})
    assert db.setdefault(b"a", b"x") == b"1"
    assert db.pop(b"a") == b"1"
    assert dict(db.items()) == {b"b": b"2"}
    assert db == {b"b": b"2"}
    db.clear()
    assert len(db) == 0
    db.clear()  # empty: nothing to do


def test_delete_range(db: lsm.DB) -> None:
    for c in b"abcdefgh":
        db[bytes([c])] = b"v"
    db.delete_range(b"c", b"f")
    assert list(db.keys()) == [b"a", b"b", b"f", b"g", b"h"]
    with pytest.raises(lsm.InvalidArgumentError):
        db.delete_range(b"z", b"a")
    with pytest.raises(ValueError):
        db.delete_range(b"z", b"a")


def test_write_batch_commits_on_clean_exit(db: lsm.DB) -> None:
    db[b"b"] = b"old"
    with db.write_batch() as wb:
        wb.put(b"a", b"1")
        wb.delete(b"b")
        wb.put(b"c", b"3")
        wb.delete_range(b"c", b"d")
        assert len(wb) == 4
        assert db.get(b"a") is None  # nothing visible before the commit
    assert db[b"a"] == b"1"
    assert b"b" not in db
    assert b"c" not in db


def test_write_batch_is_dropped_on_exception(db: lsm.DB) -> None:
    db[b"b"] = b"old"

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with db.write_batch() as wb:
            wb.put(b"a", b"1")
            wb.delete(b"b")
            raise Boom
    assert b"a" not in db
    assert db[b"b"] == b"old"


def test_standalone_batch_and_write(db: lsm.DB) -> None:
    wb = lsm.WriteBatch()
    wb.put(b"x", b"1")
    wb.put(b"y", b"2")
    db.write(wb)
    db.write(wb, sync=True)  # the batch keeps its operations
    assert dict(db.items()) == {b"x": b"1", b"y": b"2"}
    wb.clear()
    assert len(wb) == 0


def test_iteration_options(db: lsm.DB) -> None:
    keys = [b"a", b"ab", b"abc", b"b", b"ba", b"c"]
    for k in keys:
        db[k] = k.upper()
    assert list(db) == keys
    assert list(reversed(db)) == keys[::-1]
    assert list(db.keys()) == keys
    assert list(db.values()) == [k.upper() for k in keys]
    assert list(db.items()) == [(k, k.upper()) for k in keys]
    assert list(db.iter()) == list(db.items())
    assert list(db.keys(start=b"ab")) == keys[1:]
    assert list(db.keys(stop=b"b")) == keys[:3]
    assert list(db.keys(start=b"ab", stop=b"ba")) == [b"ab", b"abc", b"b"]
    assert list(db.keys(prefix=b"a")) == [b"a", b"ab", b"abc"]
    assert list(db.keys(prefix=b"a", start=b"ab")) == [b"ab", b"abc"]
    assert list(db.keys(prefix=b"a", stop=b"abc")) == [b"a", b"ab"]
    assert list(db.keys(reverse=True)) == keys[::-1]
    assert list(db.keys(start=b"ab", stop=b"ba", reverse=True)) == [b"b", b"abc", b"ab"]
    assert list(db.keys(prefix=b"b", reverse=True)) == [b"ba", b"b"]
    assert list(db.keys(start=b"x")) == []
    assert list(db.keys(start=b"c", stop=b"a")) == []
    assert list(db.keys(prefix=b"\xff")) == []


def test_prefix_of_ff_bytes(db: lsm.DB) -> None:
    db[b"\xff"] = b"1"
    db[b"\xff\xff"] = b"2"
    db[b"\xfe"] = b"0"
    assert list(db.keys(prefix=b"\xff")) == [b"\xff", b"\xff\xff"]
    assert list(db.keys(prefix=b"\xff", reverse=True)) == [b"\xff\xff", b"\xff"]


def test_slicing(db: lsm.DB) -> None:
    for k in (b"a", b"b", b"c", b"d"):
        db[k] = k
    assert list(db[b"b":b"d"]) == [(b"b", b"b"), (b"c", b"c")]
    assert list(db[b"c":]) == [(b"c", b"c"), (b"d", b"d")]
    assert list(db[:b"b"]) == [(b"a", b"a")]
    assert len(list(db[:])) == 4
    with pytest.raises(TypeError):
        db[b"a":b"c":2]
    with pytest.raises(TypeError, match="start must be bytes-like, not str"):
        db["a":b"c"]


def test_iterators_read_a_fixed_view(db: lsm.DB) -> None:
    for i in range(100):
        db[b"%03d" % i] = b"v"
    it = db.keys()
    assert next(it) == b"000"
    db[b"0005"] = b"new"  # written after the iterator was made
    db.delete(b"050")
    rest = list(it)
    assert b"0005" not in rest
    assert b"050" in rest
    assert len(rest) == 99


def test_long_iteration_crosses_chunks_and_tables(path: Path) -> None:
    with lsm.open(path, memtable_max_entries=1000) as db:
        for i in range(5000):
            db[b"%06d" % i] = b"%d" % i
        keys = list(db.keys())
        assert keys == [b"%06d" % i for i in range(5000)]
        assert list(db.keys(reverse=True)) == keys[::-1]
        assert len(db) == 5000


def test_snapshot(db: lsm.DB) -> None:
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    with db.snapshot() as snap:
        db[b"a"] = b"changed"
        db[b"c"] = b"3"
        del db[b"b"]
        assert snap[b"a"] == b"1"
        assert snap.get(b"b") == b"2"
        assert snap.get(b"c") is None
        assert snap.get(b"c", b"d") == b"d"
        assert b"c" not in snap
        with pytest.raises(KeyError):
            snap[b"c"]
        assert list(snap.items()) == [(b"a", b"1"), (b"b", b"2")]
        assert list(snap) == [b"a", b"b"]
        assert list(snap.keys(reverse=True)) == [b"b", b"a"]
        assert list(snap.values()) == [b"1", b"2"]
        assert list(snap.iter(prefix=b"b")) == [(b"b", b"2")]
        assert list(snap[b"a":b"b"]) == [(b"a", b"1")]
        assert len(snap) == 2
        assert snap.sequence > 0
        it = snap.items()
    # Released: the snapshot refuses, iterators made from it still work.
    with pytest.raises(lsm.ClosedError):
        snap.get(b"a")
    assert list(it) == [(b"a", b"1"), (b"b", b"2")]
    assert db[b"a"] == b"changed"


def test_flush_compact_sync_stats(db: lsm.DB) -> None:
    for i in range(1000):
        db[b"%04d" % i] = b"x" * 100
    db.sync()
    db.flush()
    db.compact()
    db.compact(b"0100", b"0200")
    stats = db.stats()
    assert isinstance(stats, dict)
    assert stats["writes"] == 1000
    assert stats["flushes"] >= 1
    assert isinstance(stats["levels"], list)
    assert sum(level["files"] for level in stats["levels"]) >= 1
    assert "get_latency" in stats
    text = db.get_property("lsm.stats")
    assert text is not None and "writes" in text
    assert db.get_property("no.such.property") is None


def test_checkpoint_and_verify(db: lsm.DB, tmp_path: Path) -> None:
    for i in range(500):
        db[b"%04d" % i] = b"v%d" % i
    db.flush()
    db[b"after-flush"] = b"in the WAL"
    report = db.verify()
    assert report["total_bytes"] > 0
    kinds = {f["kind"] for f in report["files"]}
    assert "table" in kinds
    tables = [f for f in report["files"] if f["kind"] == "table"]
    assert all(len(f["md5"]) == 32 for f in tables)
    backup = tmp_path / "backup"
    db.checkpoint(backup)
    with pytest.raises(lsm.Error):
        db.checkpoint(backup)  # must not exist
    db[b"after-checkpoint"] = b"x"
    with lsm.open(backup) as copy:
        assert copy[b"0042"] == b"v42"
        assert copy[b"after-flush"] == b"in the WAL"
        assert b"after-checkpoint" not in copy
        assert len(copy) == 501


def test_close_and_reopen(path: Path) -> None:
    db = lsm.open(path)
    db[b"k"] = b"v"
    db.close()
    assert db.closed
    db.close()  # twice is fine
    with lsm.open(str(path)) as db2:
        assert db2[b"k"] == b"v"
        assert db2.path == path
    assert db2.closed


def test_options_and_config_file(path: Path, tmp_path: Path) -> None:
    with lsm.open(
        path,
        memtable_max_entries=10,
        wal_sync="10ms",
        sstable_compression="lz4",
        cache_persist_on_close=False,
        sstable_block_size="4KiB",
    ) as db:
        for i in range(100):
            db[b"%d" % i] = b"v"
        db.flush()
        assert db.stats()["flushes"] >= 9
    cfg = tmp_path / "config.toml"
    cfg.write_text("[wal]\nversion = 1\n\n[memtable]\nmax_entries = 10\n")
    with lsm.open(path, config=cfg, memtable_max_entries=20) as db:
        assert len(db) == 100
    assert "memtable_max_entries" in lsm.OPTIONS


def test_garbage_collected_handle_closes(path: Path) -> None:
    db = lsm.open(path)
    db[b"k"] = b"v"
    del db
    import gc

    gc.collect()
    with lsm.open(path) as again:  # the lock was released
        assert again[b"k"] == b"v"
