"""Mapped pages: dropping a file's pages from this process's memory map (Linux).

Who calls it: :meth:`walrus_node.store.store.Store.release_mapped`, which the node runs
every ``store_map_release_seconds`` (:mod:`walrus_node.service.map_release`).

Why: LMDB reads through a shared memory map of its data file. Every page the node
touches there (a B-tree page, the head of a sliver, a sliver served whole) stays
mapped into the process and counts in its resident memory (``RssFile``), and the kernel
maps up to 16 neighbouring pages of the page cache on every fault (fault-around). So a
node's RSS grew with the bytes it had stored and served: about +0.33 MiB per 1 MiB blob
stored on a 7-node testbed, never given back (BENCHMARKS.md, "Node memory over many
blobs"). Those pages are clean page cache, but a pod's memory limit and every RSS graph
count them.

``madvise(MADV_DONTNEED)`` on a shared file mapping only removes the process's page-table
entries: the pages stay in the page cache (and on disk), nothing is lost, and the next
access maps the same bytes again with a minor fault. It is safe while other threads read
through the map: they see the same contents either way. The store's map is read-only
(LMDB writes with ``pwrite``: :mod:`.store`); were it writable (``MDB_WRITEMAP``), a page
written through it and not yet flushed would keep its dirty state in the page cache when
its entry is removed (the kernel moves the entry's dirty bit to the page), so a later
``msync`` would still write it.

The mappings are found in ``/proc/self/maps`` by device and inode, since LMDB does not
say where it mapped the file. Elsewhere than Linux, nothing is released.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
from collections.abc import Callable

__all__ = ["mappings", "release", "resident_bytes"]

_MADV_DONTNEED = 4
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _libc_madvise() -> Callable[[int, int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        madvise = ctypes.CDLL(name, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


_madvise = _libc_madvise()


def mappings(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """(start, end) addresses of this process's mappings of the file at ``path``."""
    try:
        st = os.stat(path)
        lines = pathlib.Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[4].isdigit():
            continue
        major, minor = (int(x, 16) for x in fields[3].split(":"))
        if int(fields[4]) != st.st_ino or os.makedev(major, minor) != st.st_dev:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        found.append((start, end))
    return found


def release(path: str | os.PathLike[str], used: int | None = None) -> int:
    """Drop every page of ``path`` mapped by this process from its resident set; the
    number of mappings released (0 where that is not possible). ``used``: the bytes of
    the file that can hold pages (default: its size; LMDB with ``MDB_WRITEMAP`` sizes
    its file to the whole map, of which only the data's part was ever touched)."""
    if _madvise is None:
        return 0
    try:
        size = os.stat(path).st_size
    except OSError:
        return 0
    if used is not None:
        size = min(size, used)
    released = 0
    for start, end in mappings(path):
        # Only the part backed by the file: LMDB maps its whole map size, which is
        # address space far beyond the file's end that never held a page.
        length = min(end - start, -(-size // _PAGE) * _PAGE)
        if length > 0 and _madvise(start, length, _MADV_DONTNEED) == 0:
            released += 1
    return released


def resident_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of ``path`` resident in this process's mappings (``/proc/self/smaps``)."""
    ranges = set(mappings(path))
    total = 0
    current = False
    try:
        lines = pathlib.Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            start, end = (int(x, 16) for x in head.split("-"))
            current = (start, end) in ranges
        elif current and head == "Rss:":
            total += int(line.split()[1]) * 1024
    return total
