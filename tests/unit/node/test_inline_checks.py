"""Small checks on a store's path run on the event loop, without a hop to a thread: a
small blob's metadata is verified in place, a big one's on a worker thread, and both
refuse metadata that does not hash to its blob ID."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable, Iterator

import pytest

from tests.support import node_context
from walrus_node.codec import encoder
from walrus_node.protocol import errors
from walrus_node.service import blobs
from walrus_node.service.context import NodeContext
from walrus_node.service.node import NodeService

BLOB = bytes(range(256)) * 16


@pytest.fixture
def make_node(tmp_path: pathlib.Path) -> Iterator[Callable[[int], NodeService]]:
    made: list[NodeContext] = []

    def make(n_shards: int) -> NodeService:
        made.append(node_context.local_context(tmp_path / f"n{n_shards}", 4, n_shards))
        return NodeService(made[-1])

    yield make
    for ctx in made:
        node_context.close(ctx)


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
