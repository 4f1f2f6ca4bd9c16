"""GetSlivers asked ``packed``: small slivers come whole, as many in one message as fit
in a piece of the node's ``read_buffer_bytes``, in the order asked, the same bytes as
unpacked; a sliver the node cannot give ends the call after the slivers before it. A
real node process (one node owning the four shards), real gRPC."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import grpc
import pytest

from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec import encoder
from walrus_node.codec.params import SliverType
from walrus_node.testbed.testbed import Testbed
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

PIECE = 64 << 10
"""The node's ``read_buffer_bytes``: three of this blob's primary slivers fit in one."""
DATA = os.urandom(40_000)  # n = 4: primary slivers of 20 kB (half the blob each)
PRIMARY = pb.SLIVER_TYPE_PRIMARY


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(
        tmp_path_factory.mktemp("get-slivers") / "testbed",
        1,
        4,
        node_settings={"read_buffer_bytes": PIECE},
    )
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _store(bed: Testbed, data: bytes) -> bytes:
    async def store() -> bytes:
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            return (await client.store(data)).blob_id.raw

    return asyncio.run(store())


def _parts(bed: Testbed, blob_id: bytes, indices: list[int], packed: bool) -> list[pb.SliverPart]:
    with bed.channel("node-0") as channel:
        request = pb.GetSliversRequest(
            blob_id=blob_id, type=PRIMARY, indices=indices, packed=packed
        )
        return list(pb_grpc.StorageNodeStub(channel).GetSlivers(request, timeout=60))


def _unpacked(parts: list[pb.SliverPart]) -> list[tuple[int, bytes]]:
    slivers: list[tuple[int, bytes]] = []
    for part in parts:
        if part.WhichOneof("part") == "header":
            slivers.append((part.header.index, b""))
        else:
            index, data = slivers[-1]
            slivers[-1] = (index, data + part.data)
    return slivers


def test_small_slivers_come_whole_several_in_a_message_in_the_order_asked(
    bed: Testbed,
) -> None:
    blob_id = _store(bed, DATA)
    blob = encoder.encode(DATA, 4)
    size = len(blob.primary(0))
    assert 2 * size < PIECE < 4 * size  # three in a message (the fourth alone)
    order = [2, 0, 3, 1]
    packed = _parts(bed, blob_id, order, packed=True)
    assert [p.WhichOneof("part") for p in packed] == ["slivers", "slivers"]
    wholes = [w for p in packed for w in p.slivers.slivers]
    assert [len(p.slivers.slivers) for p in packed] == [PIECE // size, 4 - PIECE // size]
    got = [(w.header.index, w.data) for w in wholes]
    assert got == [(i, bytes(blob.primary(i))) for i in order]
    assert all(w.header.size == size and w.header.blob_id == blob_id for w in wholes)
    # unpacked (what an older client asks for): a header and its data per sliver
    assert _unpacked(_parts(bed, blob_id, order, packed=False)) == got


def test_a_packed_read_stops_at_a_sliver_the_node_cannot_give(bed: Testbed) -> None:
    data = os.urandom(40_000)
    blob_id = _store(bed, data)
    blob = encoder.encode(data, 4)
    shard, sliver_type = bed.corrupt("node-0", blob_id)
    assert sliver_type == str(SliverType.PRIMARY)
    params = blob.params
    bad = params.sliver_in_pair(SliverType.PRIMARY, params.pair_on_shard(blob_id, shard))
    first, *rest = (i for i in range(4) if i != bad)
    order = [first, bad, *rest]  # the corrupt one second, in the first message's group
    received: list[pb.SliverPart] = []
    with pytest.raises(grpc.RpcError) as info, bed.channel("node-0") as channel:
        request = pb.GetSliversRequest(blob_id=blob_id, type=PRIMARY, indices=order, packed=True)
        for part in pb_grpc.StorageNodeStub(channel).GetSlivers(request, timeout=60):
            received.append(part)
    assert info.value.code() == grpc.StatusCode.DATA_LOSS, info.value.details()
    got = [(w.header.index, w.data) for p in received for w in p.slivers.slivers]
    assert got == [(first, bytes(blob.primary(first)))]
