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
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["DEFAULT_MMAP_THRESHOLD", "DEFAULT_TRIM_THRESHOLD", "tune"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

DEFAULT_MMAP_THRESHOLD = 1 << 30
"""Bytes; only allocations above 1 GiB are still mapped separately."""

DEFAULT_TRIM_THRESHOLD = (1 << 31) - 1
"""Bytes; the largest value ``mallopt`` takes: freed heap memory is (almost) never trimmed."""


def tune(
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD, trim_threshold: int = DEFAULT_TRIM_THRESHOLD
) -> bool:
    """Apply the thresholds with glibc's ``mallopt``; False where that is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
