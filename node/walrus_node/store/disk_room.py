"""Disk room: blocks reserved for the store's file before LMDB writes them.

Who calls it: :class:`walrus_node.store.store.Store`, before each write transaction (from
the group commit's leader, so one at a time).

Why: a commit that meets a full volume fails as a whole, every write of its group with
it, and LMDB may have written part of its pages by then (harmless, but the group's callers
learn nothing about which write did not fit). Here the blocks a transaction may touch
are allocated first with ``fallocate(2)`` (``FALLOC_FL_KEEP_SIZE``: the blocks past the
file's end are allocated and its size is left to LMDB's writes), from the end of LMDB's
data up to the transaction's bytes plus a reserve. The commit then never needs a new
block; the reservation fails cleanly with ``ENOSPC`` instead, and the store refuses the
writes that declared bytes (:class:`~walrus_node.store.store.StoreFullError`) and commits
the others. The same holds for a file written through a writable map (LMDB's
``MDB_WRITEMAP``, which the store does not use), where a page needing a block on a full
volume would kill the process with ``SIGBUS``.
Pages LMDB reuses from its free list lie below the data's end and already have blocks.

The reserve (the ``store_disk_reserve_bytes`` setting) covers what a transaction writes
beyond its values: B-tree branch and leaf pages copied on write, the free list, and the
writes that declare no bytes (deletions, certificates, small state). It stays allocated
to the file: the store's disk usage is its data plus at most the reserve.

The volume's free space (``statvfs``) is compared with what is needed first, so a write
that cannot fit is refused without allocating anything; a ``fallocate`` that fails all
the same (a concurrent writer took the room) has what it allocated punched out again, so
a refusal never leaves the volume full. Where ``fallocate`` is not supported
(``EOPNOTSUPP``) that free-space check is all there is: a check, not a reservation, so a
concurrent writer on the same volume could still take the room. On copy-on-write
filesystems (btrfs, ZFS) overwriting an allocated block needs a new one, so no
reservation is complete there; run the store on ext4, XFS or tmpfs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import pathlib
from collections.abc import Callable

__all__ = ["DiskRoom", "NoRoomError"]


class NoRoomError(OSError):
    """The volume has no room for the bytes asked for."""


def _libc_fallocate() -> Callable[[int, int, int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fallocate = ctypes.CDLL(name, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return fallocate


_fallocate = _libc_fallocate()
_KEEP_SIZE = 0x01  # FALLOC_FL_KEEP_SIZE
_PUNCH_HOLE = 0x02  # FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE: deallocate, size unchanged)


class DiskRoom:
    """Reserves disk blocks of one file ahead of writes to it."""

    def __init__(self, path: pathlib.Path, limit: int, reserve: int) -> None:
        if reserve < 0:
            raise ValueError(f"negative disk reserve {reserve}")
        self._path = path
        self._limit = limit
        self._reserve = reserve
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._supported = _fallocate is not None
        self._reserved_to = 0
        """The end of the range last reserved (a hint: a shorter range is not asked again)."""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def reserve(self, data_end: int, size: int) -> None:
        """Make sure ``size`` bytes plus the reserve past ``data_end`` can be written
        without needing a new block; :class:`NoRoomError` if the volume has no room for
        them."""
        if self._fd is None:
            raise ValueError("the store is closed")
        end = min(data_end + size + self._reserve, self._limit)
        if end <= max(data_end, self._reserved_to if self._supported else 0):
            return
        start = max(data_end, self._reserved_to) if self._supported else data_end
        # First the volume's free space: a request it cannot hold is refused without
        # touching the disk (and it is the whole check where fallocate is missing).
        st = os.fstatvfs(self._fd)
        free = st.f_bavail * st.f_frsize
        if free < end - start:
            raise NoRoomError(
                errno.ENOSPC,
                f"the store's volume has no room for {size} bytes more (plus the "
                f"reserve of {self._reserve} bytes): {free} bytes free",
            )
        if not self._supported:
            return
        assert _fallocate is not None
        if _fallocate(self._fd, _KEEP_SIZE, start, end - start) == 0:
            self._reserved_to = end
            return
        err = ctypes.get_errno()
        if err in (errno.EOPNOTSUPP, errno.ENOSYS):
            self._supported = False
            return
        # A failed fallocate may leave part of the range allocated (ext4 does): give it
        # back, so that a refusal does not fill the volume. Nothing lies there: the range
        # starts past LMDB's data and past what was reserved before, and no transaction
        # runs meanwhile.
        _fallocate(self._fd, _PUNCH_HOLE | _KEEP_SIZE, start, end - start)
        if err == errno.ENOSPC:
            raise NoRoomError(
                err,
                f"the store's volume has no room for {size} bytes more "
                f"(plus the reserve of {self._reserve} bytes)",
            )
        raise OSError(err, f"cannot reserve disk blocks: {os.strerror(err)}")
