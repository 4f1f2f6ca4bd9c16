"""Where the CPU of a 1 MiB store goes, thread by thread: node 0's threads, every node,
and the client, per store, on a fresh TLS testbed.

    .venv/bin/python scripts/store_cpu_threads.py 200            # 200 stores, 7 nodes
    .venv/bin/python scripts/store_cpu_threads.py 200 --split    # user and system apart

It starts a testbed as ``walrus-bench testbed`` does (certificate catch-up at the node's
default), stores ``--warmup`` blobs first (not counted: connections, TLS handshakes, first
memory), then reads each thread's CPU time (``/proc/<pid>/task/<tid>/stat``, user +
system, in clock ticks: 10 ms each, so over 200 stores 0.05 ms per store) before and after
``stores`` stores made back to back from this process, and prints one JSON line. Threads
are grouped by name: ``main(loop)`` is a process's first thread (its event loop),
``python`` its Python worker threads (store writers, executors), ``event_engine`` gRPC's,
``walrus-codec-*`` the native codec's pool. The testbed's folder is deleted at the end,
also on failure. No blob is read: this measures stores alone.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import tempfile
import time
from typing import Any

from walrus_node import allocator
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.config import NodeConfig
from walrus_node.testbed.testbed import Testbed

TICK = os.sysconf("SC_CLK_TCK")

Ticks = dict[tuple[int, str], tuple[str, int]]
"""(thread id, user or system) -> (thread name, clock ticks)."""


def thread_ticks(pid: int, split: bool) -> Ticks:
    out: Ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if int(tid) == pid:
            name = "main(loop)"
        fields = stat.rsplit(")", 1)[1].split()
        user, system = int(fields[11]), int(fields[12])
        if split:
            out[(int(tid), "u")] = (name + "/user", user)
            out[(int(tid), "s")] = (name + "/system", system)
        else:
            out[(int(tid), "")] = (name, user + system)
    return out


def per_store_ms(before: Ticks, after: Ticks, stores: int) -> dict[str, float]:
    grouped: collections.Counter[str] = collections.Counter()
    for key, (name, ticks) in after.items():
        grouped[name] += ticks - before.get(key, (name, 0))[1]
    return {
        name: round(ticks * 1000 / TICK / stores, 2)
        for name, ticks in grouped.most_common()
        if ticks
    }


def process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def exercise(bed: Testbed, stores: int, warmup: int, split: bool) -> dict[str, Any]:
    me = os.getpid()
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        for _ in range(warmup):
            await client.store(os.urandom(1 << 20))
        blobs = [os.urandom(1 << 20) for _ in range(stores)]
        node0 = bed.nodes[0].pid
        node0_before, client_before = thread_ticks(node0, split), thread_ticks(me, split)
        nodes_before = [process_ticks(node.pid) for node in bed.nodes]
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        latencies = []
        for data in blobs:
            begun = time.perf_counter()
            await client.store(data)
            latencies.append(time.perf_counter() - begun)
        wall = time.perf_counter() - started
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        node0_after, client_after = thread_ticks(node0, split), thread_ticks(me, split)
        nodes_after = [process_ticks(node.pid) for node in bed.nodes]
    own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    nodes = [(a - b) * 1000 / TICK / stores for a, b in zip(nodes_after, nodes_before, strict=True)]
    latencies.sort()
    return {
        "stores": stores,
        "wall_s": round(wall, 2),
        "store_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "node0_threads_ms": per_store_ms(node0_before, node0_after, stores),
        "nodes_ms_each": [round(x, 2) for x in nodes],
        "nodes_ms": round(sum(nodes), 2),
        "client_ms": round(own * 1000 / stores, 2),
        "client_threads_ms": per_store_ms(client_before, client_after, stores),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", type=int)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--split", action="store_true", help="user and system time apart")
    args = parser.parse_args()
    allocator.tune()  # the client process, as the walrus CLI does
    directory = tempfile.mkdtemp(prefix="walrus-cpu-threads-")
    try:
        bed = Testbed.create(
            os.path.join(directory, "testbed"),
            args.nodes,
            None,
            node_settings={"certificate_poll_seconds": NodeConfig.certificate_poll_seconds},
        )
        try:
            bed.up()
            figures = asyncio.run(exercise(bed, args.stores, args.warmup, args.split))
        finally:
            bed.down()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
