"""Recovery of a node's lacking slivers asks each peer once per blob, for all of them.

Real node processes on loopback; the calls are counted where they are served (each
peer's ``walrus_rpc_duration_seconds`` count for ``GetRecoverySymbols`` and
``GetRecoverySymbolsBatch``), so the count holds whatever the requester thinks it did.
"""

from __future__ import annotations

import os
import pathlib
import re
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.slivers import shard_slivers
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.protocol.errors import PeerError
from walrus_node.testbed.testbed import NodeHandle, Testbed

from .conftest import run, wait_until

_CALL = re.compile(
    r'walrus_rpc_duration_seconds_count\{.*method="(GetRecoverySymbols(?:Batch)?)".*\} (\S+)'
)


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    """4 nodes, 10 shards: node-0 holds 3 of them (6 slivers of every blob)."""
    testbed = Testbed.create(tmp_path / "testbed", 4, 10)
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _metrics(node: NodeHandle) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=30) as r:
        text: str = r.read().decode()
    return text


def _symbol_calls(node: NodeHandle) -> dict[str, float]:
    calls = {"GetRecoverySymbols": 0.0, "GetRecoverySymbolsBatch": 0.0}
    for line in _metrics(node).splitlines():
        m = _CALL.match(line)
        if m:
            calls[m.group(1)] += float(m.group(2))
    return calls


def _counter(node: NodeHandle, name: str) -> float:
    total = 0.0
    for line in _metrics(node).splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.split()[-1])
    return total


def _holds_all(bed: Testbed, node: NodeHandle, blob_ids: list[BlobId]) -> bool:
    params = EncodingParams(bed.n_shards)
    shards = bed.committees().current.shards_of(node.name)

    async def go(client: WalrusClient) -> bool:
        peer = client._pool.peer(node.endpoint, node.name)
        try:
            for blob_id in blob_ids:
                for shard in shards:
                    await shard_slivers(peer, params, blob_id, shard)
        except PeerError:
            return False
        return True

    return run(go, bed.client_config)


def test_a_node_recovers_every_lacking_sliver_of_a_blob_with_one_request_per_peer(
    bed: Testbed,
) -> None:
    """node-0 misses two blobs (down while they were stored): 6 slivers of each to
    rebuild from 3 peers. One call per sliver per peer would be 18 per blob; the
    batched recovery makes 3 (one per peer) and rebuilds every sliver."""
    node0 = bed.node("node-0")
    assert len(bed.committees().current.shards_of("node-0")) == 3
    bed.kill("node-0")

    async def store(client: WalrusClient) -> list[BlobId]:
        return [
            (await client.store(os.urandom(size), epochs=5)).blob_id for size in (50_000, 120_000)
        ]

    blob_ids = run(store, bed.client_config)
    peers = [n for n in bed.nodes if n.name != "node-0"]
    before = [_symbol_calls(p) for p in peers]
    bed.start("node-0")
    wait_until(
        lambda: _holds_all(bed, node0, blob_ids), timeout=120, what="node-0 to recover the blobs"
    )
    after = [_symbol_calls(p) for p in peers]
    retries = _counter(node0, "walrus_recovery_failures_total")
    for b, a in zip(before, after, strict=True):
        assert a["GetRecoverySymbols"] == b["GetRecoverySymbols"], "no call per sliver"
        calls = a["GetRecoverySymbolsBatch"] - b["GetRecoverySymbolsBatch"]
        # one per blob; a blob sync retried (peers not ready yet) asks again
        assert len(blob_ids) <= calls <= len(blob_ids) + retries
