"""One ``StoreAndCertify`` call, the client's side: a blob's upload to one node, its
confirmation, then the blob's certificate, on one stream.

Who calls it: :class:`walrus_node.client.api.WalrusClient`'s store, through
:meth:`.client.NodeClient.store_call`: :meth:`StoreCall.upload` once, then
:meth:`StoreCall.certify` once the certificate is formed, or :meth:`StoreCall.cancel`
when there is none to give (or the store gave up on this node).

Why one call: a store used to cost each node two (``StoreBlob``, then
``SubmitCertificate``), and on a small blob each node's CPU goes per call and per message,
not per byte. The slivers that fit in :data:`PACKED_BYTES` travel whole inside the start
part (a 1 MiB blob's two slivers per node: one message for the whole upload); a bigger
sliver, and those after it, go as in ``StoreBlob``, a header and data parts of
:data:`.framing.CHUNK_SIZE`, written by hand (:mod:`.data_parts`), once the node has
answered that it took the start part (``taken``: a node that refuses it ends the call
instead, and the client reads why rather than writing into an ended call).

A node that does not know the call answers UNIMPLEMENTED (the :class:`RpcError` of
:meth:`StoreCall.upload` says so, or :attr:`StoreCall.unknown` when gRPC hid it): the
caller then uses ``StoreBlob`` and ``SubmitCertificate``. Every answer is the node's word
only: the caller checks the confirmation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import grpc.aio

from walrus_node.codec.params import SliverType
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.transport import convert, data_parts, framing
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = ["METHOD", "PACKED_BYTES", "StoreCall", "cancel_all"]

METHOD = "/walrus.node.v1.StorageNode/StoreAndCertify"

PACKED_BYTES = framing.CHUNK_SIZE
"""Sliver bytes sent whole inside the start part at most: as much as one data part
carries, far below the message size limit both sides set (``convert.MAX_MESSAGE_SIZE``)."""

ErrorOf = Callable[[str, str, str, Any], PeerError]
"""Makes the caller's error from (method, status code name, details, trailing metadata)."""


class StoreCall:
    def __init__(self, call: grpc.aio.StreamStreamCall[Any, Any], error_of: ErrorOf) -> None:
        self._call = call
        self._error_of = error_of
        self.unknown = False
        """The node ended the call before it took the first message: it does not know the
        call (or it is going away). Its UNIMPLEMENTED then often reads as gRPC's
        "INTERNAL: Internal error from Core" (grpc/grpc#36066); a node that knows the
        call reads the first message before it answers anything."""

    async def _failed(self) -> PeerError:
        """The error the node ended the call with (the call is over, or about to be)."""
        code = await self._call.code()
        details = await self._call.details()
        trailing = await self._call.trailing_metadata()
        return self._error_of("StoreAndCertify", code.name, details or "", trailing)

    async def _write(self, message: pb.StoreAndCertifyPart | bytes) -> None:
        try:
            await self._call.write(message)
        except (asyncio.InvalidStateError, grpc.aio.AioRpcError) as e:
            raise await self._failed() from e

    async def _read(self, which: str) -> pb.StoreAndCertifyReply:
        try:
            reply = await self._call.read()
        except grpc.aio.AioRpcError as e:
            raise await self._failed() from e
        if not isinstance(reply, pb.StoreAndCertifyReply):  # the end: the node's status says why
            raise await self._failed()
        if reply.WhichOneof("reply") != which:
            self._call.cancel()
            raise self._error_of("StoreAndCertify", "DATA_LOSS", f"no {which} answer", ())
        return reply

    async def upload(
        self,
        blob_id: bytes,
        metadata: bytes,
        registration: BlobRegistration,
        slivers: Iterable[tuple[SliverType, int, framing.SliverData]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, int, int, Confirmation]:
        """Send the metadata, the registration and ``slivers`` (read lazily), and return
        (newly stored, held, expected, confirmation) as the node answered."""
        blob = pb.StoreBlobStart(
            blob_id=blob_id,
            metadata=metadata,
            registration=convert.registration_to_pb(registration),
        )
        packed = 0
        whole: list[tuple[SliverType, int, tuple[memoryview, ...], int]] = []
        rest: list[tuple[SliverType, int, tuple[memoryview, ...]]] = []
        items = iter(slivers)
        for sliver_type, index, data in items:
            pieces = framing.sliver_pieces(data)
            size = pieces[0].nbytes if len(pieces) == 1 else sum(p.nbytes for p in pieces)
            if packed + size > PACKED_BYTES:
                rest.append((sliver_type, index, pieces))
                break
            whole.append((sliver_type, index, pieces, size))
            packed += size
        try:
            await self._write(data_parts.encode_start(blob, whole, uploaded=not rest))
        except PeerError:
            self.unknown = True
            raise
        # The slivers packed in the start part count as uploaded once the node answered
        # that it took them: a node that does not know the call gets them again by
        # StoreBlob, which counts them then (once).
        if rest:
            # The node says it took the start part before the slivers stream to it: a node
            # that refused it, or does not know the call, ends the call instead, and its
            # status is read intact (a write into the ended call would often turn it into
            # gRPC's "INTERNAL: Internal error from Core", grpc/grpc#36066).
            await self._read("taken")
            if progress is not None and packed:
                progress(packed)
            for sliver_type, index, data in (*rest, *items):
                pieces = framing.sliver_pieces(data)
                size = sum(piece.nbytes for piece in pieces)
                header = framing.sliver_header(blob_id, sliver_type, index, size)
                await self._write(pb.StoreAndCertifyPart(header=header.header))
                for chunk in framing.chunk_pieces(pieces):
                    await self._write(data_parts.encode(chunk))  # one copy (data_parts)
                    if progress is not None:
                        progress(sum(view.nbytes for view in chunk))
            await self._write(pb.StoreAndCertifyPart(uploaded=pb.SliversSent()))
        stored = (await self._read("stored")).stored
        if progress is not None and packed and not rest:
            progress(packed)
        confirmation = convert.confirmation_from_pb(stored.confirmation)
        return stored.stored, stored.held, stored.expected, confirmation

    async def certify(self, certificate: Certificate) -> tuple[bool, bool]:
        """Hand the node the certificate; returns (newly certified, recovering)."""
        # No half-close after it: the node ends the call once it answered (one message
        # less each way for every node of every store).
        await self._write(
            pb.StoreAndCertifyPart(certificate=convert.certificate_to_pb(certificate))
        )
        certified = (await self._read("certified")).certified
        return certified.newly_certified, certified.syncing

    def cancel(self) -> None:
        """End the call now; harmless once it is over."""
        self._call.cancel()


def cancel_all(calls: Iterable[StoreCall]) -> None:
    """End every one of ``calls`` now."""
    for call in calls:
        call.cancel()
