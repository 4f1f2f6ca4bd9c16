"""migration: shard transfer at an epoch change, cooperative and by recovery.

    walrus-bench migration --data 330MiB
    walrus-bench migration --nodes 10 --shards 1000 --data 256MiB --keep-all

A testbed of 4 nodes and 10 shards (D'Hondt with equal stake: 3, 3, 2, 2 shards) stores
``--data`` bytes of blobs. A fifth node joins and the epoch advances: the new node gains
one shard from node-0 and one from node-1 (everyone ends with 2). node-0 is killed just
before the change, so its shard comes back by the **recovery path** (rebuilt blob by blob
from recovery symbols of the rest of the committee) while node-1's shard moves by the
**cooperative path** (streamed by its previous owner). With the default 330 MiB of blobs
each moved shard holds about 130 MiB of slivers, 260 MiB in all.

Rates come from the node's own per-shard timestamps: the cooperative rate is streamed
bytes over the transfer's duration, the recovery rate rebuilt bytes over the recovery
pass's duration; the time spent giving up on the dead source is reported separately.
The last line is JSON with ``migration_MBps``, ``recovery_MBps`` and ``recovery_seconds``
(the recovery passes' span).

``--nodes`` and ``--shards`` change the testbed (the new node then gains about
``shards / (nodes + 1)`` shards, some from every node); ``--keep-all`` kills no node, so
every gained shard moves by the cooperative path. With several shards per source, the
rates are the sums of their bytes over the span from the first start to the last end.
``--cold`` drops every node's store file from the page cache before the epoch change, as
it is on a node whose blobs are old: the shards' slivers are then read from the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time

from walrus_node.bench import measure
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.protocol.views import ShardSyncView, SyncStatus
from walrus_node.testbed.epochs import EpochDriver
from walrus_node.testbed.testbed import Testbed

__all__ = ["add_arguments", "run"]

BLOB_SIZE = 32 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=measure.parse_size, default=330 << 20, help="blob bytes to store first"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait")
    parser.add_argument("--nodes", type=int, default=4, help="nodes before the new one joins")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument(
        "--keep-all",
        action="store_true",
        help="kill no node: every gained shard moves by the cooperative path",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="drop the nodes' store files from the page cache before the epoch change",
    )


async def _fill(bed: Testbed, total: int) -> int:
    stored = 0
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        while stored < total:
            size = min(BLOB_SIZE, total - stored)
            await client.store(os.urandom(size), epochs=10)
            stored += size
    return stored


def _drop_page_cache(bed: Testbed) -> None:
    """Every node's store file out of the page cache (pages a node keeps mapped stay
    until its next map release; a node maps only what it has read)."""
    for node in bed.nodes:
        measure.drop_page_cache(node.data_dir / "data.mdb")


def _cooperative_rate(views: list[ShardSyncView]) -> float:
    """Streamed bytes per second of the transfers (first start to the last one's
    recovery pass)."""
    if not views:
        return 0.0
    span = max(v.recovery_started_at for v in views) - min(v.started_at for v in views)
    return measure.mbps(sum(v.bytes for v in views), span)


def _recovery_span(views: list[ShardSyncView]) -> float:
    """Seconds from the first recovery pass's start to the last one's end."""
    if not views:
        return 0.0
    return max(v.finished_at for v in views) - min(v.recovery_started_at for v in views)


def _recovery_rate(views: list[ShardSyncView]) -> float:
    """Rebuilt bytes per second of the recovery passes (first start to last end)."""
    if not views:
        return 0.0
    return measure.mbps(sum(v.recovered_bytes for v in views), _recovery_span(views))


def run(args: argparse.Namespace) -> int:
    machine = measure.machine()
    print(measure.machine_line(machine))
    directory = tempfile.mkdtemp(prefix="walrus-bench-")
    bed = Testbed.create(os.path.join(directory, "testbed"), args.nodes, args.shards)
    try:
        bed.up()
        fill_started = time.perf_counter()
        stored = asyncio.run(_fill(bed, args.data))
        fill_seconds = time.perf_counter() - fill_started
        if args.cold:
            _drop_page_cache(bed)
        new = bed.add_node()
        if not args.keep_all:
            bed.kill("node-0")
        driver = EpochDriver(bed)
        started = time.perf_counter()
        driver.advance()
        status: SyncStatus | str = "not asked yet"
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            status = driver.sync_statuses().get(new.name, "not a member")
            if isinstance(status, SyncStatus) and status.epoch_sync_done:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        bed.down()
        shutil.rmtree(directory, ignore_errors=True)
    if not isinstance(status, SyncStatus) or not status.epoch_sync_done:
        raise SystemExit(f"the new node did not finish within {args.timeout:.0f} s: {status}")
    dead = set() if args.keep_all else {"node-0"}
    cooperative = [v for v in status.shards if v.source not in dead]
    recovered = [v for v in status.shards if v.source in dead]
    figures = {
        "nodes": args.nodes,
        "shards": args.shards,
        "shards_moved": len(status.shards),
        "cold": args.cold,
        "data_stored": stored,
        "fill_MBps": round(measure.mbps(stored, fill_seconds), 1),
        "moved_bytes": sum(v.bytes + v.recovered_bytes for v in status.shards),
        "cooperative_bytes": sum(v.bytes + v.recovered_bytes for v in cooperative),
        "recovery_bytes": sum(v.bytes + v.recovered_bytes for v in recovered),
        "migration_MBps": round(_cooperative_rate(cooperative), 1),
        "recovery_MBps": round(_recovery_rate(recovered), 1),
        "recovery_seconds": round(_recovery_span(recovered), 1),
        "dead_source_detected_after_s": round(
            max((v.recovery_started_at - v.started_at for v in recovered), default=0.0), 1
        ),
        "epoch_change_seconds": round(elapsed, 1),
        "load_average": measure.load_average(),
        "machine": machine,
    }
    print(f"stored {stored / 1e6:.0f} MB of blobs at {figures['fill_MBps']} MB/s")
    print(
        f"cooperative: {len(cooperative)} shard(s) from live nodes, "
        f"{figures['cooperative_bytes'] / 1e6:.1f} MB at {figures['migration_MBps']} MB/s"
    )
    if recovered:
        print(
            f"recovery:    {len(recovered)} shard(s) of killed node-0, "
            f"{figures['recovery_bytes'] / 1e6:.1f} MB at {figures['recovery_MBps']} MB/s "
            f"over {figures['recovery_seconds']} s ({sum(v.recovered for v in recovered)} "
            f"slivers rebuilt; the dead source was given up after "
            f"{figures['dead_source_detected_after_s']} s)"
        )
    print(f"epoch change to done on the new node: {figures['epoch_change_seconds']} s")
    measure.emit_json(figures)
    return 0
