"""Deletions reach a node that missed them: a node down while an owner deleted its blobs
learns the deletions from its peers' deletion logs (certificate catch-up), checks each
against the owner's key, and ends up agreeing with its peers.

Real node processes (7, ``f = 2``), a real SIGKILL and restart. Before deletions were
logged and listed, the restarted node kept serving both blobs until they expired: the one
stored before it went down (its registration never deleted there), and the one stored
while it was down (certified there later from its peers' certificate logs).
"""

from __future__ import annotations

import os

from tests.integration.conftest import run, wait_until
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.protocol import keys
from walrus_node.protocol.views import BlobStatus, BlobStatusState
from walrus_node.testbed.testbed import Testbed

DOWN = "node-3"


def _states(testbed: Testbed, blob_id: BlobId) -> dict[str, BlobStatusState | str]:
    async def go(client: WalrusClient) -> list[tuple[str, BlobStatus | str]]:
        return [(m.name, s) for m, s in await client.status(blob_id)]

    return {
        name: status if isinstance(status, str) else status.state
        for name, status in run(go, testbed.client_config)
    }


def test_a_node_down_during_deletions_learns_them_from_its_peers(testbed: Testbed) -> None:
    owner = keys.KeyPair.generate()
    before, during, kept = os.urandom(40_000), os.urandom(30_000), os.urandom(20_000)

    async def store_first(client: WalrusClient) -> tuple[BlobId, BlobId]:
        a = await client.store(before, epochs=3, deletable=True, owner=owner)
        k = await client.store(kept, epochs=3, deletable=True, owner=owner)
        return a.blob_id, k.blob_id

    first, untouched = run(store_first, testbed.client_config)
    testbed.kill(DOWN)

    async def while_down(client: WalrusClient) -> BlobId:
        second = (await client.store(during, epochs=3, deletable=True, owner=owner)).blob_id
        for blob_id in (first, second):
            deleted, problems = await client.delete(blob_id, owner)
            assert deleted == 6, problems  # every node but the one down
        return second

    second = run(while_down, testbed.client_config)
    testbed.start(DOWN)

    def agrees() -> bool:
        return all(
            _states(testbed, blob_id)[DOWN] is BlobStatusState.DELETED
            for blob_id in (first, second)
        )

    wait_until(agrees, timeout=180, what=f"{DOWN} to learn both deletions from its peers")
    for blob_id in (first, second):
        assert set(_states(testbed, blob_id).values()) == {BlobStatusState.DELETED}
    # The owner's other blob, which it did not delete, is untouched everywhere.
    assert set(_states(testbed, untouched).values()) == {BlobStatusState.CERTIFIED}

    async def read(client: WalrusClient) -> bytes:
        return (await client.read(untouched)).data

    assert run(read, testbed.client_config) == kept
