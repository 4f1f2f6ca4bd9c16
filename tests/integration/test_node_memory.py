"""A node's memory does not grow with the blobs it stores and serves: real node processes
on a real testbed, their resident memory read from /proc.

What grew before: the pages of the store file that reads touch through LMDB's memory map
(about a third of a MiB per 1 MiB blob stored at 7 nodes, never given back); the node now
drops them every ``store_map_release_seconds``."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

from tests.integration.conftest import run, wait_until
from walrus_node.client.api import WalrusClient
from walrus_node.testbed.testbed import Testbed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.alone,
    pytest.mark.skipif(sys.platform != "linux", reason="/proc/<pid>/smaps"),
]

MiB = 1 << 20


def _mapped_store_mib(pid: int, data_file: pathlib.Path) -> float:
    """MiB of the node's store file resident in its memory map."""
    inode = os.stat(data_file).st_ino
    total, current = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                current = len(fields) >= 5 and fields[4] == str(inode)
            elif current and fields[0] == "Rss:":
                total += int(fields[1])
    return total / 1024


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _store_and_read(bed: Testbed, count: int) -> None:
    async def go(client: WalrusClient) -> None:
        for i in range(count):
            data = i.to_bytes(4, "big") + os.urandom(MiB - 4)
            result = await client.store(data, epochs=2)
            assert (await client.read(result.blob_id)).data == data

    run(go, bed.client_config)


def test_node_rss_stays_flat_over_many_blobs(testbed: Testbed) -> None:
    node = testbed.nodes[0]
    data_file = node.data_dir / "data.mdb"

    _store_and_read(testbed, 20)  # warm-up: allocator arenas, caches, gRPC buffers
    wait_until(lambda: _mapped_store_mib(node.pid, data_file) < 1, 60, "the store's pages released")
    before = _rss_mib(node.pid)

    _store_and_read(testbed, 40)
    wait_until(lambda: _mapped_store_mib(node.pid, data_file) < 1, 60, "the store's pages released")
    after = _rss_mib(node.pid)
    print(f"node-0 RSS {before:.1f} -> {after:.1f} MiB over 40 more 1 MiB blobs")
    # Before the release, the map alone added ~13 MiB over these 40 blobs (and kept it).
    assert after - before < 6, (before, after)
