"""The codec's Reed-Solomon against ISA-L's, back to back in one run: ``walrus-bench codec
--baseline isal``.

Who calls it: :func:`walrus_node.bench.codec.run`.

Three kernels on the same buffers, the shapes an encode and a read at ``n`` run:

- the row code (``columns`` sources to ``f`` parity, ``rows`` groups, contiguous),
- the column code (``rows`` sources to ``n - rows`` parity, ``n`` groups, a row apart),
- the read from parity primary slivers (``rows`` parity rows to the ``rows`` source rows,
  ``columns`` groups), as the decoder rebuilds them;

and the whole encode twice, differing only in the Reed-Solomon: ``fill + extend +
commitments`` with our :func:`~walrus_node.codec.encoder.extend`, and the same with ISA-L
doing the row and column codes in place (our BLAKE3 and Merkle code for the rest). So the
comparison isolates the RS kernels, and the encode line shows what they weigh in the
whole. Iterations alternate between the two sides; CPU time of the process is the
measure (ISA-L's pieces run in a thread pool when ``threads > 1``, ours on the codec's
own pool).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable

import numpy as np

from walrus_node.bench import isal, measure
from walrus_node.codec import encoder, rs
from walrus_node.codec.params import EncodingParams

__all__ = ["Comparison", "compare", "report", "run"]


@dataclasses.dataclass
class Comparison:
    """Each measured step: (ours, ISA-L)."""

    steps: dict[str, tuple[measure.Series, measure.Series]]


def _addresses(base: int, rows: range, column: int, n: int, s: int) -> list[int]:
    return [base + r * n * s + column * s for r in rows]


def compare(
    blob: bytes, params: EncodingParams, iterations: int, lib: isal.Isal, threads: int
) -> Comparison:
    """Alternate our kernels and ISA-L's ``iterations`` times on one blob's matrix."""
    n, rows, cols = params.n_shards, params.rows, params.columns
    s = params.symbol_size(len(blob))
    expanded = np.empty((n, n * s), dtype=np.uint8)
    base = expanded.ctypes.data
    row_isal = lib.encoder(cols, n)
    column_isal = lib.encoder(rows, n)
    have = list(range(n - rows, n))
    want = list(range(rows))
    decode_isal = lib.decoder(rows, n, have, want)
    rebuilt = np.empty((rows, cols * s), dtype=np.uint8)
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None

    def row_ours() -> None:
        rs.code(cols, n).extend(expanded, s, groups=rows, group_stride=n * s)

    def row_theirs() -> None:
        row_isal.apply(
            [[base + r * n * s + c * s for c in range(cols)] for r in range(rows)],
            [[base + r * n * s + c * s for c in range(cols, n)] for r in range(rows)],
            s,
            threads,
            pool,
        )

    def column_ours() -> None:
        rs.code(rows, n).extend(expanded, s, groups=n, group_stride=s, shard_stride=n * s)

    def column_theirs() -> None:
        column_isal.apply(
            [_addresses(base, range(rows), j, n, s) for j in range(n)],
            [_addresses(base, range(rows, n), j, n, s) for j in range(n)],
            s,
            threads,
            pool,
        )

    def decode_ours() -> None:
        sources = [expanded[i] for i in have]
        rs.code(rows, n).reconstruct(
            s,
            have,
            sources,
            want,
            rebuilt,
            groups=cols,
            out_group_stride=s,
            out_index_stride=cols * s,
        )

    def decode_theirs() -> None:
        out = rebuilt.ctypes.data
        decode_isal.apply(
            [[base + i * n * s + g * s for i in have] for g in range(cols)],
            [[out + w * cols * s + g * s for w in want] for g in range(cols)],
            s,
            threads,
            pool,
        )

    def encode_with(extend: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            encoder.fill_source(blob, params, expanded, s)
            extend()
            encoder.commitments(expanded, n, s)

        return run

    def both(ours: Callable[[], None], theirs: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            ours()
            theirs()

        return run

    kernels: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        f"row code {cols} -> {n}, {rows} groups": (row_ours, row_theirs),
        f"column code {rows} -> {n}, {n} groups": (column_ours, column_theirs),
        f"rebuild {rows} rows from parity, {cols} groups": (decode_ours, decode_theirs),
        "encode (fill + RS + all commitments)": (
            encode_with(both(row_ours, column_ours)),
            encode_with(both(row_theirs, column_theirs)),
        ),
    }
    steps = {name: (measure.Series(), measure.Series()) for name in kernels}
    try:
        encode_with(both(row_ours, column_ours))()  # sources and parity in place, pages touched
        for _ in range(iterations):
            for name, (ours, theirs) in kernels.items():
                steps[name][0].measure(ours)
                steps[name][1].measure(theirs)
    finally:
        if pool is not None:
            pool.shutdown()
    return Comparison(steps)


def report(comparison: Comparison, size: int, lib: isal.Isal) -> dict[str, object]:
    """Print the comparison; its figures for the JSON line."""
    print(
        f"\n  back to back with ISA-L ({lib.path}, ec_encode_data, GF(2^8) Cauchy), same "
        "buffers, alternating;\n  CPU ms of the process per run: median (fastest..slowest), "
        "cpu MB/s of blob bytes; ratio = ours / ISA-L CPU"
    )
    print(f"  {'':46} {'ours':>24} {'ISA-L':>24} {'ratio':>6}")
    figures: dict[str, object] = {}

    def cell(series: measure.Series) -> str:
        cpu = sorted(series.cpu_seconds)
        median = series.warm_cpu * 1e3
        return (
            f"{median:6.1f} ({cpu[0] * 1e3:5.1f}..{cpu[-1] * 1e3:5.1f}) "
            f"{measure.mbps(size, series.warm_cpu):6.0f}"
        )

    for name, (ours, theirs) in comparison.steps.items():
        ratio = ours.warm_cpu / theirs.warm_cpu if theirs.warm_cpu > 0 else float("inf")
        print(f"  {name:46} {cell(ours):>24} {cell(theirs):>24} {ratio:6.2f}")
        figures[name] = {
            "ours_cpu_ms": round(ours.warm_cpu * 1e3, 2),
            "isal_cpu_ms": round(theirs.warm_cpu * 1e3, 2),
            "ours_cpu_ms_range": _range_ms(ours),
            "isal_cpu_ms_range": _range_ms(theirs),
            "ours_wall_ms": round(ours.warm * 1e3, 2),
            "isal_wall_ms": round(theirs.warm * 1e3, 2),
        }
    return figures


def run(blob: bytes, params: EncodingParams, iterations: int, threads: int) -> object:
    """Load ISA-L, compare and print; the figures for the JSON line, or ``None`` (said
    on the output) when ISA-L is absent or the code is too long for GF(2^8)."""
    lib = isal.load()
    n = params.n_shards
    if lib is None:
        print(
            "\n  baseline: ISA-L NOT FOUND (no libisal.so.2 to load; on Debian "
            "`apt-get install libisal2`): no comparison was made"
        )
        return None
    if n > isal.MAX_SHARDS:
        print(
            f"\n  baseline: ISA-L's GF(2^8) code takes at most {isal.MAX_SHARDS} shards, "
            f"not {n}: no comparison was made"
        )
        return None
    comparison = compare(blob, params, iterations, lib, threads)
    return report(comparison, len(blob), lib)


def _range_ms(series: measure.Series) -> list[float]:
    """Fastest and slowest CPU time of all runs, ms."""
    return [round(min(series.cpu_seconds) * 1e3, 2), round(max(series.cpu_seconds) * 1e3, 2)]
