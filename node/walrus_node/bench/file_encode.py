"""``walrus-bench encode-file``: the peak memory of encoding a file as ``walrus store`` does.

Who calls it: :func:`walrus_node.bench.main`; results are recorded in BENCHMARKS.md.

Writes a file of random bytes (``--size``, into ``--dir``; or takes ``--file``), encodes it
with ``client.blob_file.encode_file`` (read row by row into the expanded matrix, as a store
does before its uploads) and reports the process's resident set before and at its peak,
next to the matrix (``n^2`` symbols) and the encoded size, so that
``peak - idle - matrix`` is what the encode holds beyond its output. The written file is
deleted at the end, also on failure. No network: the upload's own memory is measured by
``walrus-bench testbed`` or ``/usr/bin/time -v walrus store`` (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import tempfile
import time

from walrus_node.bench import measure
from walrus_node.client import blob_file
from walrus_node.codec.params import EncodingParams

__all__ = ["add_arguments", "run"]

MiB = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", type=int, default=40, help="shard count n (default 40)")
    parser.add_argument(
        "--size",
        type=measure.parse_size,
        default=256 * MiB,
        help="file size to write; units allowed: 256MiB, 4GiB (default 256MiB)",
    )
    parser.add_argument("--dir", default=None, help="where to write the file (default: TMPDIR)")
    parser.add_argument("--file", default=None, help="encode this file instead (kept)")


def _write_random(directory: str | None, size: int) -> pathlib.Path:
    fd, name = tempfile.mkstemp(prefix="walrus-bench-", suffix=".bin", dir=directory)
    with os.fdopen(fd, "wb") as f:
        left = size
        while left:
            chunk = min(left, MiB)
            f.write(os.urandom(chunk))
            left -= chunk
    return pathlib.Path(name)


def _high_water_mib() -> float:
    """This process's peak resident set (``VmHWM``): unlike ``ru_maxrss``, not raised to
    its parent's resident set at the fork that started it."""
    return measure.process_rss_mib(os.getpid())[1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> int:
    written = None if args.file else _write_random(args.dir, args.size)
    path = pathlib.Path(args.file) if args.file else written
    assert path is not None
    try:
        size = path.stat().st_size
        params = EncodingParams(args.shards)
        matrix = params.n_shards**2 * params.symbol_size(size)
        idle = _high_water_mib()
        load = measure.load_average()
        cpu, started = _cpu_seconds(), time.perf_counter()
        encoded = blob_file.encode_file(path, args.shards)
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        peak = _high_water_mib()
    finally:
        if written is not None:
            written.unlink()
    result = {
        "size_bytes": size,
        "shards": args.shards,
        "blob_id": str(encoded.blob_id),
        "matrix_MiB": round(matrix / MiB, 1),
        "encoded_size_MiB": round(params.encoded_size(size) / MiB, 1),
        "idle_rss_MiB": round(idle, 1),
        "peak_rss_MiB": round(peak, 1),
        "over_matrix_MiB": round(peak - idle - matrix / MiB, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_average": round(load, 2),
    }
    print(
        f"encode of {size} bytes from a file, n = {args.shards}: peak RSS {peak:.0f} MiB = "
        f"idle {idle:.0f} + matrix {matrix / MiB:.0f} + {result['over_matrix_MiB']} MiB "
        f"(encoded size {result['encoded_size_MiB']} MiB); {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU, load {load:.1f}"
    )
    measure.emit_json(result)
    return 0
