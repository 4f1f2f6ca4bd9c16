"""Timing, sizes and process statistics shared by the benchmarks.

Who calls it: the benchmark modules of :mod:`walrus_node.bench`.

Conventions every benchmark follows: throughput is *unencoded* bytes per second of wall
time, in MB/s with 1 MB = 10^6 bytes; the first iteration is reported as *cold* and the
median of the others as *warm*; the last line printed is one JSON object.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import mmap
import os
import pathlib
import re
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import blake3

__all__ = [
    "Series",
    "emit_json",
    "load_average",
    "machine",
    "machine_line",
    "mbps",
    "minor_faults",
    "parse_size",
    "peak_rss_mib",
    "process_rss_mib",
    "spread",
    "timed",
]

T = TypeVar("T")
P = ParamSpec("P")

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def parse_size(text: str) -> int:
    """Bytes from ``"1048576"``, ``"64MiB"``, ``"1 GB"`` (binary and decimal units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"size {text!r} is not a byte count such as 1048576, 64MiB or 1GB")
    return int(match.group(1)) * _UNITS[unit]


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()``'s result and its wall time in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


@dataclasses.dataclass
class Series:
    """Times of repeated runs of one operation: wall and CPU seconds of the process.

    On a shared machine other processes stretch wall time; CPU time leaves out the time
    the process waited for a core, so the two together show how noisy a run was.
    """

    seconds: list[float] = dataclasses.field(default_factory=list)
    cpu_seconds: list[float] = dataclasses.field(default_factory=list)

    def measure(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` once, record its times, return its result."""
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        self.seconds.append(time.perf_counter() - wall)
        self.cpu_seconds.append(time.process_time() - cpu)
        return result

    def __add__(self, other: Series) -> Series:
        """Run by run sums (two steps of one operation)."""
        return Series(
            [a + b for a, b in zip(self.seconds, other.seconds, strict=True)],
            [a + b for a, b in zip(self.cpu_seconds, other.cpu_seconds, strict=True)],
        )

    @property
    def cold(self) -> float:
        """The first run: page faults, table building and caches all included."""
        return self.seconds[0]

    @property
    def warm(self) -> float:
        """Median of the runs after the first (the first if there is only one)."""
        return statistics.median(self.seconds[1:] or self.seconds)

    @property
    def warm_cpu(self) -> float:
        """Median CPU time of the runs after the first."""
        return statistics.median(self.cpu_seconds[1:] or self.cpu_seconds)


def mbps(nbytes: int, seconds: float) -> float:
    """Throughput in MB/s, 1 MB = 10^6 bytes."""
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def peak_rss_mib() -> float:
    """The process's peak resident set so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_rss_mib(pid: int) -> tuple[float, float]:
    """Another process's (resident set, peak resident set) in MiB, from /proc; zeros if
    it is gone."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        lines = pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    for line in lines:
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0]) / 1024  # "VmRSS:\t  123456 kB"
    return values["VmRSS"], values["VmHWM"]


def spread(values: list[float]) -> dict[str, float]:
    """min, median, max of a figure over runs, and its spread: the largest distance from
    the median, in percent of the median (a spread of 15 means within +-15%)."""
    median = statistics.median(values)
    worst = max(abs(v - median) for v in values)
    return {
        "min": round(min(values), 1),
        "median": round(median, 1),
        "max": round(max(values), 1),
        "spread_pct": round(100 * worst / median, 1) if median else 0.0,
    }


def minor_faults() -> int:
    """Minor page faults of the process so far (each first touch of a fresh page)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def drop_page_cache(path: os.PathLike[str] | str) -> None:
    """The file's pages out of the kernel's page cache (clean pages only, so nothing is
    lost; pages some process has mapped stay), as if it had not been read for long."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def load_average() -> float:
    """The one-minute load average: above ~1 here, other processes share the cores."""
    return os.getloadavg()[0]


def emit_json(result: dict[str, Any]) -> None:
    """Print the machine-readable result: one JSON object, the last line of output."""
    print(json.dumps(result, separators=(",", ":")), flush=True)


_PROBE_BYTES = 32 << 20


def _best_seconds(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> dict[str, float]:
    """How fast this machine is at what the store path leans on, probed in a fraction of
    a second: one core's BLAKE3 (every commitment and every verify), writing memory that
    is already mapped, and writing *fresh* memory (each page's first touch: a store's new
    map pages, a new buffer). GB/s, 1 GB = 10^9 bytes, best of three.

    Printed beside a benchmark's figures so that figures from different machines can be
    compared: on some virtual machines the first touch of a page costs twenty times the
    write itself, whatever the page size, and every byte a node stores lands on fresh
    page-cache pages (BENCHMARKS.md, "Writes by pwrite, and fresh memory on this
    machine")."""
    size = _PROBE_BYTES

    def fresh_write() -> None:
        with mmap.mmap(-1, size) as region:
            view = (ctypes.c_char * size).from_buffer(region)
            ctypes.memset(view, 1, size)
            del view

    fresh_seconds = _best_seconds(fresh_write)
    # Mapped regions, unmapped on return: the probe leaves the process's heap as it was.
    with mmap.mmap(-1, size) as region:
        buffer = (ctypes.c_char * size).from_buffer(region)
        address = ctypes.addressof(buffer)
        ctypes.memset(address, 0, size)  # mapped from here on
        write_seconds = _best_seconds(lambda: ctypes.memset(address, 2, size))
        del buffer
        data = memoryview(region)
        hash_seconds = _best_seconds(lambda: blake3.blake3(data, max_threads=1).digest())
        data.release()
    return {
        "cores": float(os.cpu_count() or 1),
        "blake3_GBps": round(size / hash_seconds / 1e9, 2),
        "write_GBps": round(size / write_seconds / 1e9, 2),
        "fresh_write_GBps": round(size / fresh_seconds / 1e9, 2),
    }


def machine_line(probe: dict[str, float]) -> str:
    """One line for a benchmark's header, from :func:`machine`."""
    return (
        f"machine: {probe['cores']:.0f} cores; one core hashes {probe['blake3_GBps']:g} GB/s "
        f"(BLAKE3); memory writes {probe['write_GBps']:g} GB/s, "
        f"{probe['fresh_write_GBps']:g} GB/s to fresh pages"
    )
