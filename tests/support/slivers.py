"""Ask one node for the slivers it should hold, straight over gRPC (no decoding)."""

from __future__ import annotations

from collections.abc import Iterable

from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.transport.client import NodeClient


async def shard_slivers(
    node: NodeClient, params: EncodingParams, blob_id: BlobId, shard: int
) -> list[bytes]:
    """The primary and secondary sliver `node` serves for `blob_id` on `shard`; raises
    `PeerError` when it serves either not."""
    pair = params.pair_on_shard(blob_id.raw, shard)
    return [
        await node.get_sliver(blob_id.raw, sliver_type, params.sliver_in_pair(sliver_type, pair))
        for sliver_type in SliverType
    ]


async def serves_all(
    node: NodeClient, params: EncodingParams, blob_ids: Iterable[BlobId], shards: Iterable[int]
) -> bool:
    """True if `node` serves a non-empty primary and secondary sliver of every blob on
    every shard (raises `PeerError` for one it lacks)."""
    shards = list(shards)
    for blob_id in blob_ids:
        for shard in shards:
            if not all(await shard_slivers(node, params, blob_id, shard)):
                return False
    return True
