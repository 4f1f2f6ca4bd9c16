"""``walrus-bench codec``: encode and decode throughput of the RedStuff codec.

Who calls it: :func:`walrus_node.bench.main`; results are recorded in BENCHMARKS.md.

Per iteration it encodes the blob (the 2-D expansion and every commitment, as a client
does before a store), then reads it back the way the client does: verify ``n - 2f``
primary slivers against the metadata, decode them with the consistency check. The read
is measured twice: best case from the systematic slivers (no Reed-Solomon work) and
worst case from the parity slivers. ``-v`` times the encode's stages (expansion, leaf
hashing, trees, secondary gather), so the cost of the 2-D layout and of the hashing is
visible.

Throughput is the blob's size over wall time on ``--threads`` codec threads (default:
all cores), MB = 10^6 bytes. The first iteration is reported separately as *cold*: fresh
memory must be page-faulted in. *Warm* is the median of the remaining iterations.

``--baseline isal`` also runs ISA-L's ``ec_encode_data`` (the engine of the project's
first codec, loaded with ctypes when the system has it) on the same shapes and buffers,
alternating with ours: the RS kernels alone and the whole encode with either RS
(:mod:`.codec_baseline`).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
from collections.abc import Mapping
from typing import Any

import numpy as np

from walrus_node import allocator
from walrus_node.bench import codec_baseline, measure
from walrus_node.codec import decoder, encoder, errors, slivers, threads
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", type=int, default=10, help="shard count n, 4..1000")
    parser.add_argument(
        "--size",
        type=measure.parse_size,
        default=64 << 20,
        help="blob size in bytes; units allowed: 1MiB, 64MiB, 1GB (default 64MiB)",
    )
    parser.add_argument(
        "--iterations", type=int, default=5, help="runs of each measurement (default 5)"
    )
    parser.add_argument(
        "--malloc",
        choices=["tuned", "default"],
        default="tuned",
        help="tuned: raise glibc's mmap and trim thresholds first (walrus_node.allocator); "
        "default: leave glibc as it is",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random blob")
    parser.add_argument(
        "--threads", type=int, default=0, help="codec threads (default 0: all cores)"
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also time the encode's stages",
    )
    parser.add_argument(
        "--baseline",
        choices=["none", "isal"],
        default="none",
        help="isal: also run ISA-L's ec_encode_data on the same shapes and buffers, back to "
        "back (libisal.so.2, e.g. Debian's libisal2; the run says so if it is absent)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile one more encode with cProfile and print where its time goes",
    )


@dataclasses.dataclass
class _Reads:
    """Times of one kind of client read: verifying the slivers, then decoding."""

    verify: measure.Series = dataclasses.field(default_factory=measure.Series)
    decode: measure.Series = dataclasses.field(default_factory=measure.Series)

    @property
    def total(self) -> measure.Series:
        return self.verify + self.decode

    def read(self, metadata: BlobMetadata, given: Mapping[int, bytes]) -> bytes:
        """Verify each primary sliver, then decode with the consistency check."""

        def verify() -> None:
            for index, data in given.items():
                slivers.verify_sliver(metadata, SliverType.PRIMARY, index, data)

        self.verify.measure(verify)
        return self.decode.measure(decoder.decode_primary, metadata, given, verified=True)


@dataclasses.dataclass
class _Codec:
    """What the timed encodes and reads measured."""

    symbol_size: int = 0
    encode: measure.Series = dataclasses.field(default_factory=measure.Series)
    encode_faults: list[int] = dataclasses.field(default_factory=list)
    best: _Reads = dataclasses.field(default_factory=_Reads)
    worst: _Reads = dataclasses.field(default_factory=_Reads)


def _measure_codec(blob: bytes, params: EncodingParams, iterations: int) -> _Codec:
    n = params.n
    figures = _Codec()
    reads = [(figures.best, range(params.rows)), (figures.worst, range(n - params.rows, n))]
    for iteration in range(iterations):
        faults = measure.minor_faults()
        enc = figures.encode.measure(encoder.encode, blob, n)
        figures.encode_faults.append(measure.minor_faults() - faults)
        figures.symbol_size, metadata = enc.symbol_size, enc.metadata
        # What a client receives: separate byte strings (copied before timing).
        received = [{i: bytes(enc.primary(i)) for i in indices} for _, indices in reads]
        del enc  # a reader does not hold the encoding; let its memory be reused
        for (series, _), given in zip(reads, received, strict=True):
            decoded = series.read(metadata, given)
            if iteration == 0 and decoded != blob:
                raise RuntimeError("decoded blob differs from the original")
            del decoded
        del received
    return figures


def _stages(blob: bytes, params: EncodingParams, iterations: int) -> dict[str, measure.Series]:
    """The encode's steps, run and timed one by one (separately from the timed encodes)."""
    names = ("expansion", "leaf hashing", "trees", "secondary gather")
    stages = {name: measure.Series() for name in names}
    for _ in range(iterations):
        expanded, s = stages["expansion"].measure(encoder.expanded_matrix, blob, params)
        leaves = stages["leaf hashing"].measure(encoder.symbol_leaves, expanded, s)
        stages["trees"].measure(encoder.sliver_roots, leaves, params.n)
        stages["secondary gather"].measure(encoder.secondary_slivers, expanded, params, s)
        del expanded, leaves
    return stages


def _profile_encode(blob: bytes, n: int) -> tuple[float, float, list[str]]:
    """Total profiled seconds, seconds inside Merkle hashing, and the top functions."""
    profiler = cProfile.Profile()
    profiler.runcall(encoder.encode, blob, n)
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    hashing = sum(
        entry[3]
        for (_, _, name), entry in entries.items()
        if any(f"walrus_native.{f}" in name for f in _HASHING)
    )
    total: float = stats.total_tt  # type: ignore[attr-defined]
    top = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:10]
    lines = [
        f"    {entry[2] * 1e3:9.1f} ms own {entry[3] * 1e3:9.1f} ms cumulative "
        f"{entry[1]:>8} calls  {pstats.func_std_string(key)}"  # type: ignore[attr-defined]
        for key, entry in top
    ]
    return total, hashing, lines


_HASHING = ("matrix_roots", "leaf_hashes", "merkle_roots", "sliver_roots", "hash")
"""The native module's hashing calls (cProfile sees each as one built-in)."""


def _warm_range(series: measure.Series) -> tuple[float, float]:
    """Fastest and slowest of the warm runs, in seconds (the median's spread)."""
    warm = series.seconds[1:] or series.seconds
    return min(warm), max(warm)


def _median(values: list[int]) -> int:
    return sorted(values)[len(values) // 2]


def _round(value: float) -> float:
    return round(value, 3 if value < 10 else 1)


def run(args: argparse.Namespace) -> int:
    tuned = allocator.tune() if args.malloc == "tuned" else False
    try:
        params = EncodingParams(args.shards)
        params.symbol_size(args.size)
    except errors.ParameterError as e:
        print(f"walrus-bench codec: {e}")
        return 2
    if args.iterations < 1 or args.size < 1 or args.threads < 0:
        print("walrus-bench codec: --iterations and --size must be at least 1, --threads >= 0")
        return 2
    if args.threads:
        threads.set_threads(args.threads)
    n, size, k = params.n, args.size, args.iterations
    load_before = measure.load_average()
    blob = np.random.default_rng(args.seed).bytes(size)
    codec = _measure_codec(blob, params, k)

    def mbps(seconds: float) -> float:
        return _round(measure.mbps(size, seconds))

    result: dict[str, Any] = {
        "benchmark": "codec",
        "shards": n,
        "size": size,
        "iterations": k,
        "symbol_size": codec.symbol_size,
        "malloc": "tuned" if tuned else "default",
        "threads": threads.get_threads(),
        "encode_MBps": mbps(codec.encode.warm),
        "decode_MBps": mbps(codec.best.total.warm),
        "decode_worst_MBps": mbps(codec.worst.total.warm),
        "encode_cold_MBps": mbps(codec.encode.cold),
        "decode_cold_MBps": mbps(codec.best.total.cold),
        "decode_worst_cold_MBps": mbps(codec.worst.total.cold),
        "encode_cpu_MBps": mbps(codec.encode.warm_cpu),
        "decode_cpu_MBps": mbps(codec.best.total.warm_cpu),
        "decode_worst_cpu_MBps": mbps(codec.worst.total.warm_cpu),
        "encode_ms": _round(codec.encode.warm * 1e3),
        "encode_cpu_ms": _round(codec.encode.warm_cpu * 1e3),
        "encode_ms_range": [_round(t * 1e3) for t in _warm_range(codec.encode)],
        "decode_ms": _round(codec.best.total.warm * 1e3),
        "decode_cpu_ms": _round(codec.best.total.warm_cpu * 1e3),
        "decode_worst_ms": _round(codec.worst.total.warm * 1e3),
        "decode_worst_cpu_ms": _round(codec.worst.total.warm_cpu * 1e3),
        "encode_minor_faults_cold": codec.encode_faults[0],
        "encode_minor_faults_warm": _median(codec.encode_faults[1:] or codec.encode_faults),
    }

    print(
        f"codec: n={n} shards (f={params.f}; {params.rows} x {params.columns} source symbols), "
        f"blob {size:,} bytes, symbols {codec.symbol_size:,} bytes, {k} iterations, "
        f"malloc {result['malloc']}"
    )
    print(
        f"MB/s of blob bytes, 1 MB = 10^6 bytes, {result['threads']} codec threads; "
        "cold = first iteration,"
    )
    print(
        "warm = median of the others (time: wall, CPU of the process, fastest..slowest "
        "warm run); cpu = warm, by the process's CPU time\n"
    )
    print(
        f"  {'':58} {'cold':>7} {'warm':>7} {'cpu':>7} {'warm time':>10} {'cpu time':>10}"
        f"  {'spread':>17}"
    )
    parity = f"{n - params.rows}..{n - 1}"
    table = [
        ("encode (2-D expansion + all commitments)", codec.encode),
        (f"read from systematic primary slivers 0..{params.rows - 1}", codec.best.total),
        (f"  verify {params.rows} slivers", codec.best.verify),
        ("  decode + consistency check", codec.best.decode),
        (f"read from parity primary slivers {parity}", codec.worst.total),
        (f"  verify {params.rows} slivers", codec.worst.verify),
        ("  decode + consistency check", codec.worst.decode),
    ]
    for label, series in table:
        low, high = _warm_range(series)
        print(
            f"  {label:58} {mbps(series.cold):7.1f} {mbps(series.warm):7.1f} "
            f"{mbps(series.warm_cpu):7.1f} {series.warm * 1e3:8.1f}ms "
            f"{series.warm_cpu * 1e3:8.1f}ms  {low * 1e3:7.1f}..{high * 1e3:7.1f}ms"
        )

    if args.verbose:
        stages = _stages(blob, params, k)
        total = sum(s.warm for s in stages.values())
        print("\n  encode stages, run one by one (warm; share of their sum):")
        for name, series in stages.items():
            print(f"    {name:20} {series.warm * 1e3:9.1f} ms  {series.warm / total:6.1%}")
        result["stages_ms"] = {name: _round(s.warm * 1e3) for name, s in stages.items()}

    if args.profile:
        profiled, hashing, top = _profile_encode(blob, n)
        print(
            f"\n  cProfile of one encode: {profiled * 1e3:.1f} ms, Merkle hashing "
            f"(native calls) {hashing * 1e3:.1f} ms = {hashing / profiled:.1%}"
        )
        print("  top functions by own time:")
        print("\n".join(top))
        result["profile_hashing_share"] = round(hashing / profiled, 3)

    if args.baseline == "isal":
        result["baseline"] = codec_baseline.run(blob, params, k, threads.get_threads())

    result["peak_rss_MiB"] = _round(measure.peak_rss_mib())
    result["load_average"] = [round(load_before, 2), round(measure.load_average(), 2)]
    result["machine"] = measure.machine()  # after the codec's first (cold) iterations
    print(
        f"\n  peak RSS {result['peak_rss_MiB']:.0f} MiB; minor page faults per encode: "
        f"cold {result['encode_minor_faults_cold']:,}, "
        f"warm {result['encode_minor_faults_warm']:,}; "
        f"load average {load_before:.2f} before, {result['load_average'][1]:.2f} after"
    )
    print(f"  {measure.machine_line(result['machine'])}")
    measure.emit_json(result)
    return 0
