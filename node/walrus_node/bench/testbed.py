"""testbed: store and read blobs end to end through a local network of node processes.

    walrus-bench testbed --nodes 7 --size 64MiB --count 5 --runs 3

Each run starts a testbed in a fresh temporary folder, stores ``warmup`` random blobs
and reads them back (not counted: a fresh testbed's first blob also pays the client's
connections and TLS handshakes and its processes' first memory), then stores ``count``
random blobs one after the other and reads each back (checking the bytes), then stops
the nodes and deletes the folder: always, also when the run fails or is interrupted
(Ctrl-C, SIGTERM).
A run prints throughput and latency (min / median / max over its blobs), where the
client's time went (encode / upload / certify, and metadata / slivers / decode), the CPU
time each store and each read cost in this process and in the nodes together (what a
slow node finishes after a store returned counts in the read that follows it), the
nodes' time from their metrics, over every call, the warm-up's too (StoreAndCertify:
receive, verify, write, confirm, wait for the certificate, record it; StoreBlob, for
clients and nodes without that call; GetSliver),
the nodes' resident memory after the last blob and after ``--idle-seconds`` of idleness,
and the load average before and after it. Throughput is blob bytes per second of the
operation's median latency; each blob's store and read time is in the JSON line
(``store_ms_each``, ``read_ms_each``). With several runs, the spread of each figure over
the runs follows (min / median / max, and the largest distance from the median in percent).

The last line is JSON with ``store_MBps``, ``read_MBps``, ``store_p50_ms``,
``store_p99_ms``, ``read_p50_ms``, ``read_p99_ms`` (medians over the runs), ``runs``
(every run's figures) and ``spread`` (per figure, over the runs).

The nodes ask their peers for certificates they missed every
``--certificate-poll-seconds``: by default the node's own default (5 s), not the 1 s
``walrus testbed`` sets for quick convergence in tests and demos. Every node lists every
peer's certificate log, so each stored blob's certificate later travels between the
nodes ``n·(n-1)`` times, in the catch-up rounds: at 1 s, rounds within the run cost 20-30%
of the nodes' CPU the benchmark counted per store (BENCHMARKS.md, "Per-call costs of a
1 MiB store"), work that on a real network runs on each node's own cores, not on the two
all seven nodes share here. ``--certificate-poll-seconds 1`` counts it.

Why each run deletes its folder: runs left behind keep gigabytes of store files in the
page cache, and the next run's fresh memory (encode buffers, slivers) then comes from
reclaiming those pages, which showed as runs getting slower back to back
(BENCHMARKS.md, "Back-to-back runs").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import signal
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from types import FrameType
from typing import Any

from walrus_node import allocator
from walrus_node.bench import measure
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.config import NodeConfig
from walrus_node.testbed.testbed import Testbed

__all__ = ["add_arguments", "node_settings", "run"]

FIGURES = ("store_MBps", "read_MBps", "store_p50_ms", "read_p50_ms")
"""Figures whose spread over runs is reported."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=None, help="default: one per node")
    parser.add_argument("--size", type=measure.parse_size, default=1 << 20, help="blob size")
    parser.add_argument("--count", type=int, default=10, help="blobs stored and read per run")
    parser.add_argument("--runs", type=int, default=1, help="runs back to back, each fresh")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="blobs stored and read first in each run, not counted (a fresh testbed's "
        "first blob also pays its connections and its processes' first memory)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=15.0,
        help="idle time before the nodes' memory is measured again (the nodes give "
        "memory back after idle_trim_seconds, 10 s by default)",
    )
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (to measure what TLS costs)"
    )
    parser.add_argument(
        "--certificate-poll-seconds",
        type=float,
        default=NodeConfig.certificate_poll_seconds,
        help="how often each node asks its peers for certificates it missed (default: "
        "the node's default; `walrus testbed` itself polls every 1 s)",
    )


def node_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the benchmark's nodes are told beyond the testbed's own settings."""
    return {"certificate_poll_seconds": args.certificate_poll_seconds}


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


def _nodes_rss(bed: Testbed) -> tuple[float, float]:
    """(largest resident set, largest peak resident set) among the nodes, MiB."""
    pairs = [measure.process_rss_mib(node.pid) for node in bed.nodes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _cpu_seconds(bed: Testbed) -> tuple[float, float]:
    """(this process's, the nodes' together) CPU seconds so far, user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ticks = os.sysconf("SC_CLK_TCK")
    nodes = 0.0
    for node in bed.nodes:
        with open(f"/proc/{node.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        nodes += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return own.ru_utime + own.ru_stime, nodes


async def _cycle(
    bed: Testbed, client: WalrusClient, size: int, parts: dict[str, list[float]] | None
) -> tuple[float, float]:
    """Store and read back one fresh blob; (store seconds, read seconds). Its buffers (the
    blob, what was read) are gone when it returns, so every cycle, warm-up or counted,
    makes the same allocations: a loop that kept the last blob and its read while making
    the next one made the client's heap grow over the first few blobs, whose encodes
    then ran on fresh pages (BENCHMARKS.md, "The store's checksum")."""
    data = os.urandom(size)
    cpu = _cpu_seconds(bed)
    started = time.perf_counter()
    stored = await client.store(data)
    store_seconds = time.perf_counter() - started
    stored_cpu = _cpu_seconds(bed)
    started = time.perf_counter()
    result = await client.read(stored.blob_id)
    read_seconds = time.perf_counter() - started
    read_cpu = _cpu_seconds(bed)
    if result.data != data:
        raise AssertionError("read back different bytes")
    if parts is not None:
        for name, before, after in (("store", cpu, stored_cpu), ("read", stored_cpu, read_cpu)):
            parts.setdefault(f"cpu_{name}_client", []).append(after[0] - before[0])
            parts.setdefault(f"cpu_{name}_nodes", []).append(after[1] - before[1])
        for name, seconds in (*stored.timings.items(), *result.timings.items()):
            parts.setdefault(name, []).append(seconds)
    return store_seconds, read_seconds


async def _exercise(
    bed: Testbed, size: int, count: int, warmup: int
) -> tuple[list[float], list[float], dict[str, list[float]], list[float]]:
    stores: list[float] = []
    reads: list[float] = []
    parts: dict[str, list[float]] = {}
    rss: list[float] = []
    with _sigterm_cancels():
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            for _ in range(warmup):
                await _cycle(bed, client, size, None)
            for _ in range(count):
                _stop_if_cancelled()  # even if a callee swallowed the cancellation
                store_seconds, read_seconds = await _cycle(bed, client, size, parts)
                stores.append(store_seconds)
                reads.append(read_seconds)
                rss.append(_nodes_rss(bed)[0])
    return stores, reads, parts, rss


def _stop_if_cancelled() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.contextmanager
def _sigterm_cancels() -> Iterator[None]:
    """While the client works, SIGTERM cancels its task through the event loop, and the
    cancellation leaves as KeyboardInterrupt (what :func:`_sigterm_interrupts` raises
    elsewhere). An exception raised by a signal handler lands in whatever Python frame
    runs at that moment, which on the loop may be a callback of gRPC's or asyncio's own;
    a cancellation is delivered at the task's next await, where it unwinds the client
    (its calls, its channels) in order."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    previous = signal.getsignal(signal.SIGTERM)
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    except asyncio.CancelledError:
        if task.cancelling():
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)  # remove_signal_handler left the default


def _ms(values: list[float]) -> str:
    return " / ".join(f"{f(values) * 1000:.1f}" for f in (min, statistics.median, max))


def _one_run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = measure.load_average()
    directory = tempfile.mkdtemp(prefix="walrus-bench-")
    try:
        bed = Testbed.create(
            os.path.join(directory, "testbed"),
            args.nodes,
            args.shards,
            node_settings=node_settings(args),
            plaintext=args.plaintext,
        )
        try:
            bed.up()
            stores, reads, parts, rss = asyncio.run(
                _exercise(bed, args.size, args.count, args.warmup)
            )
            node_store, store_calls = _node_rpc_seconds(bed, "StoreBlob")
            node_both, both_calls = _node_rpc_seconds(bed, "StoreAndCertify")
            node_read, read_calls = _node_rpc_seconds(bed, "GetSliver")
            rss_after, node_peak = _nodes_rss(bed)
            time.sleep(args.idle_seconds)
            rss_idle, _ = _nodes_rss(bed)
        finally:
            bed.down()
        n_shards = bed.n_shards
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    store_p50, read_p50 = statistics.median(stores), statistics.median(reads)
    return {
        "shards": n_shards,
        "store_MBps": round(measure.mbps(args.size, store_p50), 1),
        "read_MBps": round(measure.mbps(args.size, read_p50), 1),
        "store_p50_ms": round(store_p50 * 1000, 1),
        "store_p99_ms": round(_percentile(stores, 0.99) * 1000, 1),
        "read_p50_ms": round(read_p50 * 1000, 1),
        "read_p99_ms": round(_percentile(reads, 0.99) * 1000, 1),
        "store_ms_min_median_max": _ms(stores),
        "read_ms_min_median_max": _ms(reads),
        "store_ms_each": [round(x * 1000, 1) for x in stores],
        "read_ms_each": [round(x * 1000, 1) for x in reads],
        "client_breakdown_ms": {
            k: round(statistics.median(v) * 1000, 1)
            for k, v in parts.items()
            if not k.startswith("cpu_")
        },
        "cpu_ms_per_blob": {
            k[4:]: round(statistics.mean(v) * 1000, 1)
            for k, v in parts.items()
            if k.startswith("cpu_")
        },
        "node_store_and_certify_ms_per_call": round(node_both / max(both_calls, 1) * 1000, 1),
        "node_store_blob_ms_per_call": round(node_store / max(store_calls, 1) * 1000, 1),
        "node_get_sliver_ms_per_call": round(node_read / max(read_calls, 1) * 1000, 1),
        "node_rss_MiB_after_each_blob": [round(x, 1) for x in rss],
        "node_rss_MiB_after": round(rss_after, 1),
        "node_rss_MiB_idle": round(rss_idle, 1),
        "node_peak_rss_MiB": round(node_peak, 1),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(measure.load_average(), 2),
    }


def _print_run(number: int, f: dict[str, Any]) -> None:
    print(
        f" run {number}: load average {f['load_average_before']} before, "
        f"{f['load_average_after']} after"
    )
    print(
        f"  store  {f['store_MBps']:8.1f} MB/s  ms min/median/max {f['store_ms_min_median_max']}"
        f"  p99 {f['store_p99_ms']}"
    )
    print(
        f"  read   {f['read_MBps']:8.1f} MB/s  ms min/median/max {f['read_ms_min_median_max']}"
        f"  p99 {f['read_p99_ms']}"
    )
    print(f"  client time (median ms): {f['client_breakdown_ms']}")
    print(f"  CPU per blob (mean ms, user + system): {f['cpu_ms_per_blob']}")
    print(
        f"  node time per call: StoreAndCertify {f['node_store_and_certify_ms_per_call']} ms "
        f"(receive, verify, fsync, sign, wait for and record the certificate), "
        f"StoreBlob {f['node_store_blob_ms_per_call']} ms, "
        f"GetSliver {f['node_get_sliver_ms_per_call']} ms"
    )
    after_each = f["node_rss_MiB_after_each_blob"]
    print(
        f"  node RSS (largest, MiB): after blob 1 {after_each[0]}, after the last "
        f"{f['node_rss_MiB_after']}, idle {f['node_rss_MiB_idle']}, peak {f['node_peak_rss_MiB']}"
    )


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so cleanup runs for both."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    allocator.tune()  # the client process, as the walrus CLI does
    transport = "plaintext" if args.plaintext else "TLS"
    print(
        f"testbed: {args.nodes} nodes, {args.count} x {args.size} bytes per run "
        f"after {args.warmup} not counted, {args.runs} run(s), {transport}, "
        f"certificate catch-up every {args.certificate_poll_seconds:g} s"
    )
    machine = measure.machine()
    print(measure.machine_line(machine))
    runs: list[dict[str, Any]] = []
    try:
        with _sigterm_interrupts():
            for number in range(1, args.runs + 1):
                runs.append(_one_run(args))
                _print_run(number, runs[-1])
    except KeyboardInterrupt:
        print("interrupted: the testbed was stopped and its folder deleted", flush=True)
        return 130
    spread = {key: measure.spread([r[key] for r in runs]) for key in FIGURES}
    if args.runs > 1:
        print(" over the runs (min / median / max, spread):")
        for key, s in spread.items():
            print(f"  {key:13} {s['min']} / {s['median']} / {s['max']}  +-{s['spread_pct']}%")
    figures: dict[str, Any] = {
        "nodes": args.nodes,
        "shards": runs[0]["shards"],
        "size": args.size,
        "count": args.count,
        "warmup": args.warmup,
        "tls": not args.plaintext,
        "certificate_poll_seconds": args.certificate_poll_seconds,
        **{
            key: round(statistics.median(r[key] for r in runs), 1)
            for key in (*FIGURES, "store_p99_ms", "read_p99_ms")
        },
        "client_peak_rss_MiB": round(measure.peak_rss_mib(), 1),
        "load_average": measure.load_average(),
        "machine": machine,
        "spread": spread,
        "runs": runs,
    }
    measure.emit_json(figures)
    return 0
