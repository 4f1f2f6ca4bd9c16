"""A Byzantine node for tests: a real gRPC proxy in front of a real node that lies.

It forwards every call to the node unchanged, except that it flips one bit in what
``GetSliver``, ``GetSlivers`` and/or ``GetMetadata`` return, in the symbols or proofs
``GetSliverSymbols`` returns, or corrupts or replays confirmations (``GetConfirmation``'s,
and those in ``StoreBlob`` and ``StoreAndCertify`` answers); or plays a node from before
``StoreAndCertify`` (``older``).
Clients pointed at it (through a committee file listing the proxy's address instead of
the node's) must detect the lies.

On a TLS testbed the proxy *is* the node as far as TLS goes (:meth:`ByzantineProxy.for_node`):
it presents the node's own certificate, so only the protocol's checks can catch it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import client as transport_client
from walrus_node.transport import tls
from walrus_proto.node.v1 import node_pb2 as pb

_SERVICE = "walrus.node.v1.StorageNode"


def _flip(data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    out[len(out) // 2] ^= 0x01
    return bytes(out)


class ByzantineProxy:
    """Runs its own event loop in a thread; ``endpoint`` is where clients connect."""

    def __init__(
        self,
        target: str,
        corrupt_slivers: bool = True,
        corrupt_metadata: bool = True,
        corrupt_confirmations: bool = False,
        replay_confirmations: bool = False,
        corrupt_symbols: bool = False,
        corrupt_symbol_proofs: bool = False,
        server_tls: tls.ServerTls | None = None,
        upstream_tls: tls.ClientTls | None = None,
        name: str = "",
        older: bool = False,
        unknown: tuple[str, ...] = (),
    ):
        self.target = target
        self.server_tls = server_tls
        self.upstream_tls = upstream_tls
        self.name = name
        self.corrupt_slivers = corrupt_slivers
        self.corrupt_metadata = corrupt_metadata
        self.corrupt_confirmations = corrupt_confirmations
        self.corrupt_symbols = corrupt_symbols
        """Flip a bit in the data of every GetSliverSymbols answer."""
        self.corrupt_symbol_proofs = corrupt_symbol_proofs
        """Flip a bit in the first proof node of every GetSliverSymbols symbol."""
        self.replay_confirmations = replay_confirmations
        """Answer every GetConfirmation with the first one it forwarded (a valid signature
        over another statement)."""
        self.older = older
        """Answer StoreAndCertify UNIMPLEMENTED, as a node from before that call does."""
        self.unknown = unknown
        """Methods answered UNIMPLEMENTED, as a node from before them does."""
        self._first_confirmation: bytes | None = None
        self.lies = 0
        self.calls: dict[str, int] = {}
        """Calls forwarded, per method name."""
        self.endpoint = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @classmethod
    def for_node(cls, bed: Testbed, name: str, **lies: Any) -> ByzantineProxy:
        """A proxy for one testbed node, holding that node's TLS identity."""
        node = bed.node(name)
        server_tls = None
        if not bed.plaintext:
            server_tls = tls.ServerTls.load(node.tls_cert_file, node.tls_key_file, bed.ca_cert_file)
        return cls(
            node.endpoint,
            server_tls=server_tls,
            upstream_tls=bed.client_tls(),
            name=name,
            **lies,
        )

    def __enter__(self) -> ByzantineProxy:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._channel = transport_client.open_channel(self.target, self.upstream_tls, self.name)
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers([_Handler(self)])
        if self.server_tls is None:
            port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            port = self._server.add_secure_port("127.0.0.1:0", self.server_tls.credentials())
        await self._server.start()
        self.endpoint = f"127.0.0.1:{port}"

    async def _stop(self) -> None:
        await self._server.stop(0)
        await self._channel.close()


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: ByzantineProxy) -> None:
        self.proxy = proxy

    def _symbol_part(self, raw: bytes) -> bytes:
        part = pb.RecoverySymbolPart.FromString(raw)
        if self.proxy.corrupt_symbols and part.data:
            self.proxy.lies += 1
            part.data = _flip(part.data)
        if self.proxy.corrupt_symbol_proofs and part.proof:
            self.proxy.lies += 1
            part.proof[0] = _flip(part.proof[0])
        return part.SerializeToString()

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        method: str = details.method  # type: ignore[attr-defined]
        name = method.rsplit("/", 1)[-1]
        channel = self.proxy._channel
        ident = lambda b: b  # noqa: E731  raw bytes through
        if (name == "StoreAndCertify" and self.proxy.older) or name in self.proxy.unknown:
            return None  # UNIMPLEMENTED
        self.proxy.calls[name] = self.proxy.calls.get(name, 0) + 1
        if name == "StoreAndCertify":
            upstream_ss = channel.stream_stream(
                method, request_serializer=ident, response_deserializer=ident
            )

            async def bidi(
                requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
            ) -> AsyncIterator[bytes]:
                async for raw in upstream_ss(requests):
                    reply = pb.StoreAndCertifyReply.FromString(raw)
                    if reply.WhichOneof("reply") != "stored":
                        yield raw
                        continue
                    lied = self._lie_about(reply.stored.confirmation.SerializeToString())
                    reply.stored.confirmation.CopyFrom(pb.Confirmation.FromString(lied))
                    yield reply.SerializeToString()

            return grpc.stream_stream_rpc_method_handler(bidi, ident, ident)

        if name in (
            "GetSliver",
            "GetSlivers",
            "GetRecoverySymbols",
            "GetRecoverySymbolsBatch",
            "ListCertificates",
            "GetSliverSymbols",
        ):
            upstream = channel.unary_stream(
                method, request_serializer=ident, response_deserializer=ident
            )

            async def stream(
                request: bytes, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[bytes]:
                async for raw in upstream(request):
                    out = raw
                    if name in ("GetSliver", "GetSlivers") and self.proxy.corrupt_slivers:
                        part = pb.SliverPart.FromString(raw)
                        if part.WhichOneof("part") == "data":
                            self.proxy.lies += 1
                            out = pb.SliverPart(data=_flip(part.data)).SerializeToString()
                        elif part.WhichOneof("part") == "slivers":  # packed: each sliver
                            for whole in part.slivers.slivers:
                                self.proxy.lies += 1
                                whole.data = _flip(whole.data)
                            out = part.SerializeToString()
                    if name == "GetSliverSymbols":
                        out = self._symbol_part(raw)
                    yield out

            return grpc.unary_stream_rpc_method_handler(stream, ident, ident)
        if name in ("StoreSlivers", "StoreBlob"):
            upstream_cs = channel.stream_unary(
                method, request_serializer=ident, response_deserializer=ident
            )

            async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
                raw = await upstream_cs(requests)
                if name == "StoreBlob":
                    reply = pb.StoreBlobResponse.FromString(raw)
                    lied = self._lie_about(reply.confirmation.SerializeToString())
                    reply.confirmation.CopyFrom(pb.Confirmation.FromString(lied))
                    raw = reply.SerializeToString()
                return raw

            return grpc.stream_unary_rpc_method_handler(client_stream, ident, ident)
        upstream_u = channel.unary_unary(
            method, request_serializer=ident, response_deserializer=ident
        )

        async def unary(request: bytes, context: Any) -> bytes:
            raw = await upstream_u(request)
            if name == "GetMetadata" and self.proxy.corrupt_metadata:
                reply = pb.GetMetadataResponse.FromString(raw)
                self.proxy.lies += 1
                raw = pb.GetMetadataResponse(metadata=_flip(reply.metadata)).SerializeToString()
            if name == "GetConfirmation":
                raw = self._lie_about(raw)
            return raw

        return grpc.unary_unary_rpc_method_handler(unary, ident, ident)

    def _lie_about(self, raw: bytes) -> bytes:
        """A confirmation (serialized) as this proxy passes it on: replayed or corrupted
        when it is told to lie about confirmations."""
        if self.proxy.replay_confirmations:
            if self.proxy._first_confirmation is None:
                self.proxy._first_confirmation = raw
            else:
                self.proxy.lies += 1
                raw = self.proxy._first_confirmation
        if self.proxy.corrupt_confirmations:
            confirmation = pb.Confirmation.FromString(raw)
            confirmation.signature = _flip(confirmation.signature)
            self.proxy.lies += 1
            raw = confirmation.SerializeToString()
        return raw
