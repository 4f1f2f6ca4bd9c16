"""Certificate catch-up's listing: one ``ListCertificatePage`` message per listing, or
the ``ListCertificates`` stream (a message per certificate) with a node from before the
page call.

A real testbed; one node watched through :class:`tests.support.byzantine.ByzantineProxy`
(no lies: it counts the calls it forwards, or plays an older node by answering
``ListCertificatePage`` UNIMPLEMENTED). The listing is asked the way certificate
catch-up asks it, through the peers' :class:`walrus_node.transport.client.NodeClient`.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Sequence

from tests.support.byzantine import ByzantineProxy
from walrus_node.client.api import WalrusClient
from walrus_node.protocol.messages import Certificate
from walrus_node.testbed.testbed import Testbed

from .conftest import run


def _store(bed: Testbed, count: int) -> list[bytes]:
    async def go(client: WalrusClient) -> list[bytes]:
        return [(await client.store(os.urandom(1000 + i))).blob_id.raw for i in range(count)]

    return run(go, bed.client_config)


def _listings(
    bed: Testbed, endpoint: str, asks: Sequence[tuple[int, int]]
) -> list[list[tuple[int, Certificate]]]:
    """Each (after, limit) asked in turn of one node client, as catch-up asks a peer."""

    async def go() -> list[list[tuple[int, Certificate]]]:
        pool = bed.pool(timeout=60.0)
        try:
            node = pool.peer(endpoint, "node-2")
            return [list(await node.list_certificates(after, limit)) for after, limit in asks]
        finally:
            await pool.close()

    return asyncio.run(go())


def test_a_listing_is_one_page_and_an_older_node_gets_the_stream(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    blob_ids = _store(testbed, 3)
    asks = [(0, 10), (1, 1), (3, 10)]
    with ByzantineProxy.for_node(
        testbed, "node-2", corrupt_slivers=False, corrupt_metadata=False
    ) as proxy:
        paged = _listings(testbed, proxy.endpoint, asks)
        paged_calls = dict(proxy.calls)
    with ByzantineProxy.for_node(
        testbed,
        "node-2",
        corrupt_slivers=False,
        corrupt_metadata=False,
        unknown=("ListCertificatePage",),
    ) as proxy:
        streamed = _listings(testbed, proxy.endpoint, asks)
        streamed_calls = dict(proxy.calls)

    every, second, none = paged
    assert [s for s, _ in every] == [1, 2, 3]
    assert {c.blob_id for _, c in every} == set(blob_ids)
    assert all(len(c.signatures) >= 5 for _, c in every)  # as the client formed them
    assert second == every[1:2] and none == []
    assert paged_calls == {"ListCertificatePage": 3}
    # The older node: the same entries, from the stream; the page call is not tried
    # again on the same client once it was refused.
    assert streamed == paged
    assert streamed_calls == {"ListCertificates": 3}
