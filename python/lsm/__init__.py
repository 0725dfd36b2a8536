"""lsm: an embedded LSM-tree key-value store.

>>> import lsm, tempfile, os
>>> with lsm.open(os.path.join(tempfile.mkdtemp(), "db")) as db:
...     db[b"k"] = b"v"
...     db[b"k"]
b'v'

Keys and values are bytes (``bytes``, ``bytearray`` or ``memoryview`` in, ``bytes``
out) and keys sort bytewise. A :class:`DB` is a :class:`collections.abc.MutableMapping`;
``len(db)`` counts the keys by scanning them all. Every call that may touch the disk
releases the GIL, and one database may be used from many threads at once. The
``a``-prefixed ``async`` methods (``aget``, ``aput``, ...) run on the engine's own
Tokio runtime and complete asyncio futures.

A database holds named keyspaces (``db.keyspace("users")``, a :class:`Keyspace`),
each a mapping like the database itself; the database's own methods work on the
keyspace ``"default"``. Write batches, snapshots and transactions span keyspaces.

The change feed: ``db.changes(since=seq)`` iterates over the committed batches (each a
:class:`Change` of :class:`ChangeOp`) from a sequence number on, as far back as the
option ``wal_retention`` keeps them (else :class:`ChangesPurgedError`), and
``async for ch in db.watch(prefix=b"user:")`` waits for new ones.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import _lsm
from ._lsm import (
    Change,
    ChangeFeed,
    ChangeOp,
    Iterator,
    Snapshot,
    TransactionKeyspace,
    WriteBatch,
)

__all__ = [
    "DB",
    "Change",
    "ChangeFeed",
    "ChangeOp",
    "ChangesPurgedError",
    "ClosedError",
    "ConfigError",
    "ConflictError",
    "CorruptionError",
    "Error",
    "IOError",
    "InvalidArgumentError",
    "Iterator",
    "KEYSPACE_OPTIONS",
    "Keyspace",
    "LockedError",
    "OPTIONS",
    "Snapshot",
    "Transaction",
    "TransactionKeyspace",
    "Watch",
    "WriteBatch",
    "open",
]

__version__: str = _lsm.__version__

#: The keyword options :func:`open` accepts: the config keys with the first dot
#: replaced by an underscore (``memtable.max_entries`` → ``memtable_max_entries``).
OPTIONS: list[str] = list(_lsm.OPTIONS)

#: The keyword options :meth:`DB.keyspace` accepts: those of :data:`OPTIONS` a
#: keyspace may set for itself (memtable, table and level shape).
KEYSPACE_OPTIONS: list[str] = list(_lsm.KEYSPACE_OPTIONS)


class Error(Exception):
    """The base class of every error lsm raises."""


class CorruptionError(Error):
    """Data on disk does not match its checksum or format (the message names the file
    and offset)."""


class LockedError(Error):
    """Another handle, in this process or another, holds the database."""


class ConfigError(Error):
    """An option or a config file key is unknown or has a bad value (the message names
    it)."""


class ClosedError(Error):
    """The database (or the snapshot) was closed."""


class IOError(Error, OSError):  # noqa: A001 - lsm.IOError, an OSError subclass
    """An operating-system failure; ``errno`` is set when the OS reported one."""


class InvalidArgumentError(Error, ValueError):
    """An argument the engine cannot accept (e.g. ``delete_range`` with start > end)."""


class ConflictError(Error):
    """A transaction's commit found that something it read was written by another
    commit after the transaction began; nothing of it was applied. Run it again
    (``db.transact`` does)."""


class ChangesPurgedError(Error):
    """The change feed was asked for history that is no longer kept (the option
    ``wal_retention`` says how much is); ``oldest`` is the first sequence number it
    can still start from."""

    def __init__(self, message: str, oldest: int) -> None:
        super().__init__(message)
        self.oldest = oldest

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.oldest))


_T = TypeVar("_T")


def _resolve(fut: asyncio.Future[Any], exc: BaseException | None, value: Any) -> None:
    """Completes ``fut`` on its loop; called through ``call_soon_threadsafe`` from the
    engine's runtime. A future cancelled in the meantime is left alone."""
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


_lsm._register(
    Error,
    CorruptionError,
    LockedError,
    ConfigError,
    ClosedError,
    IOError,
    InvalidArgumentError,
    ConflictError,
    ChangesPurgedError,
    _resolve,
)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Watch:
    """New changes under a key prefix, as they commit: ``db.watch(prefix=b"user:")``,
    an async iterator of :class:`Change` (each with only its operations under the
    prefix; a range delete when its range holds such keys).

    Every batch committed after ``watch()`` returned arrives once, in commit order,
    also those committed before the ``async for`` began. Waiting holds no thread: the
    event loop watches a file descriptor the engine writes to when a batch is
    published. The iteration ends when the database is closed, or after
    :meth:`aclose`. One task at a time may wait on a watch. Batches wait in memory
    until taken, so close a watch nobody reads any more.
    """

    def __init__(self, native: _lsm._Watch) -> None:
        self._native = native
        self._waiting = False

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Change:
        if self._waiting:
            raise RuntimeError("another task is already waiting on this watch")
        self._waiting = True
        try:
            while True:
                change: Change | None = self._native.poll()
                if change is not None:
                    return change
                loop = asyncio.get_running_loop()
                woken: asyncio.Future[None] = loop.create_future()
                fd = self._native.fileno()
                loop.add_reader(fd, _wake, woken)
                try:
                    await woken
                finally:
                    loop.remove_reader(fd)
        finally:
            self._waiting = False

    async def aclose(self) -> None:
        """Ends the watch (releases its subscription); the iteration then stops."""
        self.close()

    def close(self) -> None:
        """As :meth:`aclose`, from synchronous code."""
        if self._waiting:
            raise RuntimeError("a task is waiting on this watch: cancel it first")
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once the watch was closed or its iteration ended."""
        return bool(self._native.closed)

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Transaction(_lsm._Transaction):
    """An optimistic, serializable transaction: ``db.transaction()``.

    Reads (``tx[key]``, ``tx.get``, ``key in tx``, ``tx.items(...)``) see the database
    as it was when the transaction began, plus the transaction's own writes; writes
    (``tx[key] = value``, ``tx.put``, ``tx.delete``) wait for :meth:`commit`, which
    applies them all at once or raises :class:`ConflictError` (applying nothing) when
    something the transaction read was written by another commit meanwhile.

    As a context manager it commits when the block exits cleanly and discards the
    writes when it raises::

        with db.transaction() as tx:
            tx[b"n"] = str(int(tx[b"n"]) + 1).encode()

    ``tx.keyspace("users")`` (a name or a :class:`Keyspace`) is a
    :class:`TransactionKeyspace`: the same reads and writes, in that keyspace, as part
    of this transaction.

    A transaction is over after ``commit`` or ``rollback``; using it then raises
    :class:`InvalidArgumentError`.
    """

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self.done:
            self.commit()
        else:
            self.rollback()

    async def aget(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """``get`` for asyncio."""
        value: bytes | None = await self._aget(asyncio.get_running_loop(), key)
        return default if value is None else value

    async def aput(self, key: bytes, value: bytes) -> None:
        """``put`` for asyncio (writes wait in memory for the commit: this never
        blocks)."""
        self.put(key, value)

    async def adelete(self, key: bytes) -> None:
        """``delete`` for asyncio."""
        self.delete(key)

    async def acommit(self, *, sync: bool = False) -> None:
        """``commit`` for asyncio; raises :class:`ConflictError` like ``commit``."""
        await self._acommit(asyncio.get_running_loop(), sync)


class Keyspace(_lsm._Keyspace, MutableMapping[bytes, bytes]):
    """A keyspace of a database: ``db.keyspace(name, **options)``.

    A mapping like :class:`DB` (``ks[k]``, ``ks.get``, ``ks.put``, ``ks.delete``,
    ``ks.delete_range``, ``items``/``keys``/``values`` with ``start=``, ``stop=``,
    ``prefix=``, ``reverse=``, slicing, ``len()`` by a scan, the asyncio forms) over its
    own keys: the same key in two keyspaces is two entries. It keeps its database
    object alive; after ``db.close()`` using it raises :class:`ClosedError`, and after
    ``db.drop_keyspace(name)`` :class:`InvalidArgumentError`.
    """

    def __repr__(self) -> str:
        state = " (dropped)" if self.dropped else ""
        return f"<lsm.Keyspace {self.name!r} of {os.fspath(self.db.path)!r}{state}>"

    def clear(self) -> None:
        """Deletes every key of the keyspace (one range deletion)."""
        first = next(self.keys(), None)
        if first is None:
            return
        last: bytes = next(self.keys(reverse=True))
        self.delete_range(first, last + b"\x00")

    async def aget(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """``get`` for asyncio."""
        value: bytes | None = await self._aget(asyncio.get_running_loop(), key)
        return default if value is None else value

    async def aput(self, key: bytes, value: bytes) -> None:
        """``put`` for asyncio."""
        await self._aput(asyncio.get_running_loop(), key, value)

    async def adelete(self, key: bytes) -> None:
        """``delete`` for asyncio."""
        await self._adelete(asyncio.get_running_loop(), key)

    async def adelete_range(self, start: bytes, end: bytes) -> None:
        """``delete_range`` for asyncio."""
        await self._adelete_range(asyncio.get_running_loop(), start, end)

    async def acompact(self) -> None:
        """``compact`` for asyncio."""
        await self._acompact(asyncio.get_running_loop())


class DB(_lsm._Db, MutableMapping[bytes, bytes]):
    """An open database: ``lsm.open(path, **options)``.

    The dict protocol works as on a ``dict`` with bytes keys, with two differences:
    ``len(db)`` scans every key, and ``del db[key]`` does not raise ``KeyError`` for a
    missing key (it is ``db.delete(key)``; checking would cost a read).
    ``db[start:stop]`` iterates over the ``(key, value)`` pairs in ``[start, stop)``.
    """

    def __enter__(self) -> DB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " (closed)" if self.closed else ""
        return f"<lsm.DB {os.fspath(self.path)!r}{state}>"

    def stats(self) -> dict[str, Any]:
        """Counters, latency percentiles and the shape of the tree."""
        result: dict[str, Any] = json.loads(self._stats_json())
        return result

    def clear(self) -> None:
        """Deletes every key (one range deletion from the first key to the last)."""
        first = next(self.keys(), None)
        if first is None:
            return
        last: bytes = next(self.keys(reverse=True))
        self.delete_range(first, last + b"\x00")

    def keyspace(self, name: str, **options: int | str | bool) -> Keyspace:
        """The keyspace ``name`` (1 to 64 characters of ``A-Z a-z 0-9 _ . -``), created
        if it does not exist, with the database's options and ``options`` over them:
        per-keyspace config keys with the first dot as an underscore
        (``sstable_compression="lz4"``, ``memtable_max_entries=10_000``; the list is
        :data:`KEYSPACE_OPTIONS`). They are fixed at creation and persisted: opening it
        again takes no options or the same ones, else :class:`InvalidArgumentError`.
        An option that is not per keyspace raises :class:`ConfigError`."""
        return Keyspace(self, name, **options)

    def transaction(self) -> Transaction:
        """Begins an optimistic, serializable transaction (see :class:`Transaction`)."""
        return Transaction(self)

    def watch(self, prefix: bytes | None = None) -> Watch:
        """The batches committed from now on that touch a key starting with ``prefix``
        (of any keyspace; ``None`` or ``b""``: every batch), as an async iterator (see
        :class:`Watch`)::

            async for ch in db.watch(prefix=b"user:"):
                for op in ch.ops: ...

        It subscribes when called, so nothing committed after this returns is missed.
        """
        return Watch(self._watch(prefix))

    def transact(self, fn: Callable[[Transaction], _T], retries: int = 10) -> _T:
        """Runs ``fn(tx)`` in a new transaction and commits it; on
        :class:`ConflictError` runs it again, up to ``retries`` more times, then raises
        the last one. ``fn`` must be safe to run more than once: only the run whose
        commit succeeds has an effect. Returns what that run returned; any other
        exception from ``fn`` discards the transaction and propagates."""
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidArgumentError(f"retries must be an int >= 0, not {retries!r}")
        attempt = 0
        while True:
            tx = self.transaction()
            try:
                result = fn(tx)
                tx.commit()
                return result
            except ConflictError:
                if attempt >= retries:
                    raise
                attempt += 1
            finally:
                tx.rollback()

    # asyncio: each call runs on the engine's Tokio runtime and completes a future of
    # the running loop; the event loop thread never blocks on the engine.

    async def aget(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """``get`` for asyncio."""
        value: bytes | None = await self._aget(asyncio.get_running_loop(), key)
        return default if value is None else value

    async def aput(self, key: bytes, value: bytes) -> None:
        """``put`` for asyncio."""
        await self._aput(asyncio.get_running_loop(), key, value)

    async def adelete(self, key: bytes) -> None:
        """``delete`` for asyncio."""
        await self._adelete(asyncio.get_running_loop(), key)

    async def adelete_range(self, start: bytes, end: bytes) -> None:
        """``delete_range`` for asyncio."""
        await self._adelete_range(asyncio.get_running_loop(), start, end)

    async def awrite(self, batch: WriteBatch, *, sync: bool = False) -> None:
        """``write`` for asyncio."""
        await self._awrite(asyncio.get_running_loop(), batch, sync)

    async def aflush(self) -> None:
        """``flush`` for asyncio."""
        await self._aflush(asyncio.get_running_loop())

    async def async_sync(self) -> None:
        """``sync`` for asyncio (``async`` is a keyword, hence the name)."""
        await self._async(asyncio.get_running_loop())

    async def acompact(self) -> None:
        """``compact`` for asyncio."""
        await self._acompact(asyncio.get_running_loop())

    async def acheckpoint(self, path: str | os.PathLike[str]) -> None:
        """``checkpoint`` for asyncio."""
        await self._acheckpoint(asyncio.get_running_loop(), os.fspath(path))

    async def averify(self) -> dict[str, Any]:
        """``verify`` for asyncio."""
        report: dict[str, Any] = await self._averify(asyncio.get_running_loop())
        return report


def open(  # noqa: A001 - lsm.open, like dbm.open and shelve.open
    path: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    **options: int | str | bool | os.PathLike[str],
) -> DB:
    """Opens (creating if needed) the database in directory ``path``.

    ``config`` names a ``config.toml`` to start from; keyword options then override it,
    named like the config keys with the first dot as an underscore
    (``memtable_max_entries=100_000``, ``wal_sync="10ms"``, ``sstable_compression="lz4"``;
    see :data:`OPTIONS`). An unknown option or a bad value raises :class:`ConfigError`
    naming it; a database another handle holds raises :class:`LockedError`.
    """
    return DB(path, config=config, **options)

