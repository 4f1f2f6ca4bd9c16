"""Group commit: writes made at the same time share one LMDB transaction and one fsync.

Who calls it: :class:`walrus_node.store.store.Store`, for every method that writes (the
node's store-writer threads call those, several at once under load).

A durable LMDB commit costs an fsync of the data pages and of the meta page: milliseconds
on a disk, far more than most writes' own work, and LMDB admits one writer at a time. So
writes queue here, and whichever caller finds the committer free becomes the leader of a
group: it takes every write queued so far, runs them one after another in one write
transaction, commits it once (one fsync), then lets the group's callers return. Writes
queued while it committed form the next group.

A write that raises fails alone: the leader aborts the transaction and runs the group
again without that write (its caller sees the error). Nested transactions would roll
back one write without re-running the others; the group does without them (LMDB has
none in its ``MDB_WRITEMAP`` mode, and the store stays free to use either mode:
:mod:`.store`), so instead **every write must be a pure function of the transaction**
(it reads and writes through ``txn`` only, and may run more than once; what it returns
from its last run is its result). A group of ``k`` writes in which ``f`` fail runs at
most ``k + f·k`` writes; failures are rare (a blob collected between its upload and its
write, a tombstone).

Before each transaction the leader asks ``reserve`` (given by the store) to make room on
disk for the group's declared bytes (:mod:`.disk_room`: a full volume is then a refusal
of the writes that need room, not a failed commit of the whole group). When that
refuses, the writes that declared bytes fail with its error and the group runs again
without them (deletions and small updates still go through: they are what frees space).

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
    __slots__ = ("done", "error", "fn", "result", "size")

    def __init__(self, fn: Callable[[lmdb.Transaction], T], size: int) -> None:
        self.fn = fn
        self.size = size
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False


def _no_reserve(size: int) -> None:
    """The default room check: none."""


class GroupCommit:
    """The write path of one LMDB environment.

    ``reserve(bytes)`` runs before each transaction with the bytes the group's writes
    declared; it raises to refuse them (no room on disk) and returns to go on.
    """

    def __init__(self, env: lmdb.Environment, reserve: Callable[[int], None] = _no_reserve) -> None:
        self._env = env
        self._reserve = reserve
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._queue: list[_Write[Any]] = []
        self.commits = 0
        """Transactions committed (each one fsync)."""
        self.writes = 0
        """Writes committed, over all groups."""
        self.aborts = 0
        """Transactions aborted because a write raised (the group then runs without it)."""

    def run(self, fn: Callable[[lmdb.Transaction], T], size: int = 0) -> T:
        """Run ``fn`` in a write transaction and return its result once that transaction
        is durably committed; raises what ``fn`` raised (nothing of it applied).

        ``size`` is about how many bytes ``fn`` adds to the store (0 for small writes);
        ``fn`` may run more than once and must be a pure function of the transaction.
        """
        write: _Write[T] = _Write(fn, size)
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
        pending = group
        try:
            pending = self._make_room(pending)
            while pending:
                failed = self._attempt(pending)
                if failed is None:
                    break
                self.aborts += 1
                pending = [w for w in pending if w is not failed]
            else:
                return  # every write failed on its own: nothing to commit
            self.commits += 1
            self.writes += len(pending)
        except Exception as e:
            for write in pending:
                if write.error is None:
                    error = CommitError(f"the store could not commit: {e}")
                    error.__cause__ = e
                    write.error = error
        finally:
            for write in group:
                write.done = True

    def _make_room(self, pending: list[_Write[Any]]) -> list[_Write[Any]]:
        """The writes there is room for: all, or (when the room for all is refused) those
        that declared no bytes, the others failing with the refusal; none when not even
        the reserve is there (each failing with that refusal)."""
        try:
            self._reserve(sum(w.size for w in pending))
            return pending
        except Exception as e:
            refusal: Exception = e
        small = [w for w in pending if w.size == 0]
        for write in pending:
            if write.size:
                write.error = refusal
        if small:
            try:
                self._reserve(0)
            except Exception as e:
                for write in small:
                    write.error = e
                return []
        return small

    def _attempt(self, pending: list[_Write[Any]]) -> _Write[Any] | None:
        """Run ``pending`` in one transaction and commit it; or abort at the first write
        that raises and return it (its error set)."""
        txn = self._env.begin(write=True)
        try:
            for write in pending:
                write.error = None
                try:
                    write.result = write.fn(txn)
                except Exception as e:  # this write's own failure
                    write.error = e
                    write.result = None
                    txn.abort()
                    return write
            txn.commit()
            return None
        except BaseException:
            txn.abort()
            raise
