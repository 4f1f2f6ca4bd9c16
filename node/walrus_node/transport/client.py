"""Async gRPC client of one storage node, and a pool of them keyed by endpoint.

Who calls it: the client library (store/read), nodes (peers: recovery, catch-up), the
testbed and the operator (admin). Speaks domain types; every gRPC failure becomes a
:class:`RpcError` carrying the status code name, so callers never see grpc exceptions.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio

from walrus_node.codec.params import MAX_SHARDS, SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol import committee_file, errors, messages
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.keys import KeyPair
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation, Deletion
from walrus_node.protocol.views import (
    BlobStatus,
    NodeInfo,
    ShardBatch,
    ShardBatchRecord,
    SyncStatus,
)
from walrus_node.transport import (
    convert,
    data_parts,
    framing,
    status,
    store_call,
    tls,
    trailers,
)
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = [
    "STORE_BLOB_METHOD",
    "ChannelPool",
    "NodeClient",
    "RpcError",
    "channel_options",
    "open_channel",
]

_Entry = TypeVar("_Entry")

STORE_BLOB_METHOD = "/walrus.node.v1.StorageNode/StoreBlob"
"""Called with :mod:`.data_parts`' serializer rather than the generated stub's."""


def channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", convert.MAX_MESSAGE_SIZE),
        ("grpc.max_send_message_length", convert.MAX_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.enable_retries", 0),
        # A node's DNS name moves to a new pod IP when its pod restarts. gRPC looks a name
        # up again when a connection fails, but by default at most every 30 s: a node back
        # in seconds would stay out of reach for half a minute. Once a second costs one
        # DNS query per second per channel to a node that is down.
        ("grpc.dns_min_time_between_resolutions_ms", 1_000),
    ]


def open_channel(
    endpoint: str, credentials: tls.ClientTls | None, server_name: str | None
) -> grpc.aio.Channel:
    """A channel to one node: TLS verified against ``server_name`` (the node's committee
    name, which its certificate carries), or plaintext when ``credentials`` is None."""
    if credentials is None:
        return grpc.aio.insecure_channel(endpoint, options=channel_options())
    if not server_name:
        raise ValueError(f"{endpoint}: a TLS channel needs the node's name to verify it")
    options: list[tuple[str, str | int]] = [
        *channel_options(),
        ("grpc.ssl_target_name_override", server_name),
    ]
    return grpc.aio.secure_channel(endpoint, credentials.credentials(), options=options)


class _NoPages(Exception):
    """The node does not know ``ListCertificatePage``."""


class RpcError(PeerError):
    """A call to a node failed. ``code`` is the gRPC status code name."""

    def __init__(self, endpoint: str, method: str, code: str, details: str, blob_state: str = ""):
        super().__init__(f"{endpoint} {method}: {code}: {details}")
        self.endpoint = endpoint
        self.method = method
        self.code = code
        self.details = details
        self.blob_state = blob_state


DEFAULT_LIMITS = framing.StreamLimits(
    max_sliver_bytes=256 << 20, max_stream_bytes=1 << 30, max_items=2 * MAX_SHARDS
)
"""What a client reads from one node's stream unless told otherwise (nodes pass their
``max_sliver_bytes`` and ``peer_stream_max_bytes``)."""


class NodeClient:
    """One node's API. Cheap to create; shares the channel it is given.

    Streams from the node are read under ``limits`` (:mod:`.framing`): a node that sends
    more than it should is cut off (the call is cancelled) with an :class:`RpcError`
    naming the limit, never read to the end.
    """

    def __init__(
        self,
        endpoint: str,
        channel: grpc.aio.Channel,
        timeout: float = 60.0,
        limits: framing.StreamLimits = DEFAULT_LIMITS,
    ) -> None:
        self.endpoint = endpoint
        self.limits = limits
        self.channel = channel
        self._stub = pb_grpc.StorageNodeStub(channel)
        self._admin = pb_grpc.AdminStub(channel)
        self._store_blob = channel.stream_unary(
            STORE_BLOB_METHOD,
            request_serializer=data_parts.serialize,
            response_deserializer=pb.StoreBlobResponse.FromString,
        )
        self._store_and_certify = channel.stream_stream(
            store_call.METHOD,
            request_serializer=data_parts.serialize,
            response_deserializer=pb.StoreAndCertifyReply.FromString,
        )
        self._timeout = timeout
        self._no_certificate_pages = False
        """The node answered ``ListCertificatePage`` UNIMPLEMENTED (an older node)."""

    def _error(self, method: str, e: grpc.aio.AioRpcError) -> RpcError:
        return self._error_of(method, e.code().name, e.details() or "", e.trailing_metadata())

    def _error_of(self, method: str, code: str, details: str, trailing: Any) -> RpcError:
        state = ""
        for key, value in trailing or ():
            if key == trailers.BLOB_STATE_KEY:
                state = str(value)
        return RpcError(self.endpoint, method, code, details, state)

    def store_call(self) -> store_call.StoreCall:
        """A ``StoreAndCertify`` call: a blob's upload, then its certificate, on one
        stream (:mod:`.store_call`)."""
        call = self._store_and_certify(None, timeout=self._timeout)
        return store_call.StoreCall(call, self._error_of)

    def _refused(self, method: str, call: Any, e: errors.NodeError) -> RpcError:
        """The node's stream broke a limit or the framing: stop it, report it."""
        call.cancel()
        return RpcError(self.endpoint, method, status.code_for(e).name, str(e))

    async def get_node_info(self) -> NodeInfo:
        try:
            reply = await self._stub.GetNodeInfo(pb.GetNodeInfoRequest(), timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("GetNodeInfo", e) from e
        return convert.node_info_from_pb(reply)

    async def get_committee(self) -> bytes:
        try:
            reply = await self._stub.GetCommittee(pb.GetCommitteeRequest(), timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("GetCommittee", e) from e
        return reply.committee_json

    async def store_metadata(self, blob_id: bytes, metadata: bytes) -> bool:
        try:
            reply = await self._stub.StoreMetadata(
                pb.StoreMetadataRequest(blob_id=blob_id, metadata=metadata), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("StoreMetadata", e) from e
        return reply.newly_stored

    async def get_metadata(self, blob_id: bytes) -> bytes:
        try:
            reply = await self._stub.GetMetadata(
                pb.GetMetadataRequest(blob_id=blob_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("GetMetadata", e) from e
        return reply.metadata

    async def store_slivers(
        self,
        blob_id: bytes,
        slivers: list[tuple[SliverType, int, framing.SliverData]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, int, int]:
        """Upload slivers of one blob; returns (newly stored, held, expected).
        ``progress`` is called with the size of each chunk as gRPC takes it to send."""
        parts = framing.sliver_parts(blob_id, slivers)
        if progress is not None:
            parts = _counted(parts, progress)
        try:
            reply = await self._stub.StoreSlivers(parts, timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("StoreSlivers", e) from e
        return reply.stored, reply.held, reply.expected

    async def store_blob(
        self,
        blob_id: bytes,
        metadata: bytes,
        registration: BlobRegistration,
        slivers: Iterable[tuple[SliverType, int, framing.SliverData]],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, int, int, Confirmation]:
        """Metadata, slivers and the confirmation request in one ``StoreBlob`` exchange;
        returns (newly stored, held, expected, confirmation). The confirmation is returned
        as the node sent it: the caller checks it. ``slivers`` is read lazily, as gRPC
        takes parts to send."""

        def parts() -> Iterator[pb.StoreBlobPart | bytes]:
            yield pb.StoreBlobPart(
                start=pb.StoreBlobStart(
                    blob_id=blob_id,
                    metadata=metadata,
                    registration=convert.registration_to_pb(registration),
                )
            )
            for sliver_type, index, data in slivers:
                pieces = framing.sliver_pieces(data)
                size = sum(piece.nbytes for piece in pieces)
                header = framing.sliver_header(blob_id, sliver_type, index, size)
                yield pb.StoreBlobPart(header=header.header)
                for chunk in framing.chunk_pieces(pieces):
                    yield data_parts.encode(chunk)  # one copy, not four (data_parts)
                    if progress is not None:
                        progress(sum(view.nbytes for view in chunk))

        try:
            reply = await self._store_blob(parts(), timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("StoreBlob", e) from e
        confirmation = convert.confirmation_from_pb(reply.confirmation)
        return reply.stored, reply.held, reply.expected, confirmation

    async def get_sliver(
        self,
        blob_id: bytes,
        sliver_type: SliverType,
        index: int,
        progress: Callable[[int], None] | None = None,
    ) -> bytes:
        """One sliver; ``progress`` is called with the size of each chunk received."""
        call = self._stub.GetSliver(
            pb.GetSliverRequest(
                blob_id=blob_id, type=convert.sliver_type_to_pb(sliver_type), index=index
            ),
            timeout=self._timeout,
        )
        limits = dataclasses.replace(
            self.limits, max_items=1, max_stream_bytes=self.limits.max_sliver_bytes
        )
        frames = framing.SliverFrames(limits, "GetSliver")
        sliver: framing.Sliver | None = None
        try:
            async for part in call:
                if part.WhichOneof("part") == "header":
                    got = frames.header(part.header)
                    if part.header.blob_id != blob_id or got != (sliver_type, index):
                        raise errors.DataLoss(f"sent {got[0]} sliver {got[1]} of another blob")
                else:
                    sliver = frames.data(part.data) or sliver
                    if progress is not None:
                        progress(len(part.data))
            frames.end()
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSliver", e) from e
        except errors.NodeError as e:
            raise self._refused("GetSliver", call, e) from e
        if sliver is None:
            raise RpcError(self.endpoint, "GetSliver", "DATA_LOSS", "no sliver in the answer")
        return sliver.data

    async def get_slivers(
        self,
        blob_id: bytes,
        sliver_type: SliverType,
        indices: Sequence[int],
        progress: Callable[[int], None] | None = None,
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Slivers ``indices`` of one type in one call, each ``(index, bytes)`` as soon as
        it is complete, in the order asked (small ones packed, several whole in one
        message; an older node sends each as a header and its data). The call's error (a
        sliver the node cannot give ends it) comes after the slivers before it; a node
        that sends another sliver than the next one asked for, or more, is cut off."""
        call = self._stub.GetSlivers(
            pb.GetSliversRequest(
                blob_id=blob_id,
                type=convert.sliver_type_to_pb(sliver_type),
                indices=list(indices),
                packed=True,
            ),
            timeout=self._timeout,
        )
        limits = dataclasses.replace(
            self.limits,
            max_items=len(indices),
            max_stream_bytes=len(indices) * self.limits.max_sliver_bytes,
        )
        frames = framing.SliverFrames(limits, "GetSlivers")
        expected = iter(indices)

        def next_asked(header: pb.SliverHeader, got: tuple[SliverType, int]) -> None:
            wanted = next(expected, None)
            if header.blob_id != blob_id or got != (sliver_type, wanted):
                raise errors.DataLoss(
                    f"sent {got[0]} sliver {got[1]}, not the {sliver_type} sliver "
                    f"{wanted} asked for next"
                )

        try:
            async for part in call:
                kind = part.WhichOneof("part")
                if kind == "header":
                    next_asked(part.header, frames.header(part.header))
                elif kind == "slivers":
                    for whole in part.slivers.slivers:
                        got_type, index, size = frames.whole(whole.header)
                        next_asked(whole.header, (got_type, index))
                        if len(whole.data) != size:
                            raise errors.DataLoss(
                                f"{got_type} sliver {index}: {len(whole.data)} bytes sent, "
                                f"{size} declared"
                            )
                        if progress is not None:
                            progress(size)
                        yield index, whole.data
                else:
                    sliver = frames.data(part.data)
                    if progress is not None:
                        progress(len(part.data))
                    if sliver is not None:
                        yield sliver.index, sliver.data
            frames.end()
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSlivers", e) from e
        except errors.NodeError as e:
            raise self._refused("GetSlivers", call, e) from e
        finally:
            call.cancel()  # the caller stopped early: end the call (harmless once over)

    async def get_blob_status(self, blob_id: bytes, *, with_proof: bool = False) -> BlobStatus:
        try:
            reply = await self._stub.GetBlobStatus(
                pb.GetBlobStatusRequest(blob_id=blob_id, with_proof=with_proof),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("GetBlobStatus", e) from e
        return convert.blob_status_from_pb(reply)

    async def get_confirmation(
        self, blob_id: bytes, registration: BlobRegistration
    ) -> Confirmation:
        try:
            reply = await self._stub.GetConfirmation(
                pb.GetConfirmationRequest(
                    blob_id=blob_id, registration=convert.registration_to_pb(registration)
                ),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("GetConfirmation", e) from e
        return convert.confirmation_from_pb(reply)

    async def get_recovery_symbols(
        self, blob_id: bytes, target_type: SliverType, target_index: int
    ) -> Sequence[RecoverySymbol]:
        call = self._stub.GetRecoverySymbols(
            pb.GetRecoverySymbolsRequest(
                blob_id=blob_id,
                target_type=convert.sliver_type_to_pb(target_type),
                target_index=target_index,
            ),
            timeout=self._timeout,
        )
        frames = framing.SymbolFrames(self.limits, "GetRecoverySymbols")
        symbols: list[RecoverySymbol] = []
        try:
            async for part in call:
                symbol = frames.add(part)
                if symbol is not None:
                    symbols.append(symbol)
            frames.end()
        except grpc.aio.AioRpcError as e:
            raise self._error("GetRecoverySymbols", e) from e
        except errors.NodeError as e:
            raise self._refused("GetRecoverySymbols", call, e) from e
        return symbols

    async def get_recovery_symbols_batch(
        self, blob_id: bytes, targets: Sequence[tuple[SliverType, int]]
    ) -> Sequence[RecoverySymbol]:
        """Symbols for several slivers of one blob in one call (``GetRecoverySymbolsBatch``),
        as the node sent them: the caller verifies each against the metadata and keeps
        those for the targets it asked for. A node without the call raises
        :class:`RpcError` with code ``UNIMPLEMENTED``."""
        call = self._stub.GetRecoverySymbolsBatch(
            pb.GetRecoverySymbolsBatchRequest(
                blob_id=blob_id,
                targets=[
                    pb.RecoveryTarget(target_type=convert.sliver_type_to_pb(t), target_index=index)
                    for t, index in targets
                ],
            ),
            timeout=self._timeout,
        )
        # one symbol per target per sliver the node holds, and it holds at most every shard
        limits = dataclasses.replace(self.limits, max_items=max(1, len(targets)) * MAX_SHARDS)
        frames = framing.SymbolFrames(limits, "GetRecoverySymbolsBatch")
        symbols: list[RecoverySymbol] = []
        try:
            async for message in call:
                for part in message.parts:
                    symbol = frames.add(part)
                    if symbol is not None:
                        symbols.append(symbol)
            frames.end()
        except grpc.aio.AioRpcError as e:
            raise self._error("GetRecoverySymbolsBatch", e) from e
        except errors.NodeError as e:
            raise self._refused("GetRecoverySymbolsBatch", call, e) from e
        return symbols

    async def get_sliver_symbols(
        self, blob_id: bytes, index: int, first: int, count: int
    ) -> Sequence[RecoverySymbol]:
        """Source symbols ``first .. first + count - 1`` of primary sliver ``index`` with
        their proofs, as the node sent them: the caller verifies them (and that they are
        the ones asked for) against the metadata."""
        call = self._stub.GetSliverSymbols(
            pb.GetSliverSymbolsRequest(blob_id=blob_id, index=index, first=first, count=count),
            timeout=self._timeout,
        )
        limits = dataclasses.replace(self.limits, max_items=count)
        frames = framing.SymbolFrames(limits, "GetSliverSymbols")
        symbols: list[RecoverySymbol] = []
        try:
            async for part in call:
                symbol = frames.add(part)
                if symbol is not None:
                    symbols.append(symbol)
            frames.end()
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSliverSymbols", e) from e
        except errors.NodeError as e:
            raise self._refused("GetSliverSymbols", call, e) from e
        return symbols

    async def submit_certificate(self, certificate: Certificate) -> tuple[bool, bool]:
        try:
            reply = await self._stub.SubmitCertificate(
                pb.SubmitCertificateRequest(certificate=convert.certificate_to_pb(certificate)),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("SubmitCertificate", e) from e
        return reply.newly_certified, reply.syncing

    async def list_certificates(
        self, after_sequence: int, limit: int
    ) -> Sequence[tuple[int, Certificate]]:
        """The node's certificate log after ``after_sequence``, at most ``limit`` entries
        (more is a protocol violation), as received: their signatures are the caller's to
        check. One ``ListCertificatePage`` message (more when a page reaches its size
        bound), or for a node without that call (it answered UNIMPLEMENTED once), the
        ``ListCertificates`` stream, a message per certificate."""
        if not self._no_certificate_pages:
            try:
                return await self._certificate_pages(after_sequence, limit)
            except _NoPages:
                self._no_certificate_pages = True
        request = pb.ListCertificatesRequest(after_sequence=after_sequence, limit=limit)
        call = self._stub.ListCertificates(request, timeout=self._timeout)
        return await self._log_entries(
            "ListCertificates", "certificates", call, limit, convert.certificate_from_pb
        )

    async def _certificate_pages(
        self, after_sequence: int, limit: int
    ) -> list[tuple[int, Certificate]]:
        """The listing in ``ListCertificatePage`` answers: one, or more when a page stops
        at its size bound (``more``). Every page must hold entries after those before it,
        and all of them together at most ``limit``."""
        method = "ListCertificatePage"
        out: list[tuple[int, Certificate]] = []
        after = after_sequence
        while True:
            request = pb.ListCertificatesRequest(after_sequence=after, limit=limit - len(out))
            try:
                page = await self._stub.ListCertificatePage(request, timeout=self._timeout)
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED and not out:
                    raise _NoPages from e
                raise self._error(method, e) from e
            if page is None:  # gRPC could not parse it (and says so only in its log)
                raise RpcError(self.endpoint, method, "DATA_LOSS", "not a page")
            if len(out) + len(page.certificates) > limit:
                raise RpcError(
                    self.endpoint,
                    method,
                    "RESOURCE_EXHAUSTED",
                    f"sent more than the {limit} certificates asked",
                )
            for m in page.certificates:
                if m.sequence <= after:
                    raise RpcError(self.endpoint, method, "DATA_LOSS", "entries out of order")
                try:
                    out.append((m.sequence, convert.certificate_from_pb(m)))
                except errors.NodeError as e:
                    raise RpcError(self.endpoint, method, status.code_for(e).name, str(e)) from e
                after = m.sequence
            if not page.more or len(out) >= limit:
                return out
            if not page.certificates:
                raise RpcError(self.endpoint, method, "DATA_LOSS", "an empty page with more")

    async def list_deletions(
        self, after_sequence: int, limit: int
    ) -> Sequence[tuple[int, Deletion]]:
        """The node's deletion log after ``after_sequence``, at most ``limit`` entries (more
        is a protocol violation), as received: each one's signature is the caller's to
        check."""
        call = self._stub.ListDeletions(
            pb.ListDeletionsRequest(after_sequence=after_sequence, limit=limit),
            timeout=self._timeout,
        )
        return await self._log_entries(
            "ListDeletions", "deletions", call, limit, convert.deletion_from_pb
        )

    async def _log_entries(
        self,
        method: str,
        what: str,
        call: Any,
        limit: int,
        entry_from_pb: Callable[[Any], _Entry],
    ) -> list[tuple[int, _Entry]]:
        """(sequence, entry) of a log listing's stream: at most ``limit`` of them."""
        out: list[tuple[int, _Entry]] = []
        try:
            async for m in call:
                if len(out) >= limit:
                    raise errors.ResourceExhausted(f"sent more than the {limit} {what} asked")
                out.append((m.sequence, entry_from_pb(m)))
        except grpc.aio.AioRpcError as e:
            raise self._error(method, e) from e
        except errors.NodeError as e:
            raise self._refused(method, call, e) from e
        return out

    async def delete_blob(self, blob_id: bytes, epoch: int, signature: bytes) -> bool:
        try:
            reply = await self._stub.DeleteBlob(
                pb.DeleteBlobRequest(blob_id=blob_id, epoch=epoch, signature=signature),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("DeleteBlob", e) from e
        return reply.newly_deleted

    async def sync_shard(
        self,
        signer: KeyPair,
        binding: messages.Binding,
        epoch: int,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
    ) -> ShardBatch:
        """One batch of a shard's slivers from its previous owner (see ShardSync)."""
        wire_type = convert.sliver_type_to_pb(sliver_type)
        message = messages.shard_sync_message(binding, epoch, shard, sliver_type, after, limit)
        call = self._stub.SyncShard(
            pb.SyncShardRequest(
                epoch=epoch,
                shard=shard,
                type=wire_type,
                after_blob_id=after,
                limit=limit,
                requester=signer.public_key,
                signature=signer.sign(message),
                network_id=binding.network_id,
                target=binding.target,
                timestamp_ms=binding.timestamp_ms,
                nonce=binding.nonce,
            ),
            timeout=self._timeout,
        )
        limits = dataclasses.replace(self.limits, max_items=limit)
        assembler = _ShardBatchAssembler(limits)
        try:
            async for part in call:
                assembler.add(part)
            return assembler.batch()
        except grpc.aio.AioRpcError as e:
            raise self._error("SyncShard", e) from e
        except errors.NodeError as e:
            raise self._refused("SyncShard", call, e) from e

    # --- admin -------------------------------------------------------------------------------

    @staticmethod
    def _admin_request(
        admin: KeyPair, method: str, payload: bytes, network_id: str, target: bytes
    ) -> pb.AdminRequest:
        binding = messages.Binding(
            network_id, target, int(time.time() * 1000), os.urandom(messages.NONCE_SIZE)
        )
        return pb.AdminRequest(
            method=method,
            timestamp_ms=binding.timestamp_ms,
            payload=payload,
            signer=admin.public_key,
            signature=admin.sign(messages.admin_message(binding, method, payload)),
            network_id=binding.network_id,
            target=binding.target,
            nonce=binding.nonce,
        )

    async def set_committee(
        self, admin: KeyPair, committee_json: bytes, *, target: bytes
    ) -> tuple[int, str]:
        """Push a committee to the node whose public key is ``target``; the request is
        bound to the committee's network ID, to that node and to a fresh nonce."""
        network_id = committee_file.parse(committee_json).network_id
        request = self._admin_request(admin, "SetCommittee", committee_json, network_id, target)
        try:
            reply = await self._admin.SetCommittee(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("SetCommittee", e) from e
        return reply.epoch, reply.phase

    async def get_sync_status(
        self, admin: KeyPair, *, network_id: str, target: bytes
    ) -> SyncStatus:
        request = self._admin_request(admin, "GetSyncStatus", b"", network_id, target)
        try:
            reply = await self._admin.GetSyncStatus(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSyncStatus", e) from e
        return convert.sync_status_from_pb(reply)


class _ShardBatchAssembler:
    """Rebuilds records from a SyncShard stream: per record the blob, then its sliver
    (header, data...), and an end marker; under the stream's limits."""

    def __init__(self, limits: framing.StreamLimits) -> None:
        self._frames = framing.SliverFrames(limits, "SyncShard")
        self._records: list[ShardBatchRecord] = []
        self._record: pb.BlobRecord | None = None
        self._finished = False
        self._ended = False

    def add(self, part: pb.SyncShardPart) -> None:
        which = part.WhichOneof("part")
        if self._ended:
            raise errors.InvalidRequest("SyncShard: data after the end of the batch")
        if which == "blob":
            if self._record is not None:
                raise errors.InvalidRequest("SyncShard: a blob record without its sliver")
            self._record = part.blob
        elif which == "header":
            if self._record is None or part.header.blob_id != self._record.blob_id:
                raise errors.InvalidRequest("SyncShard: a sliver without its blob record")
            self._frames.header(part.header)
        elif which == "data":
            sliver = self._frames.fill(part.data)
            if sliver is not None:
                record, self._record = self._record, None
                assert record is not None  # a header needs a record
                self._records.append(
                    ShardBatchRecord(
                        record.blob_id,
                        record.metadata,
                        convert.certificate_from_pb(record.certificate),
                        sliver.sliver_type,
                        sliver.index,
                        sliver.buffer,
                    )
                )
        elif which == "end":
            self._frames.end()
            self._ended = True
            self._finished = part.end.finished

    def batch(self) -> ShardBatch:
        self._frames.end()
        if self._record is not None:
            raise errors.DataLoss("SyncShard: the batch ended inside a record")
        return ShardBatch(self._records, self._finished)


class ChannelPool:
    """One channel per (endpoint, name), created on first use (the service's PeerPool).

    With ``credentials`` every channel is TLS and checks the node's certificate against
    the name it is asked for; without, channels are plaintext. ``credentials`` may be a
    function returning the current material (a node's own certificate, which rotates):
    a channel made with older material is then replaced at its next use, and closed with
    the pool. With ``dns_server`` (host[:port]), endpoints' names are resolved by that
    server (gRPC's ``dns://server/name:port`` target) instead of the system resolver.
    """

    def __init__(
        self,
        timeout: float = 60.0,
        credentials: tls.ClientTls | Callable[[], tls.ClientTls] | None = None,
        limits: framing.StreamLimits = DEFAULT_LIMITS,
        dns_server: str = "",
    ) -> None:
        self._channels: dict[tuple[str, str], tuple[tls.ClientTls | None, NodeClient]] = {}
        """Per (endpoint, name): the material its channel was made with, and its client
        (made once: a client's stubs cost more to build than most calls)."""
        self._retired: list[grpc.aio.Channel] = []
        self._timeout = timeout
        self._credentials = credentials
        self._limits = limits
        self._dns_server = dns_server

    def peer(self, endpoint: str, name: str = "") -> NodeClient:
        """The node at ``endpoint``, whose committee name is ``name`` (required with TLS)."""
        key = (endpoint, name)
        credentials = self._credentials() if callable(self._credentials) else self._credentials
        known = self._channels.get(key)
        if known is not None and known[0] == credentials:
            return known[1]
        if known is not None:
            self._retired.append(known[1].channel)  # calls under way finish on it
        target = f"dns://{self._dns_server}/{endpoint}" if self._dns_server else endpoint
        client = NodeClient(
            endpoint, open_channel(target, credentials, name), self._timeout, self._limits
        )
        self._channels[key] = (credentials, client)
        return client

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        retired, self._retired = self._retired, []
        for channel in [*(c.channel for _, c in channels.values()), *retired]:
            await channel.close(grace=None)


def _counted(
    parts: Iterator[pb.SliverPart], progress: Callable[[int], None]
) -> Iterator[pb.SliverPart]:
    for part in parts:
        yield part
        if part.WhichOneof("part") == "data":
            progress(len(part.data))
