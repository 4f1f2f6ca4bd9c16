"""Small checks on a store's path run on the event loop, without a hop to a thread: a
small blob's metadata is verified in place, a big one's on a worker thread, and both
refuse metadata that does not hash to its blob ID."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable, Iterator

import pytest

from walrus_node.codec import encoder
from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import committee_file, errors, keys
from walrus_node.service import blobs
from walrus_node.service.context import NodeContext
from walrus_node.service.node import NodeService
from walrus_node.store.store import Store
from walrus_node.transport.client import ChannelPool

BLOB = bytes(range(256)) * 16


@pytest.fixture
def make_node(tmp_path: pathlib.Path) -> Iterator[Callable[[int], NodeService]]:
    made: list[tuple[NodeContext, Store]] = []

    def make(n_shards: int) -> NodeService:
        pairs = {f"n{i}": keys.KeyPair.generate() for i in range(4)}
        candidates = [
            NodeCandidate(name=name, public_key=kp.public_key, endpoint="127.0.0.1:1", stake=100)
            for name, kp in pairs.items()
        ]
        committee = selection.select(candidates, n_shards, epoch=1).committee
        directory = tmp_path / f"n{n_shards}"
        config = NodeConfig(
            name="n0",
            data_dir=directory / "data",
            key_file=directory / "key",
            committee_file=directory / "committee",
        )
        store = Store(directory / "data")
        ctx = NodeContext(config, pairs["n0"], store, ChannelPool(), NodeMetrics())
        ctx.committees = committee_file.ActiveCommittees(epoch.EpochState.genesis(committee))
        made.append((ctx, store))
        return NodeService(ctx)

    yield make
    for ctx, store in made:
        ctx.shutdown()
        store.close()


async def _turns_while(awaitable: asyncio.Future[object] | object) -> bool:
    """Await ``awaitable``; True if the event loop ran something else meanwhile."""
    ran: list[bool] = []
    asyncio.get_running_loop().call_soon(ran.append, True)
    await awaitable  # type: ignore[misc]
    return bool(ran)


@pytest.mark.parametrize(("n_shards", "leaves_the_loop"), [(7, False), (400, True)])
def test_metadata_is_verified_in_place_when_small_and_on_a_thread_when_big(
    make_node: Callable[[int], NodeService], n_shards: int, leaves_the_loop: bool
) -> None:
    node = make_node(n_shards)
    encoded = encoder.encode(BLOB, n_shards)
    raw = encoded.metadata.to_bytes()
    assert (len(raw) > blobs.INLINE_METADATA_BYTES) is leaves_the_loop
    blob_id = encoded.blob_id.raw

    async def go() -> None:
        left = await _turns_while(node.blobs.verify_metadata(blob_id, raw))
        assert left is leaves_the_loop
        assert (await node.blobs.verify_metadata(blob_id, raw)) == encoded.metadata
        forged = bytes([raw[0]]) + bytes([raw[1] ^ 1]) + raw[2:]
        with pytest.raises(errors.InvalidRequest):
            await node.blobs.verify_metadata(blob_id, forged)
        other = encoder.encode(BLOB[::-1], n_shards).metadata.to_bytes()
        with pytest.raises(errors.InvalidRequest, match="hashes to blob ID"):
            await node.blobs.verify_metadata(blob_id, other)

    asyncio.run(asyncio.wait_for(go(), 60))
