"""The tuned allocator: a blob-sized buffer freed by a worker thread is reused by the next
one (its pages are not faulted in afresh), which is what encoding and decoding blobs on
worker threads needs; with a second glibc arena it was a fresh mapping every time."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="glibc, RUSAGE_THREAD")

_SCRIPT = """
import resource, sys, threading
import numpy as np
from walrus_node import allocator
assert allocator.tune(**({} if sys.argv[1] == "default" else {"arena_max": int(sys.argv[1])}))
faults = []
def work():
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        buffer = np.empty(100 << 20, dtype=np.uint8)  # above a side arena's 64 MiB heaps
        buffer.fill(1)
        del buffer
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
thread = threading.Thread(target=work)
thread.start()
thread.join()
print(max(faults[1:]))
"""

FRESH = (100 << 20) // (2 << 20)
"""Faults of 100 MiB faulted in afresh at the least: numpy asks for transparent huge pages
for big arrays, one fault per 2 MiB (25 600 faults with 4 KiB pages)."""


def _faults_after_the_first(arena_max: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, arena_max],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(done.stdout.split()[-1])


def test_a_worker_threads_blob_sized_buffer_is_reused_not_faulted_afresh() -> None:
    assert _faults_after_the_first("default") < FRESH // 10


def test_with_a_second_arena_it_was_faulted_afresh_each_time() -> None:
    # the control: what the default was before (two arenas)
    assert _faults_after_the_first("2") > FRESH // 2
