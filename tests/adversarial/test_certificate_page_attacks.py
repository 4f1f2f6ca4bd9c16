"""A peer that lies in a ``ListCertificatePage`` answer: the caller (certificate catch-up's
node client) refuses a page longer than it asked for, and a page it cannot read, before
anything in it is offered to the node; a real gRPC server plays the peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import pytest

from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.transport import convert
from walrus_node.transport.client import ChannelPool, RpcError
from walrus_proto.node.v1 import node_pb2 as pb


def _certificate(sequence: int) -> pb.Certificate:
    certificate = Certificate(
        1, bytes([sequence]) * 32, BlobRegistration(5), ((b"\2" * 32, b"\3" * 64),)
    )
    return convert.certificate_to_pb(certificate, sequence)


@asynccontextmanager
async def _peer(page: Callable[[pb.ListCertificatesRequest], bytes]) -> AsyncIterator[str]:
    """A gRPC server answering every ListCertificatePage with ``page(request)``."""

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> Any:
            if details.method.endswith("/ListCertificatePage"):  # type: ignore[attr-defined]

                async def answer(raw: bytes, context: Any) -> bytes:
                    return page(pb.ListCertificatesRequest.FromString(raw))

                return grpc.unary_unary_rpc_method_handler(answer, lambda b: b, lambda b: b)
            return None

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([Handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def _ask(page: Callable[[pb.ListCertificatesRequest], bytes], limit: int) -> list[int]:
    async def go() -> list[int]:
        async with _peer(page) as endpoint:
            pool = ChannelPool(timeout=30.0)
            try:
                listed = await pool.peer(endpoint, "liar").list_certificates(0, limit)
            finally:
                await pool.close()
        return [sequence for sequence, _ in listed]

    return asyncio.run(go())


def test_a_page_within_the_limit_is_taken() -> None:
    def page(request: pb.ListCertificatesRequest) -> bytes:
        entries = [_certificate(s) for s in range(1, request.limit + 1)]
        return pb.CertificatePage(certificates=entries).SerializeToString()

    assert _ask(page, 3) == [1, 2, 3]


def test_a_page_longer_than_asked_is_refused() -> None:
    def page(request: pb.ListCertificatesRequest) -> bytes:
        entries = [_certificate(s) for s in range(1, request.limit + 2)]
        return pb.CertificatePage(certificates=entries).SerializeToString()

    with pytest.raises(RpcError) as info:
        _ask(page, 3)
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert "more than the 3" in str(info.value)


def test_a_page_that_is_not_one_is_refused() -> None:
    with pytest.raises(RpcError) as info:
        _ask(lambda request: b"\xff\xff\xff", 3)
    assert (info.value.method, info.value.code) == ("ListCertificatePage", "DATA_LOSS")


def test_pages_cut_at_their_size_bound_are_followed_up_to_the_limit() -> None:
    asked: list[tuple[int, int]] = []

    def page(request: pb.ListCertificatesRequest) -> bytes:
        asked.append((request.after_sequence, request.limit))
        first = request.after_sequence + 1
        entries = [_certificate(s) for s in range(first, first + min(2, request.limit))]
        return pb.CertificatePage(certificates=entries, more=True).SerializeToString()

    assert _ask(page, 5) == [1, 2, 3, 4, 5]
    assert asked == [(0, 5), (2, 3), (4, 1)]


@pytest.mark.parametrize("lie", ["empty", "repeated"])
def test_a_page_that_says_more_without_progress_is_refused(lie: str) -> None:
    """An empty page with ``more``, or one repeating entries already sent, would keep the
    caller asking for ever."""

    def page(request: pb.ListCertificatesRequest) -> bytes:
        entries = [] if lie == "empty" else [_certificate(1)]
        return pb.CertificatePage(certificates=entries, more=True).SerializeToString()

    with pytest.raises(RpcError) as info:
        _ask(page, 5)
    assert (info.value.method, info.value.code) == ("ListCertificatePage", "DATA_LOSS")
