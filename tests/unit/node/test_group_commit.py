"""Group commit in the store: writes made together share one transaction and one fsync,
a failing write fails alone, and nothing acknowledged is lost to a ``kill -9``."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walrus_node.codec.params import SliverType
from walrus_node.store import group_commit
from walrus_node.store.store import (
    BlobInfo,
    BlobState,
    BlobUnavailableError,
    Store,
    StoreFullError,
)

P = SliverType.PRIMARY


def _id(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def test_writes_queued_behind_a_commit_share_the_next_one(tmp_path: pathlib.Path) -> None:
    """Eight writers arrive while a commit is under way (held here): the next leader
    commits all eight in one transaction, and each returns its own result."""
    store = Store(tmp_path / "db", map_size=1 << 30)
    try:
        for i in range(8):
            store.put_metadata(_id(i), b"meta", BlobInfo(BlobState.REGISTERED, 1))
        before = store.commits
        group = store._group
        results: dict[int, int] = {}
        with group._commit_lock:  # a commit in progress
            threads = [
                threading.Thread(
                    target=lambda i=i: results.__setitem__(
                        i, store.put_slivers([(0, P, _id(i), bytes([i]) * 1000)])
                    )
                )
                for i in range(8)
            ]
            for t in threads:
                t.start()
            _wait_for(lambda: len(group._queue) == 8)
        for t in threads:
            t.join(60)
        assert results == dict.fromkeys(range(8), 1)
        assert store.commits - before == 1
        for i in range(8):
            assert store.get_sliver(0, P, _id(i)) == bytes([i]) * 1000
    finally:
        store.close()


def test_a_failing_write_is_rolled_back_alone(tmp_path: pathlib.Path) -> None:
    """In one group, slivers of a blob without metadata are refused (their caller gets the
    error) while the other writes of the group are committed."""
    store = Store(tmp_path / "db", map_size=1 << 30)
    try:
        store.put_metadata(_id(1), b"meta", BlobInfo(BlobState.REGISTERED, 1))
        group = store._group
        outcome: dict[str, object] = {}

        def good() -> None:
            outcome["good"] = store.put_slivers([(0, P, _id(1), b"x" * 100)])

        def bad() -> None:
            try:
                store.put_slivers([(0, P, _id(2), b"y" * 100)])
            except BlobUnavailableError as e:
                outcome["bad"] = e

        with group._commit_lock:
            threads = [threading.Thread(target=good), threading.Thread(target=bad)]
            for t in threads:
                t.start()
            _wait_for(lambda: len(group._queue) == 2)
        for t in threads:
            t.join(60)
        assert outcome["good"] == 1
        assert isinstance(outcome["bad"], BlobUnavailableError)
        assert store.get_sliver(0, P, _id(1)) == b"x" * 100
        assert store.get_sliver(0, P, _id(2)) is None
    finally:
        store.close()


_WRITER = """
import os, sys, threading
from walrus_node.codec.params import SliverType
from walrus_node.store.store import BlobInfo, BlobState, Store

store = Store(sys.argv[1], map_size=1 << 32)
lock = threading.Lock()

def writer(w):
    i = 0
    while True:
        blob_id = (w * 1_000_000 + i).to_bytes(32, "big")
        store.put_metadata(blob_id, b"meta", BlobInfo(BlobState.REGISTERED, 1))
        store.put_slivers([(w, SliverType.PRIMARY, blob_id, blob_id * 512)])
        with lock:
            sys.stdout.write(f"{w} {i}\\n")
            sys.stdout.flush()
        i += 1

for w in range(8):
    threading.Thread(target=writer, args=(w,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_every_acknowledged_write_survives_a_kill_9(tmp_path: pathlib.Path) -> None:
    """Eight threads write as fast as they can, each printing a write once the store
    returned; the process is killed with SIGKILL mid-stream. Every write printed before
    the kill is in the store when it is opened again."""
    db = tmp_path / "db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    acked: list[tuple[int, int]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            w, i = line.split()
            acked.append((int(w), int(i)))
            if len(acked) >= 400:
                break
        os.kill(proc.pid, signal.SIGKILL)
        # Lines already written by the writer before the kill count too.
        rest = proc.stdout.read()
        acked += [(int(w), int(i)) for w, i in (x.split() for x in rest.splitlines() if x)]
    finally:
        proc.kill()
        proc.wait(60)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(acked) >= 400
    store = Store(db, map_size=1 << 32)
    try:
        for w, i in acked:
            blob_id = (w * 1_000_000 + i).to_bytes(32, "big")
            assert store.get_metadata(blob_id) == b"meta", (w, i)
            assert store.get_sliver(w, P, blob_id) == blob_id * 512, (w, i)
    finally:
        store.close()


# --- one transaction per group, no nested transactions (the store writes through its map) ----

_COUNTER = b"counter"


def _op(key: bytes, fails: bool) -> object:
    """A write that counts itself in a shared counter (so a write applied twice, or a
    failed write's change, would show), stores its key and returns the count it saw."""

    def write(txn: lmdb.Transaction) -> int:
        seen = int(txn.get(_COUNTER) or b"0")
        txn.put(_COUNTER, str(seen + 1).encode())
        txn.put(key, b"v")
        if fails:
            raise ValueError(key)
        return seen

    return write


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.booleans(), min_size=1, max_size=12))
def test_a_group_commits_exactly_its_writes_that_did_not_raise(
    tmp_path: pathlib.Path, fails: list[bool]
) -> None:
    """Any mix of failing and succeeding writes in one group: one commit holds exactly the
    writes that did not raise, each applied once, in queue order (each saw the count of
    the good writes before it); each failing write gets its own error and left nothing."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        env = lmdb.open(d, map_size=1 << 26, writemap=True, sync=True)
        try:
            group = group_commit.GroupCommit(env)
            writes = [
                group_commit._Write(_op(b"k%d" % i, bad), 0)  # type: ignore[arg-type]
                for i, bad in enumerate(fails)
            ]
            group._commit(writes)
            good = [i for i, bad in enumerate(fails) if not bad]
            assert all(w.done for w in writes)
            assert group.commits == (1 if good else 0)
            assert group.aborts == sum(fails)
            with env.begin() as txn:
                assert int(txn.get(_COUNTER) or b"0") == len(good)
                for i, bad in enumerate(fails):
                    assert (txn.get(b"k%d" % i) is None) == bad
            for i, w in enumerate(writes):
                if fails[i]:
                    assert isinstance(w.error, ValueError)
                else:
                    assert w.error is None
                    assert w.result == good.index(i)
        finally:
            env.close()


def test_writes_without_room_fail_alone_and_small_writes_go_through(tmp_path: pathlib.Path) -> None:
    """When the room for the group's bytes is refused, the writes that declared bytes fail
    with the refusal and the others (deletions, small updates) are committed."""
    env = lmdb.open(str(tmp_path), map_size=1 << 26, writemap=True)
    asked: list[int] = []

    def reserve(size: int) -> None:
        asked.append(size)
        if size > 1000:
            raise StoreFullError("no room")

    try:
        group = group_commit.GroupCommit(env, reserve)
        big = group_commit._Write(lambda txn: txn.put(b"big", b"x" * 5000), 5000)
        small = group_commit._Write(lambda txn: txn.put(b"small", b"y"), 0)
        group._commit([big, small])
        assert asked == [5000, 0]
        assert isinstance(big.error, StoreFullError)
        assert small.error is None
        with env.begin() as txn:
            assert txn.get(b"big") is None
            assert txn.get(b"small") == b"y"
        # Not even the reserve: every write fails with the refusal, none is committed.
        refuse_all = group_commit.GroupCommit(env, lambda size: reserve(size + 2000))
        small = group_commit._Write(lambda txn: txn.put(b"small2", b"y"), 0)
        refuse_all._commit([small])
        assert isinstance(small.error, StoreFullError)
        assert small.done
        assert refuse_all.commits == 0
        with env.begin() as txn:
            assert txn.get(b"small2") is None
    finally:
        env.close()
