"""A stateful model test: the database against a dict, through every kind of change."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import lsm

keys = st.binary(min_size=0, max_size=3).map(lambda b: bytes(x % 4 + 0x61 for x in b))
values = st.binary(max_size=8)
bounds = st.none() | keys


def model_range(
    model: dict[bytes, bytes], start: bytes | None, stop: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    items = sorted(
        (k, v)
        for k, v in model.items()
        if (start is None or k >= start) and (stop is None or k < stop)
    )
    return items[::-1] if reverse else items


class DatabaseModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="lsm-model-")
        self.path = f"{self.dir}/db"
        self.db = lsm.open(self.path, memtable_max_entries=8)
        self.model: dict[bytes, bytes] = {}
        self.snapshots: list[tuple[lsm.Snapshot, dict[bytes, bytes]]] = []

    def teardown(self) -> None:
        for snap, _ in self.snapshots:
            snap.close()
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(k=keys, v=values)
    def put(self, k: bytes, v: bytes) -> None:
        self.db[k] = v
        self.model[k] = v

    @rule(k=keys)
    def delete(self, k: bytes) -> None:
        self.db.delete(k)
        self.model.pop(k, None)

    @rule(a=keys, b=keys)
    def delete_range(self, a: bytes, b: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self.db.delete_range(a, b)
        for k in [k for k in self.model if a <= k < b]:
            del self.model[k]

    @rule(ops=st.lists(st.tuples(st.booleans(), keys, values), max_size=6), fail=st.booleans())
    def batch(self, ops: list[tuple[bool, bytes, bytes]], fail: bool) -> None:
        try:
            with self.db.write_batch() as wb:
                for is_put, k, v in ops:
                    if is_put:
                        wb.put(k, v)
                    else:
                        wb.delete(k)
                if fail:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            return
        for is_put, k, v in ops:
            if is_put:
                self.model[k] = v
            else:
                self.model.pop(k, None)

    @rule(k=keys)
    def get(self, k: bytes) -> None:
        assert self.db.get(k) == self.model.get(k)
        assert (k in self.db) == (k in self.model)

    @rule(ks=st.lists(keys, max_size=8))
    def multi_get(self, ks: list[bytes]) -> None:
        assert self.db.multi_get(ks) == [self.model.get(k) for k in ks]
        # Any iterable of any bytes-like keys.
        assert self.db.multi_get(bytearray(k) for k in ks) == [self.model.get(k) for k in ks]

    @precondition(lambda self: len(self.snapshots) < 3)
    @rule()
    def take_snapshot(self) -> None:
        self.snapshots.append((self.db.snapshot(), dict(self.model)))

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def check_snapshot(self, data: st.DataObject) -> None:
        snap, frozen = data.draw(st.sampled_from(self.snapshots))
        start, stop = data.draw(bounds), data.draw(bounds)
        reverse = data.draw(st.booleans())
        got = list(snap.items(start=start, stop=stop, reverse=reverse))
        assert got == model_range(frozen, start, stop, reverse)
        k = data.draw(keys)
        assert snap.get(k) == frozen.get(k)
        many = data.draw(st.lists(keys, max_size=5))
        assert snap.multi_get(many) == [frozen.get(k) for k in many]

    @precondition(lambda self: self.snapshots)
    @rule()
    def release_snapshot(self) -> None:
        snap, _ = self.snapshots.pop(0)
        snap.close()

    @rule(start=bounds, stop=bounds, reverse=st.booleans())
    def scan(self, start: bytes | None, stop: bytes | None, reverse: bool) -> None:
        got = list(self.db.items(start=start, stop=stop, reverse=reverse))
        assert got == model_range(self.model, start, stop, reverse)

    @rule(prefix=keys, reverse=st.booleans())
    def scan_prefix(self, prefix: bytes, reverse: bool) -> None:
        got = list(self.db.keys(prefix=prefix, reverse=reverse))
        want = sorted(k for k in self.model if k.startswith(prefix))
        assert got == (want[::-1] if reverse else want)

    @rule()
    def flush(self) -> None:
        self.db.flush()

    @rule()
    def reopen(self) -> None:
        for snap, _ in self.snapshots:
            snap.close()
        self.snapshots.clear()
        self.db.close()
        self.db = lsm.open(self.path, memtable_max_entries=8)

    @invariant()
    def same_length(self) -> None:
        assert len(self.db) == len(self.model)


DatabaseModel.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
TestDatabaseModel = DatabaseModel.TestCase
