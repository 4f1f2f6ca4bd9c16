"""``walrus-bench hash``: BLAKE3 against blake2b and SHA-256 for the codec's commitments.

Who calls it: :func:`walrus_node.bench.main`; BENCHMARKS.md ("Choosing the hash") records
its figures.

Three measurements, one thread, each the median of ``--iterations`` runs:

* **bulk**: one ``--size`` buffer hashed in one call (GB/s, 1 GB = 10^9 bytes);
* **per call**: many small inputs, hashed as the codec hashes a symbol (data, then a
  one-byte tag); this is the fixed cost that dominates at large ``n`` with small blobs.
  BLAKE3 is also timed with the tag in front, to show why the codec puts it last;
* **commitments**: the hashing an encode of a ``--size`` blob at ``--shards n`` does:
  a leaf hash of each of the ``n^2`` symbols of the expanded matrix and about ``2n^2``
  inner nodes of 65 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol

import blake3
import numpy as np

from walrus_node.bench import measure
from walrus_node.codec.params import EncodingParams

__all__ = ["add_arguments", "run"]


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def digest(self) -> bytes: ...


def _blake2b(data: bytes | memoryview) -> _Hasher:
    return hashlib.blake2b(data, digest_size=32)


HASHES: dict[str, Callable[[bytes | memoryview], _Hasher]] = {
    "blake2b": _blake2b,
    "sha256": hashlib.sha256,
    "blake3": blake3.blake3,
}
"""Each maps data to a hasher object, as the codec uses ``blake3.blake3``."""

_TAG = b"\x00"

P = ParamSpec("P")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size",
        type=measure.parse_size,
        default=64 << 20,
        help="bytes of the bulk buffer and of the blob for --shards (default 64MiB)",
    )
    parser.add_argument(
        "--shards", type=int, default=10, help="shard count for the commitments (default 10)"
    )
    parser.add_argument(
        "--input-sizes",
        default="65,256,1024,4096,32768,1048576",
        help="comma-separated input sizes for the per-call costs, bytes",
    )
    parser.add_argument("--iterations", type=int, default=3, help="runs of each (default 3)")


def _bulk(hash_fn: Callable[[bytes | memoryview], _Hasher], data: memoryview) -> None:
    hash_fn(data).digest()


def _bulk_all_cores(data: memoryview) -> None:
    blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest()


def _leaves(hash_fn: Callable[[bytes | memoryview], _Hasher], flat: memoryview, s: int) -> None:
    """Hash every ``s``-byte symbol of ``flat`` as the codec does: data, then a tag."""
    for offset in range(0, len(flat), s):
        hasher = hash_fn(flat[offset : offset + s])
        hasher.update(_TAG)
        hasher.digest()


def _leaves_tag_first(flat: memoryview, s: int) -> None:
    """The same leaves with the tag in front, as the codec once did: for comparison."""
    for offset in range(0, len(flat), s):
        hasher = blake3.blake3(_TAG)
        hasher.update(flat[offset : offset + s])
        hasher.digest()


def _inner_nodes(hash_fn: Callable[[bytes | memoryview], _Hasher], count: int) -> None:
    left, right = bytes(32), bytes(range(32))
    for _ in range(count):
        hash_fn(left + right + b"\x01").digest()


def _median(iterations: int, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> float:
    """Median wall time of ``iterations`` runs, after one run that only warms up."""
    series = measure.Series()
    for _ in range(iterations + 1):
        series.measure(fn, *args, **kwargs)
    return series.warm


def run(args: argparse.Namespace) -> int:
    params = EncodingParams(args.shards)
    sizes = [measure.parse_size(part) for part in args.input_sizes.split(",")]
    iterations = args.iterations
    view = memoryview(np.random.default_rng(0).bytes(args.size))
    result: dict[str, Any] = {
        "benchmark": "hash",
        "size": args.size,
        "shards": params.n,
        "bulk_GBps": {},
        "per_call_us": {},
        "commitments_ms": {},
    }
    print(f"hash: one thread, GB = 10^9 bytes, medians of {iterations} runs\n")

    print(f"bulk, one {args.size:,}-byte buffer:")
    for name, hash_fn in HASHES.items():
        t = _median(iterations, _bulk, hash_fn, view)
        result["bulk_GBps"][name] = round(args.size / t / 1e9, 3)
        print(f"  {name:10} {args.size / t / 1e9:7.2f} GB/s")
    t = _median(iterations, _bulk_all_cores, view)
    result["bulk_GBps"]["blake3_all_cores"] = round(args.size / t / 1e9, 3)
    print(f"  {'blake3, all cores':10} {args.size / t / 1e9:7.2f} GB/s (not used by the codec)")

    print("\nper call (data + one tag byte), microseconds and GB/s:")
    for size in sizes:
        calls = min(len(view) // size, max(200, min(50_000, (64 << 20) // size)))
        flat = view[: calls * size]
        line = []
        for name, hash_fn in HASHES.items():
            t = _median(iterations, _leaves, hash_fn, flat, size)
            result["per_call_us"].setdefault(name, {})[str(size)] = round(t / calls * 1e6, 3)
            line.append(f"{name} {t / calls * 1e6:8.2f} us {size * calls / t / 1e9:5.2f} GB/s")
        t = _median(iterations, _leaves_tag_first, flat, size)
        result["per_call_us"].setdefault("blake3_tag_first", {})[str(size)] = round(
            t / calls * 1e6, 3
        )
        line.append(f"blake3 tag first {t / calls * 1e6:8.2f} us")
        print(f"  {size:>8} B: " + "   ".join(line))

    n, s = params.n, params.symbol_size(args.size)
    matrix = memoryview(np.random.default_rng(1).bytes(n * n * s))
    inner_nodes = 2 * n * (n - 1)
    print(
        f"\ncommitments of a {args.size:,}-byte blob at n={n}: {n * n:,} leaves of {s:,} bytes "
        f"({n * n * s / 1e6:.0f} MB) and {inner_nodes:,} inner nodes:"
    )
    for name, hash_fn in HASHES.items():
        leaves = _median(iterations, _leaves, hash_fn, matrix, s)
        inner = _median(iterations, _inner_nodes, hash_fn, inner_nodes)
        result["commitments_ms"][name] = round((leaves + inner) * 1e3, 2)
        print(
            f"  {name:10} leaves {leaves * 1e3:8.1f} ms + inner {inner * 1e3:7.1f} ms "
            f"= {(leaves + inner) * 1e3:8.1f} ms"
        )
    result["load_average"] = round(measure.load_average(), 2)
    measure.emit_json(result)
    return 0
