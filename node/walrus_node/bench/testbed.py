"""testbed: store and read blobs end to end through a local network of node processes.

    walrus-bench testbed --nodes 7 --size 64MiB --count 5

Starts a testbed in a temporary folder, stores ``count`` random blobs one after the other
and reads each back (checking the bytes), then prints throughput and latency
percentiles, where the client's time went (encode / upload / certify, and metadata /
slivers / decode), and the nodes' time from their metrics (StoreSlivers: receive,
verify, write; GetSliver). Throughput is blob bytes per second of the operation's
median latency. The last line is JSON with ``store_MBps``, ``read_MBps``,
``store_p50_ms``, ``store_p99_ms``, ``read_p50_ms``, ``read_p99_ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import urllib.request

from walrus_node import allocator
from walrus_node.bench import measure
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.testbed.testbed import Testbed

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=None, help="default: one per node")
    parser.add_argument("--size", type=measure.parse_size, default=1 << 20, help="blob size")
    parser.add_argument("--count", type=int, default=10, help="blobs stored and read")
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (to measure what TLS costs)"
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _node_rpc_seconds(bed: Testbed, method: str) -> tuple[float, int]:
    """Total handling seconds and calls of an RPC across the nodes (Prometheus)."""
    total, count = 0.0, 0
    for node in bed.nodes:
        url = f"http://127.0.0.1:{node.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith("walrus_rpc_duration_seconds_sum") and f'method="{method}"' in line:
                total += float(line.rsplit(" ", 1)[1])
            if (
                line.startswith("walrus_rpc_duration_seconds_count")
                and f'method="{method}"' in line
            ):
                count += int(float(line.rsplit(" ", 1)[1]))
    return total, count


async def _exercise(
    bed: Testbed, size: int, count: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    stores: list[float] = []
    reads: list[float] = []
    parts: dict[str, list[float]] = {}
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        for _ in range(count):
            data = os.urandom(size)
            started = time.perf_counter()
            stored = await client.store(data)
            stores.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = await client.read(stored.blob_id)
            reads.append(time.perf_counter() - started)
            if result.data != data:
                raise AssertionError("read back different bytes")
            for name, seconds in (*stored.timings.items(), *result.timings.items()):
                parts.setdefault(name, []).append(seconds)
    return stores, reads, parts


def run(args: argparse.Namespace) -> int:
    allocator.tune()  # the client process, as the walrus CLI does
    directory = tempfile.mkdtemp(prefix="walrus-bench-")
    bed = Testbed.create(
        os.path.join(directory, "testbed"), args.nodes, args.shards, plaintext=args.plaintext
    )
    try:
        bed.up()
        stores, reads, parts = asyncio.run(_exercise(bed, args.size, args.count))
        node_store, store_calls = _node_rpc_seconds(bed, "StoreSlivers")
        node_read, read_calls = _node_rpc_seconds(bed, "GetSliver")
    finally:
        bed.down()
    store_p50, read_p50 = statistics.median(stores), statistics.median(reads)
    figures = {
        "nodes": args.nodes,
        "shards": bed.n_shards,
        "size": args.size,
        "count": args.count,
        "tls": not args.plaintext,
        "store_MBps": round(measure.mbps(args.size, store_p50), 1),
        "read_MBps": round(measure.mbps(args.size, read_p50), 1),
        "store_p50_ms": round(store_p50 * 1000, 1),
        "store_p99_ms": round(_percentile(stores, 0.99) * 1000, 1),
        "read_p50_ms": round(read_p50 * 1000, 1),
        "read_p99_ms": round(_percentile(reads, 0.99) * 1000, 1),
        "client_breakdown_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in parts.items()},
        "node_store_slivers_ms_per_call": round(node_store / max(store_calls, 1) * 1000, 1),
        "node_get_sliver_ms_per_call": round(node_read / max(read_calls, 1) * 1000, 1),
        "client_peak_rss_MiB": round(measure.peak_rss_mib(), 1),
        "load_average": measure.load_average(),
    }
    transport = "plaintext" if args.plaintext else "TLS"
    print(
        f"testbed: {args.nodes} nodes, {bed.n_shards} shards, {args.count} x {args.size} bytes, "
        f"{transport}"
    )
    print(
        f"  store  {figures['store_MBps']:8.1f} MB/s  p50 {figures['store_p50_ms']} ms  "
        f"p99 {figures['store_p99_ms']} ms"
    )
    print(
        f"  read   {figures['read_MBps']:8.1f} MB/s  p50 {figures['read_p50_ms']} ms  "
        f"p99 {figures['read_p99_ms']} ms"
    )
    print(f"  client time (median ms): {figures['client_breakdown_ms']}")
    print(
        f"  node time per call: StoreSlivers {figures['node_store_slivers_ms_per_call']} ms "
        f"(receive, verify, fsync), GetSliver {figures['node_get_sliver_ms_per_call']} ms"
    )
    measure.emit_json(figures)
    return 0
