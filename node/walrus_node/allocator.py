"""Tuning glibc's memory allocator for processes that handle blob-sized buffers.

Who calls it: command-line entry points (``walrus-bench``, ``walrus``, and ``walrus-node``
unless its ``tune_allocator`` setting is off), once at start, before any large
allocation. Library code, the codec above all, never does: it is process-wide policy.

Why: glibc serves every allocation above ``M_MMAP_THRESHOLD`` (128 KiB at start, raised
automatically up to 32 MiB) with a fresh ``mmap`` and gives it back with ``munmap`` when
freed. The arrays of a blob-sized encode are several times the blob, so by default each
encode maps fresh memory and the kernel page-faults and zeroes every page of it on
first touch, every time. Raising the mmap threshold serves such buffers from the heap
instead, and raising the trim threshold keeps freed heap memory in the process, so the
next blob reuses pages that are already mapped. Measured effect: BENCHMARKS.md, "Memory
and the first iteration".

The price: the process keeps its peak heap (its RSS does not shrink after a large
blob). Right for a benchmark, a short-lived CLI, and a node whose memory is sized for
the blobs it receives; a node that sees one huge blob among many small ones may turn
it off (``tune_allocator: false``).

The same settings can be made without code through the environment, e.g.
``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=2147483647``.

Two more settings keep a long-running process from growing with the number of blobs it
handled: :func:`tune` caps glibc's arenas at :data:`DEFAULT_ARENA_MAX`, one (by default
each thread that allocates under contention may get an arena of its own, up to eight per
core, and each arena keeps its own peak: measured on a node, +20 MiB of RSS per 32 MiB
blob stored, never given back), and :func:`trim` gives every free page of every arena
back to the kernel (``malloc_trim``); a node calls it once it has been idle for a moment
(``idle_trim_seconds``), so the reuse above helps bursts while an idle node shrinks.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["DEFAULT_ARENA_MAX", "DEFAULT_MMAP_THRESHOLD", "DEFAULT_TRIM_THRESHOLD", "trim", "tune"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

DEFAULT_ARENA_MAX = 1
"""Arenas (heaps) glibc may create; threads share them. One: every thread allocates from
the main arena, the only one that can hold a chunk above 64 MiB. glibc's other arenas
are built of heaps of at most 64 MiB (``HEAP_MAX_SIZE``), so a bigger allocation made by
a thread on one of them (the client encodes on a worker thread: a 64 MiB blob's
expanded matrix is ~210 MB) is a fresh ``mmap`` whatever the mmap threshold, unmapped
when freed, and its pages are faulted and zeroed afresh for every blob: 145-200 ms of
CPU per 64 MiB encode on two arenas against ~70-80 ms on one (BENCHMARKS.md, "Fresh
pages"). The threads then share one lock in ``malloc``; Python's small objects do not
take it (they come from Python's own allocator), and 1 MiB stores, where a node's CPU
goes per call, cost the node and the client no more CPU with one arena than with two
(same section)."""

DEFAULT_MMAP_THRESHOLD = 1 << 30
"""Bytes; only allocations above 1 GiB are still mapped separately."""

DEFAULT_TRIM_THRESHOLD = (1 << 31) - 1
"""Bytes; the largest value ``mallopt`` takes: freed heap memory is (almost) never trimmed."""


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def tune(
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD,
    trim_threshold: int = DEFAULT_TRIM_THRESHOLD,
    arena_max: int = DEFAULT_ARENA_MAX,
) -> bool:
    """Apply the thresholds and the arena cap with glibc's ``mallopt``; False where that
    is not available."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return (
        bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
        and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
        and bool(mallopt(_M_ARENA_MAX, arena_max))
    )


def trim() -> bool:
    """Give the free memory of every arena back to the kernel (glibc ``malloc_trim(0)``);
    True if some was released, False also where that is not available."""
    libc = _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))
