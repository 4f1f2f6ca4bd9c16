"""The calls a store makes to each node: one StoreAndCertify call (the upload, the
confirmation and the certificate on one stream), or StoreBlob and SubmitCertificate with
a node from before that call.

Each test watches one real node of a real testbed through
:class:`tests.support.byzantine.ByzantineProxy` (here it tells no lies; it counts the calls
it forwards, or plays an older node by answering StoreAndCertify UNIMPLEMENTED).
"""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.support.byzantine import ByzantineProxy
from walrus_node.client.api import WalrusClient
from walrus_node.codec import encoder
from walrus_node.codec.params import SliverType
from walrus_node.protocol.views import BlobStatusState
from walrus_node.testbed.testbed import Testbed

from .conftest import run
from .test_byzantine import _client_config_via


def _watched(testbed: Testbed, older: bool = False) -> ByzantineProxy:
    return ByzantineProxy.for_node(
        testbed, "node-2", corrupt_slivers=False, corrupt_metadata=False, older=older
    )


def _store_read_status(config: pathlib.Path, data: bytes) -> tuple[int, list[str], bytes, object]:
    async def go(client: WalrusClient) -> tuple[int, list[str], bytes, object]:
        stored = await client.store(data)
        read = await client.read(stored.blob_id)
        statuses = {m.name: s for m, s in await client.status(stored.blob_id)}
        return stored.certified_by, stored.problems, read.data, statuses["node-2"]

    return run(go, config)


def test_a_small_store_costs_each_node_one_call(testbed: Testbed, tmp_path: pathlib.Path) -> None:
    data = os.urandom(1 << 20)
    with _watched(testbed) as proxy:
        config = _client_config_via(testbed, {"node-2": proxy}, tmp_path)
        certified_by, problems, read, status = _store_read_status(config, data)
        store_calls = {k: v for k, v in proxy.calls.items() if k.startswith(("Store", "Submit"))}
    assert store_calls == {"StoreAndCertify": 1}
    assert certified_by == 7 and problems == [], problems
    assert read == data
    assert not isinstance(status, str) and status.state is BlobStatusState.CERTIFIED


def test_a_big_store_sends_its_slivers_framed_on_the_same_call(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    """A node's slivers above the start part's room go as header and data parts."""
    data = os.urandom(24 << 20)  # ~3.4 MiB of primary sliver per node: framed
    with _watched(testbed) as proxy:
        config = _client_config_via(testbed, {"node-2": proxy}, tmp_path)
        certified_by, problems, read, status = _store_read_status(config, data)
        store_calls = {k: v for k, v in proxy.calls.items() if k.startswith(("Store", "Submit"))}
    assert store_calls == {"StoreAndCertify": 1}
    assert certified_by == 7 and problems == [], problems
    assert read == data
    assert not isinstance(status, str) and status.state is BlobStatusState.CERTIFIED


@pytest.mark.parametrize("size", [300_000, 24 << 20], ids=["small", "framed"])
def test_a_node_without_store_and_certify_gets_store_blob_and_submit_certificate(
    testbed: Testbed, tmp_path: pathlib.Path, size: int
) -> None:
    data = os.urandom(size)
    with _watched(testbed, older=True) as proxy:
        config = _client_config_via(testbed, {"node-2": proxy}, tmp_path)
        certified_by, problems, read, status = _store_read_status(config, data)
        store_calls = {k: v for k, v in proxy.calls.items() if k.startswith(("Store", "Submit"))}
    assert store_calls == {"StoreBlob": 1, "SubmitCertificate": 1}, problems
    assert certified_by == 7 and problems == [], problems
    assert read == data
    assert not isinstance(status, str) and status.state is BlobStatusState.CERTIFIED


def test_the_progress_counts_each_byte_once_when_a_node_falls_back_to_store_blob(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    """A small blob's slivers travel inside StoreAndCertify's start part; a node that does
    not know the call gets them again by StoreBlob. The progress counts them once: the
    total is the slivers' bytes of every shard, as with nodes that know the call."""
    data = os.urandom(300_000)
    blob = encoder.encode(data, testbed.n_shards)
    expected = sum(
        len(bytes(blob.sliver(t, i))) for t in SliverType for i in range(testbed.n_shards)
    )
    counted: list[int] = []

    async def go(client: WalrusClient) -> list[str]:
        stored = await client.store(data, progress=counted.append)
        return stored.problems

    with _watched(testbed, older=True) as proxy:
        config = _client_config_via(testbed, {"node-2": proxy}, tmp_path)
        problems = run(go, config)
        assert proxy.calls.get("StoreBlob") == 1, problems
    assert problems == []
    assert sum(counted) == expected
