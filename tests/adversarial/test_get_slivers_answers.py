"""A node that lies in its packed ``GetSlivers`` answer: the client's ``get_slivers``
takes only the slivers asked for, in the order asked, each exactly its declared size and
within the limits, and cuts the call at the first that is not (the slivers before it
were already given). A real gRPC server (plaintext, port 0) speaking the node API, and the
client's real ``NodeClient``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import grpc
import grpc.aio
import pytest

from walrus_node.codec.params import SliverType
from walrus_node.protocol.errors import PeerError
from walrus_node.transport import client as client_mod
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

BLOB = bytes(range(32))
OTHER = bytes(32 - i for i in range(32))
ASKED = [5, 2, 7]
SIZE = 1000
LIMITS = dataclasses.replace(client_mod.DEFAULT_LIMITS, max_sliver_bytes=4 * SIZE)


def _whole(
    index: int, data: bytes, *, size: int | None = None, blob: bytes = BLOB
) -> pb.WholeSliver:
    header = pb.SliverHeader(
        blob_id=blob,
        type=pb.SLIVER_TYPE_PRIMARY,
        index=index,
        size=len(data) if size is None else size,
    )
    return pb.WholeSliver(header=header, data=data)


def _good(index: int) -> pb.WholeSliver:
    return _whole(index, bytes([index]) * SIZE)


Answer = Callable[[pb.GetSliversRequest], list[pb.SliverPart]]


def _packed(*wholes: pb.WholeSliver) -> list[pb.SliverPart]:
    return [pb.SliverPart(slivers=pb.WholeSlivers(slivers=list(wholes)))]


ANSWERS: dict[str, tuple[Answer, int]] = {
    # what the node sends, and how many slivers the client takes before it cuts the call
    "honest": (lambda r: _packed(*(_good(i) for i in r.indices)), 3),
    "honest, one per message": (
        lambda r: [p for i in r.indices for p in _packed(_good(i))],
        3,
    ),
    "one more than asked": (lambda r: _packed(*(_good(i) for i in [*r.indices, 9])), 3),
    "out of order": (lambda r: _packed(_good(5), _good(7), _good(2)), 1),
    "asked twice": (lambda r: _packed(_good(5), _good(5)), 1),
    "shorter than declared": (
        lambda r: _packed(_good(5), _whole(2, b"x" * (SIZE - 1), size=SIZE)),
        1,
    ),
    "longer than declared": (
        lambda r: _packed(_good(5), _whole(2, b"x" * (SIZE + 1), size=SIZE)),
        1,
    ),
    "another blob": (lambda r: _packed(_good(5), _whole(2, b"x" * SIZE, blob=OTHER)), 1),
    "above the sliver limit": (
        lambda r: _packed(_whole(5, b"x" * (4 * SIZE + 1))),
        0,
    ),
    "empty sliver": (lambda r: _packed(_whole(5, b"")), 0),
    "a secondary sliver": (
        lambda r: _packed(
            pb.WholeSliver(
                header=pb.SliverHeader(
                    blob_id=BLOB, type=pb.SLIVER_TYPE_SECONDARY, index=5, size=SIZE
                ),
                data=b"x" * SIZE,
            )
        ),
        0,
    ),
}


class _Liar(pb_grpc.StorageNodeServicer):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[pb.GetSliversRequest] = []

    async def GetSlivers(
        self, request: pb.GetSliversRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SliverPart]:
        self.requests.append(request)
        for part in self.answer(request):
            yield part


async def _ask(answer: Answer) -> tuple[list[int], Exception | None, list[pb.GetSliversRequest]]:
    liar = _Liar(answer)
    server = grpc.aio.server()
    pb_grpc.add_StorageNodeServicer_to_server(liar, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    taken: list[int] = []
    error: Exception | None = None
    try:
        node = client_mod.NodeClient(f"127.0.0.1:{port}", channel, timeout=30, limits=LIMITS)
        try:
            async for index, data in node.get_slivers(BLOB, SliverType.PRIMARY, ASKED):
                assert data == bytes([index]) * SIZE
                taken.append(index)
        except PeerError as e:
            error = e
    finally:
        await channel.close(grace=None)
        await server.stop(grace=None)
    return taken, error, liar.requests


@pytest.mark.parametrize("name", list(ANSWERS))
def test_a_packed_answer_gives_only_the_slivers_asked_for_in_order(name: str) -> None:
    answer, good = ANSWERS[name]
    taken, error, requests = asyncio.run(asyncio.wait_for(_ask(answer), 60))
    assert [r.packed for r in requests] == [True]  # the client asks for packed slivers
    assert taken == ASKED[:good]
    if name.startswith("honest"):
        assert error is None
    else:
        assert isinstance(error, PeerError), error
