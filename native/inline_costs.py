"""Cost of one native call on the calling thread against the same call on the pool.

Measures the numbers behind ``INLINE_HASH_BYTES`` and ``INLINE_CODE_BYTES``
(native/src/threads.rs): for each kind of work and size, the median wall time of one call
and the process's CPU time per call (every thread, so the pool's hand-off and its
workers' spinning count), with the calls spaced as in a store (``--gap-ms`` apart, so the
pool's workers are asleep when a call comes) or back to back (``--gap-ms 0``).

    .venv/bin/python native/inline_costs.py [--calls 200] [--gap-ms 2] [--threads 2]

Prints one line per kind and size: ``kind bytes inline_wall_us pool_wall_us inline_cpu_us
pool_cpu_us``, the CPU of the loop without calls (the gap's own cost) and the load
average. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import walrus_native

# A sliver check at n = 7 (k = 5 symbols for a primary sliver of a 1 MiB blob): the code
# and the hashes of a store's node, at sizes around it.
N, K = 7, 5


def _calls(size: int) -> dict[str, tuple[int, Callable[[], object]]]:
    """Each kind of work at about ``size`` bytes: (its work in bytes, one call)."""
    rng = np.random.default_rng(size)
    s = max(2, (size // 64) & ~1)
    symbols = rng.integers(0, 256, 64 * s, dtype=np.uint8)
    sym = max(2, (size // N) & ~1)
    sliver = rng.integers(0, 256, K * sym, dtype=np.uint8)
    shard = max(2, (size // N) & ~1)
    group = rng.integers(0, 256, N * shard, dtype=np.uint8)
    return {
        "leaf_hashes": (64 * s, lambda: walrus_native.leaf_hashes(symbols, s, 64)),
        "sliver_roots": (N * sym, lambda: walrus_native.sliver_roots([sliver], K, N, sym)),
        "rs_extend": (
            N * shard,
            lambda: walrus_native.rs_extend(group, K, N, shard, 1, 0, shard),
        ),
        # The library's FFT, as codes beyond the matrix product's reach take.
        "rs_extend_fft": (
            N * shard,
            lambda: walrus_native.rs_extend(group, K, N, shard, 1, 0, shard, matrix=False),
        ),
    }


def _measure(call: Callable[[], object], calls: int, gap: float) -> tuple[float, float]:
    """Median wall time of one call and CPU time per call, in microseconds."""
    for _ in range(5):
        call()
    time.sleep(0.05)  # the pool's workers asleep, whatever came before
    walls = []
    cpu0 = time.process_time()
    for _ in range(calls):
        if gap:
            time.sleep(gap)
        t0 = time.perf_counter()
        call()
        walls.append(time.perf_counter() - t0)
    if gap:
        time.sleep(gap)  # the workers' spin after the last call, counted like the others
    cpu = (time.process_time() - cpu0) / calls
    return statistics.median(walls) * 1e6, cpu * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--sizes",
        default="16K,64K,128K,256K,512K,1M,2M,4M",
        help="bytes of work per call, comma-separated (K = 1024)",
    )
    args = parser.parse_args()
    walrus_native.set_threads(args.threads)
    sizes = [
        int(x[:-1]) * 1024 if x.endswith("K") else int(x[:-1]) << 20 if x.endswith("M") else int(x)
        for x in args.sizes.split(",")
    ]
    print(f"load {os.getloadavg()}, threads {args.threads}, gap {args.gap_ms} ms")
    idle = _measure(lambda: None, args.calls, args.gap_ms / 1000)[1]
    print(f"CPU per call of the loop alone (the gap, no call): {idle:.0f} us")
    print("kind bytes inline_wall_us pool_wall_us inline_cpu_us pool_cpu_us")
    limits = walrus_native.inline_limits()
    try:
        for size in sizes:
            for kind, (work, call) in _calls(size).items():
                walrus_native.set_inline_limits(1 << 62, 1 << 62)
                inline = _measure(call, args.calls, args.gap_ms / 1000)
                walrus_native.set_inline_limits(0, 0)
                pooled = _measure(call, args.calls, args.gap_ms / 1000)
                print(
                    f"{kind} {work} {inline[0]:.0f} {pooled[0]:.0f} {inline[1]:.0f} {pooled[1]:.0f}"
                )
    finally:
        walrus_native.set_inline_limits(*limits)
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
