"""gateway: the HTTP gateway on a local testbed: PUT, GET, latency under load, Range.

    walrus-bench gateway --nodes 7

Starts a testbed and ``walrus gateway`` (a separate process, as deployed) in a temporary
folder, then measures:

- ``PUT`` of 64 MiB and 1 MiB blobs (MB/s of the median);
- ``GET`` of a 64 MiB blob: MB/s and time to the first body byte, beside the Python
  client's own read of the same blob in this process;
- ``GET`` of 1 MiB and 100 KiB blobs with 1 and 32 concurrent keep-alive connections for
  ``--seconds`` each (requests/s, p50, p99), from a small asyncio HTTP/1.1 load generator
  in this process (the role of ``wrk``; it shares the machine's cores with the gateway);
- a ``Range`` read of 1 MiB out of a 256 MiB blob, beside a full ``GET`` of that blob:
  the first (the node reads the whole primary sliver to build its Merkle tree) and the
  median of ``--count`` more (the node reads only the symbols); ``--range-only`` measures
  just this.

``--cache-bytes`` is passed to the gateway (default 0: every ``GET`` goes to the nodes).
The last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse

from walrus_node import allocator
from walrus_node.bench import measure
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.testbed.testbed import Testbed

__all__ = ["add_arguments", "run"]

MiB = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=5.0, help="per load run")
    parser.add_argument("--large", type=measure.parse_size, default=64 * MiB)
    parser.add_argument("--huge", type=measure.parse_size, default=256 * MiB, help="Range blob")
    parser.add_argument("--count", type=int, default=3, help="large PUTs and GETs")
    parser.add_argument("--cache-bytes", type=int, default=0, help="gateway read cache")
    parser.add_argument(
        "--range-only", action="store_true", help="only the Range read beside a full GET"
    )
    parser.add_argument(
        "--put-rss-only",
        action="store_true",
        help="only the gateway's peak RSS while it stores one --huge PUT",
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _Http:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.host, self.port = parts.hostname, parts.port

    def put(self, data: bytes) -> str:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            conn.request("PUT", "/v1/blobs?permanent=true&force=true", body=data)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 200:
                raise RuntimeError(f"PUT: {reply.status} {body[:200]!r}")
        finally:
            conn.close()
        blob_id: str = json.loads(body)["newlyCreated"]["blobObject"]["blobId"]
        return blob_id

    def get(self, blob_id: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
        """(bytes received, seconds to the first body byte)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        started = time.perf_counter()
        try:
            conn.request("GET", f"/v1/blobs/{blob_id}", headers=headers or {})
            reply = conn.getresponse()
            first = reply.read(1)
            first_byte = time.perf_counter() - started
            rest = 0
            while chunk := reply.read(1 << 20):
                rest += len(chunk)
            if reply.status not in (200, 206):
                raise RuntimeError(f"GET: {reply.status}")
            return len(first) + rest, first_byte
        finally:
            conn.close()


async def _load(
    host: str, port: int, blob_id: str, connections: int, seconds: float
) -> list[float]:
    """Latencies of keep-alive GETs from ``connections`` connections for ``seconds``."""
    request = f"GET /v1/blobs/{blob_id} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


def _stats(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
    }


async def _client_read(bed: Testbed, blob_id: str, count: int) -> list[float]:
    times = []
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        for _ in range(count):
            started = time.perf_counter()
            await client.read(BlobId.parse(blob_id))
            times.append(time.perf_counter() - started)
    return times


async def _client_store(bed: Testbed, data: bytes) -> str:
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        return str((await client.store(data)).blob_id)


def _ranged(bed: Testbed, web: _Http, size: int, count: int) -> dict[str, float]:
    """A full GET of a ``size`` blob, then 1 MiB Range GETs from its middle."""
    huge = os.urandom(size)
    huge_id = asyncio.run(_client_store(bed, huge))
    del huge
    started = time.perf_counter()
    n, _ = web.get(huge_id)
    full = time.perf_counter() - started
    assert n == size
    start = size // 2 + 12345
    ranged = []
    for i in range(count + 1):  # the first asks the node to build the sliver's tree
        began = time.perf_counter()
        n, _ = web.get(huge_id, {"Range": f"bytes={start + i}-{start + i + MiB - 1}"})
        ranged.append(time.perf_counter() - began)
        assert n == MiB
    first, rest = ranged[0], ranged[1:]
    return {
        "huge_full_get_ms": round(full * 1000, 1),
        "range_1MiB_of_huge_first_ms": round(first * 1000, 1),
        "range_1MiB_of_huge_ms": round(statistics.median(rest) * 1000, 1),
        "range_speedup_first": round(full / first, 1),
        "range_speedup": round(full / statistics.median(rest), 1),
    }


def _status_mib(pid: int, key: str) -> float:
    """A ``/proc/<pid>/status`` memory figure (``VmHWM``, ``VmRSS``) in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for process {pid}")


def _put_rss(bed: Testbed, web: _Http, size: int) -> dict[str, float]:
    """The gateway's peak RSS over one ``PUT`` of ``size`` bytes, against its RSS before."""
    pid = bed.gateway_pid
    data = os.urandom(size)
    before = _status_mib(pid, "VmHWM")
    started = time.perf_counter()
    web.put(data)
    elapsed = time.perf_counter() - started
    peak = _status_mib(pid, "VmHWM")
    return {
        "put_huge_s": round(elapsed, 2),
        "gateway_rss_before_mib": round(before, 1),
        "gateway_peak_rss_mib": round(peak, 1),
        "gateway_peak_over_body": round((peak - before) / (size / MiB), 2),
    }


def run(args: argparse.Namespace) -> int:
    allocator.tune()
    directory = tempfile.mkdtemp(prefix="walrus-bench-")
    bed = Testbed.create(os.path.join(directory, "testbed"), args.nodes)
    figures: dict[str, object] = {"nodes": args.nodes, "cache_bytes": args.cache_bytes}
    try:
        bed.up()
        url = bed.start_gateway(extra_args=("--cache-bytes", str(args.cache_bytes)))
        web = _Http(url)

        if args.put_rss_only:
            figures.update(_put_rss(bed, web, args.huge))
            figures["load_average"] = measure.load_average()
            return _report(args, figures)
        if args.range_only:
            figures.update(_ranged(bed, web, args.huge, args.count))
            figures["load_average"] = measure.load_average()
            return _report(args, figures)
        for name, size, count in (("put_64MiB", args.large, args.count), ("put_1MiB", MiB, 10)):
            times = []
            for _ in range(count):
                data = os.urandom(size)
                started = time.perf_counter()
                web.put(data)
                times.append(time.perf_counter() - started)
            figures[f"{name}_MBps"] = round(measure.mbps(size, statistics.median(times)), 1)
            figures[f"{name}_p50_ms"] = round(statistics.median(times) * 1000, 1)

        large_id = web.put(os.urandom(args.large))
        gets, first_bytes = [], []
        for _ in range(args.count):
            started = time.perf_counter()
            n, first = web.get(large_id)
            gets.append(time.perf_counter() - started)
            first_bytes.append(first)
            assert n == args.large
        client_reads = asyncio.run(_client_read(bed, large_id, args.count))
        figures["get_64MiB_MBps"] = round(measure.mbps(args.large, statistics.median(gets)), 1)
        figures["get_64MiB_first_byte_ms"] = round(statistics.median(first_bytes) * 1000, 1)
        figures["client_read_64MiB_MBps"] = round(
            measure.mbps(args.large, statistics.median(client_reads)), 1
        )

        for name, size in (("1MiB", MiB), ("100KiB", 100 << 10)):
            blob_id = web.put(os.urandom(size))
            for connections in (1, 32):
                latencies = asyncio.run(
                    _load(web.host, web.port, blob_id, connections, args.seconds)
                )
                figures[f"get_{name}_c{connections}"] = _stats(latencies, args.seconds)

        figures.update(_ranged(bed, web, args.huge, args.count))
        figures["load_average"] = measure.load_average()
    finally:
        bed.down()
        shutil.rmtree(directory, ignore_errors=True)  # gigabytes of slivers

    return _report(args, figures)


def _report(args: argparse.Namespace, figures: dict[str, object]) -> int:
    print(f"gateway: {args.nodes} nodes, cache {args.cache_bytes} bytes")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    measure.emit_json(figures)
    return 0
