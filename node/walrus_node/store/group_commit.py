"""Group commit: writes made at the same time share one LMDB transaction and one fsync.

Who calls it: :class:`walrus_node.store.store.Store`, for every method that writes (the
node's store-writer threads call those, several at once under load).

A durable LMDB commit costs an fsync of the data pages and of the meta page: milliseconds
on a disk, far more than most writes' own work, and LMDB admits one writer at a time. So
writes queue here, and whichever caller finds the committer free becomes the leader of a
group: it takes every write queued so far, runs each in a nested transaction of one parent
transaction (a write that raises is rolled back alone, and only its caller sees the error),
commits the parent once (one fsync), then lets the group's callers return. Writes queued
while it committed form the next group.

Nothing is acknowledged before its fsync: a caller returns only after the commit holding
its write; if that commit fails, every write of the group fails (:class:`CommitError`) and
none is applied. A group holds at most one write per calling thread (each caller waits for
its own), so its size is bounded by the number of writer threads (``store_writer_threads``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import lmdb

__all__ = ["CommitError", "GroupCommit"]

T = TypeVar("T")


class CommitError(Exception):
    """The transaction holding a write could not be committed; nothing of it was applied."""


class _Write(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[lmdb.Transaction], T]) -> None:
        self.fn = fn
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit:
    """The write path of one LMDB environment."""

    def __init__(self, env: lmdb.Environment) -> None:
        self._env = env
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._queue: list[_Write[Any]] = []
        self.commits = 0
        """Transactions committed (each one fsync)."""
        self.writes = 0
        """Writes committed, over all groups."""

    def run(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in a write transaction and return its result once that transaction
        is durably committed; raises what ``fn`` raised (its changes rolled back)."""
        write: _Write[T] = _Write(fn)
        with self._queue_lock:
            self._queue.append(write)
        with self._commit_lock:
            if not write.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit(group)
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]  # set: fn returned without error

    def _commit(self, group: list[_Write[Any]]) -> None:
        try:
            with self._env.begin(write=True) as parent:
                for write in group:
                    try:
                        with self._env.begin(write=True, parent=parent) as txn:
                            write.result = write.fn(txn)
                    except Exception as e:  # this write's own failure: rolled back alone
                        write.error = e
            self.commits += 1
            self.writes += sum(1 for w in group if w.error is None)
        except Exception as e:
            for write in group:
                if write.error is None:
                    error = CommitError(f"the store could not commit: {e}")
                    error.__cause__ = e
                    write.error = error
        finally:
            for write in group:
                write.done = True
