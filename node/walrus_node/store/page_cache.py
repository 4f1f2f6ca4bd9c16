"""Drop-behind: the store file's older pages given back from the page cache, so that new
writes reuse their memory (Linux).

Who calls it: :class:`walrus_node.store.store.Store`, after each commit that stored big
values (:meth:`DropBehind.after_commit`), in the writing thread.

Why: the store appends what it writes to its file (LMDB takes fresh pages at the data's
end when its free list is empty), and writes through a shared memory map
(:mod:`walrus_node.store.store`). Every page appended is a page the kernel has to find
for the page cache. With free memory to spare, the kernel never reclaims the file's old
pages and takes a never-used free page each time; in a virtual machine whose free memory
is handed back to the host, touching such a page costs a fault in the host, about 3 µs
per 4 KiB (~1 GB/s, against ~20 GB/s to write a page already owned: BENCHMARKS.md, "Fresh
pages"). A 64 MiB blob puts ~35 MB on each of seven nodes, so that was ~35 ms of CPU per
node per blob, a sixth of what a node spends on the store. Dropping the file's clean
pages older than a window (``store_page_cache_bytes`` behind the data's end) frees pages
the kernel hands straight to the next writes, at the cost of serving older blobs from
the disk (the page cache of a node whose data outgrows its memory does that anyway).

The window keeps what was just written (a blob is often read right after it is stored)
and the store's B-tree pages near the data's end. Each byte range is dropped once, as the
data's end moves past it: pages there that are written again later (LMDB reuses the pages
of deleted values) stay. What is dropped is safe to drop at any time: a page is first
removed from this process's map (``madvise(MADV_DONTNEED)``; the pages stay in the page
cache, a dirty one keeps its dirty state, :mod:`.mapped`), then given back
(``posix_fadvise(POSIX_FADV_DONTNEED)``), which leaves alone the pages that are dirty
(not yet durable: only written back by the next ``msync``) or mapped by a reader
meanwhile. A later read of a dropped page reads it from the disk again.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading

from walrus_node.store import mapped

__all__ = ["DropBehind"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class DropBehind:
    """Gives back the pages of ``path`` more than ``window`` bytes behind the data's end."""

    def __init__(self, path: pathlib.Path, window: int, step: int = 16 << 20) -> None:
        """``window``: bytes behind the data's end kept (0: nothing is ever dropped).
        ``step``: the least range dropped at once (fewer, bigger system calls)."""
        if window < 0:
            raise ValueError(f"the page cache window must not be negative, got {window}")
        self._path = path
        self._window = window
        self._step = step
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.dropped_to = 0
        """Bytes of the file, from its start, given back so far."""
        self.drops = 0
        """Ranges given back so far."""

    def start_at(self, data_end: int) -> None:
        """Keep the file's data as it is at open: only what later writes push out of the
        window is dropped (a node starting up does not evict the cache it finds)."""
        self.dropped_to = max(0, data_end - self._window)

    def after_commit(self, data_end: int) -> None:
        """Give back what the data's end (``data_end`` bytes, after a commit) pushed out of
        the window; a call while another is at work returns at once (that one drops)."""
        if self._window == 0 or not hasattr(os, "posix_fadvise"):
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            end = (max(0, data_end - self._window) // _PAGE) * _PAGE
            start = self.dropped_to
            if end - start < self._step:
                return
            self._drop(start, end)
            self.dropped_to = end
            self.drops += 1
        finally:
            self._lock.release()

    def _drop(self, start: int, end: int) -> None:
        mapped.release_range(self._path, start, end)
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return
        with contextlib.suppress(OSError):  # advice only: if refused, nothing was dropped
            os.posix_fadvise(self._fd, start, end - start, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._window = 0
