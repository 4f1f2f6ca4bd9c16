"""gRPC servicers: convert the request, call a part of :class:`NodeService`, convert the
answer.

Who calls it: grpc.aio, via :mod:`.server`. Every RPC goes through :func:`_rpc`, which
maps :mod:`walrus_node.protocol.errors` to status codes with :mod:`.status`, records the
latency histogram, and logs one line per call.

Who may call what (docs/security.md): *client* RPCs are open to any caller the port
admits; *peer* RPCs (GetRecoverySymbols, GetRecoverySymbolsBatch, ListCertificates,
ListCertificatePage, ListDeletions, SyncShard) and *admin* RPCs (SetCommittee,
GetSyncStatus) additionally need, when the node serves TLS, a client certificate that
chained to the network CA (:func:`_require_verified_caller`). Admin requests are also
signed by an admin key, shard-sync requests by a committee member.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
import structlog

from walrus_node.codec.params import SliverType
from walrus_node.protocol import errors, messages
from walrus_node.service import shard_sync
from walrus_node.service import upload as upload_mod
from walrus_node.service.node import NodeService
from walrus_node.transport import (
    convert,
    data_parts,
    framing,
    inbound_parts,
    status,
    tls,
    trailers,
    upload_stream,
)
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = ["CERTIFICATE_PAGE_BYTES", "AdminServicer", "StorageNodeServicer"]

log = structlog.get_logger("walrus.rpc")

CERTIFICATE_PAGE_BYTES = 4 << 20
"""Most bytes of certificates in one ``ListCertificatePage`` answer: half the message
limit (``convert.MAX_MESSAGE_SIZE``), whatever the committee's size."""

Req = TypeVar("Req")
T = TypeVar("T")
Resp = TypeVar("Resp")
Ctx = grpc.aio.ServicerContext[Any, Any]


async def _fail(
    name: str, context: Ctx, error: BaseException, started: float, node: NodeService
) -> None:
    if isinstance(error, errors.NodeError):
        code = status.code_for(error)
        message = str(error)
        level = "info"
    else:
        code = grpc.StatusCode.INTERNAL
        message = f"internal error: {type(error).__name__}"
        level = "error"
        log.exception("rpc_internal_error", rpc=name)
    node.ctx.metrics.rpc_duration.labels(method=name, code=code.name).observe(
        time.perf_counter() - started
    )
    getattr(log, level)(
        "rpc",
        rpc=name,
        code=code.name,
        error=message,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    trailing: tuple[tuple[str, str], ...] = ()
    if isinstance(error, errors.Gone):
        trailing = ((trailers.BLOB_STATE_KEY, error.state),)
    await context.abort(code, message, trailing_metadata=trailing)


def _require_verified_caller(node: NodeService, context: Ctx, what: str) -> None:
    """Refuse a peer or admin RPC from a caller without a verified client certificate."""
    if node.ctx.config.tls_cert_file is not None and tls.verified_peer(context) is None:
        raise errors.PermissionDenied(
            f"{what} RPCs need a client certificate signed by the network CA"
        )


def _done(name: str, started: float, node: NodeService) -> None:
    elapsed = time.perf_counter() - started
    node.ctx.metrics.rpc_duration.labels(method=name, code="OK").observe(elapsed)
    log.debug("rpc", rpc=name, code="OK", ms=round(elapsed * 1000, 2))


def _rpc(
    fn: Callable[[Any, Req, Ctx], Awaitable[Resp]],
) -> Callable[[Any, Req, Ctx], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: Ctx) -> Resp:
        started = time.perf_counter()
        try:
            result = await fn(self, request, context)
        except Exception as e:
            await _fail(fn.__name__, context, e, started, self.node)
            raise AssertionError("abort returned") from e
        _done(fn.__name__, started, self.node)
        return result

    return wrapper


def _stream(
    fn: Callable[[Any, Req, Ctx], AsyncIterator[Resp]],
) -> Callable[[Any, Req, Ctx], AsyncIterator[Resp]]:
    """A streaming handler written as an async generator, its messages written here: each
    write awaited at most ``stream_idle_seconds``. A caller that stops reading would
    otherwise hold the call (one of the server's concurrent RPCs) and what the handler
    reserved in the memory budget for ever, flow control keeping the write pending; it
    is ended with ``FAILED_PRECONDITION`` naming the setting, and the handler is closed
    at once, giving back what it held."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: Ctx) -> None:
        started = time.perf_counter()
        idle = self.node.ctx.config.stream_idle_seconds
        try:
            async with contextlib.aclosing(
                cast(AsyncGenerator[Resp], fn(self, request, context))
            ) as replies:
                async for item in replies:
                    try:
                        async with asyncio.timeout(idle):
                            await context.write(item)
                    except TimeoutError:
                        raise errors.FailedPrecondition(
                            f"{fn.__name__}: the caller read no message for {idle:g} s "
                            "(stream_idle_seconds)"
                        ) from None
        except Exception as e:
            await _fail(fn.__name__, context, e, started, self.node)
            return
        _done(fn.__name__, started, self.node)

    # gRPC takes a coroutine that writes through its context in place of a generator
    # (the generated base class types only the latter)
    return cast("Callable[[Any, Req, Ctx], AsyncIterator[Resp]]", wrapper)


class StorageNodeServicer(pb_grpc.StorageNodeServicer):
    def __init__(self, node: NodeService) -> None:
        self.node = node

    @_rpc
    async def GetNodeInfo(self, request: pb.GetNodeInfoRequest, context: Ctx) -> pb.NodeInfo:
        return convert.node_info_to_pb(await self.node.report.node_info())

    @_rpc
    async def GetCommittee(self, request: pb.GetCommitteeRequest, context: Ctx) -> pb.CommitteeInfo:
        return pb.CommitteeInfo(committee_json=self.node.report.committee_json())

    @_rpc
    async def StoreMetadata(
        self, request: pb.StoreMetadataRequest, context: Ctx
    ) -> pb.StoreMetadataResponse:
        new = await self.node.blobs.store_metadata(request.blob_id, request.metadata)
        return pb.StoreMetadataResponse(newly_stored=new)

    @_rpc
    async def GetMetadata(
        self, request: pb.GetMetadataRequest, context: Ctx
    ) -> pb.GetMetadataResponse:
        return pb.GetMetadataResponse(metadata=await self.node.blobs.get_metadata(request.blob_id))

    @_rpc
    async def StoreSlivers(
        self, request: AsyncIterator[pb.SliverPart], context: Ctx
    ) -> pb.StoreSliversResponse:
        """Each sliver is admitted at its header (checks, memory reserved) and verified as
        soon as its last byte is in, before the next one is read (:mod:`.framing`)."""
        blob_id: bytes | None = None
        frames: framing.SliverFrames | None = None
        upload = None
        try:
            async for part in self._paced(request, "StoreSlivers"):
                which = part.WhichOneof("part")
                if which == "header" and blob_id is None:
                    blob_id = part.header.blob_id
                    upload = self.node.blobs.upload(blob_id)
                    frames = framing.SliverFrames(self._upload_limits(), "StoreSlivers")
                if which == "data" and (frames is None or upload is None):
                    raise errors.InvalidRequest("sliver data before its header")
                if frames is None or upload is None or blob_id is None:
                    raise errors.InvalidRequest("empty stream message")
                await self._sliver_part(upload, frames, blob_id, part, "StoreSlivers")
            if frames is None or upload is None:
                raise errors.InvalidRequest("no slivers in the stream")
            frames.end()
            new, held, expected = await upload.finish()
        finally:
            if upload is not None:
                await upload.close()
        return pb.StoreSliversResponse(stored=new, held=held, expected=expected)

    @staticmethod
    async def _sliver_part(
        upload: upload_mod.Upload,
        frames: framing.SliverFrames,
        blob_id: bytes,
        part: pb.SliverPart | pb.StoreBlobPart,
        what: str,
    ) -> None:
        """One header or data part of an upload: a header is admitted (checks, memory
        reserved) before its bytes are read; a sliver is verified once its last byte is in."""
        which = part.WhichOneof("part")
        if which == "header":
            if part.header.blob_id != blob_id:
                raise errors.InvalidRequest(f"one {what} stream carries one blob")
            sliver_type, index = frames.header(part.header)
            await upload.admit(sliver_type, index, part.header.size)
        elif which == "data":
            sliver = frames.fill(part.data)
            if sliver is not None:
                await upload.add(sliver.sliver_type, sliver.index, sliver.buffer)
        else:
            raise errors.InvalidRequest(f"{what}: unexpected {which or 'empty'} stream message")

    @_rpc
    async def StoreBlob(
        self, request: AsyncIterator[pb.StoreBlobPart | data_parts.Chunk], context: Ctx
    ) -> pb.StoreBlobResponse:
        """StoreMetadata, StoreSlivers and GetConfirmation in one exchange, in that order
        and with their checks (:mod:`.upload_stream`): the metadata is verified (and
        charged to the uncertified quota), and the registration checked, before any sliver
        is read; each sliver is admitted at its header and verified at its last byte; the
        metadata is written with the first slivers, in one transaction; the confirmation
        is signed only once every sliver of this node's shards is durably stored."""
        stream = upload_stream.UploadStream(self.node, self._upload_limits, "StoreBlob")
        try:
            started = False
            async for part in self._paced(request, "StoreBlob"):
                if isinstance(part, data_parts.Chunk):  # a data part, read as a view
                    await stream.data(part.data)
                    continue
                which = part.WhichOneof("part")
                if which == "start":
                    await stream.start(part.start)
                    started = True
                elif which == "header":
                    await stream.header(part.header)
                elif which == "data":
                    await stream.data(part.data)
                elif not started:
                    raise errors.InvalidRequest("StoreBlob: slivers before the start part")
                else:
                    raise errors.InvalidRequest("StoreBlob: an empty stream message")
            if not started:
                raise errors.InvalidRequest("StoreBlob: no start part in the stream")
            response, _ = await stream.finish()
        finally:
            await stream.close()
        return response

    @_stream
    async def StoreAndCertify(
        self, request: AsyncIterator[pb.StoreAndCertifyPart | data_parts.Chunk], context: Ctx
    ) -> AsyncIterator[pb.StoreAndCertifyReply]:
        """StoreBlob, then SubmitCertificate, on one stream: one call per node per store.
        The upload is StoreBlob's, part for part and check for check
        (:mod:`.upload_stream`), and ends when the client says its slivers are sent (in the
        start part, or with an ``uploaded`` part); the node answers ``stored`` once they
        are durable, and gives back what the upload held before it waits for the
        certificate. The certificate that may follow must be of the stream's blob; it is
        checked and recorded as SubmitCertificate does (except for this node's own
        signature in it, equal to the confirmation it just made), and answered with
        ``certified``."""
        parts = self._paced(request, "StoreAndCertify")
        stream = upload_stream.UploadStream(self.node, self._upload_limits, "StoreAndCertify")
        try:
            if not await self._store_and_certify_part(stream, await anext(parts, None)):
                # More parts follow the start (a big upload): say that the start part was
                # taken, so that the client streams its slivers only to a node that took
                # it. (A client streaming into a call the node has ended, refusing the
                # start or not knowing the call, often sees gRPC's "INTERNAL: Internal
                # error from Core" instead of the node's status: grpc/grpc#36066.)
                yield pb.StoreAndCertifyReply(taken=pb.StartTaken())
                while not await self._store_and_certify_part(stream, await anext(parts, None)):
                    pass
            response, confirmation = await stream.finish()
        finally:
            await stream.close()
        yield pb.StoreAndCertifyReply(stored=response)
        # The client gives the certificate once nodes holding n - f shards confirmed; a
        # client that vanished (its host down, no FIN) must not hold the call for ever.
        # Past ``uncertified_ttl_seconds`` the blob's data is collected as never certified
        # anyway; the node still learns a later certificate from SubmitCertificate or from
        # its peers' logs.
        wait = self.node.ctx.config.uncertified_ttl_seconds
        try:
            async with asyncio.timeout(wait):
                part = await anext(parts.raw, None)
        except TimeoutError:
            raise errors.FailedPrecondition(
                f"StoreAndCertify: no certificate within {wait:g} s of the upload"
            ) from None
        if part is None:
            return  # the client had no certificate to give
        if isinstance(part, data_parts.Chunk) or part.WhichOneof("part") != "certificate":
            raise errors.InvalidRequest("StoreAndCertify: only a certificate may follow the upload")
        certificate = convert.certificate_from_pb(part.certificate)
        if certificate.blob_id != stream.blob_id:
            raise errors.InvalidRequest("StoreAndCertify: the certificate is of another blob")
        newly, syncing = await self.node.registrations.accept_certificate(
            certificate, source="client", made_here=confirmation
        )
        yield pb.StoreAndCertifyReply(
            certified=pb.SubmitCertificateResponse(newly_certified=newly, syncing=syncing)
        )

    @staticmethod
    async def _store_and_certify_part(
        stream: upload_stream.UploadStream,
        part: pb.StoreAndCertifyPart | data_parts.Chunk | None,
    ) -> bool:
        """Take one part of a StoreAndCertify upload; True once its slivers are all sent."""
        if part is None:
            raise errors.InvalidRequest("StoreAndCertify: the stream ended inside the upload")
        if isinstance(part, data_parts.Chunk):  # a data part, read as a view
            await stream.data(part.data)
            return False
        which = part.WhichOneof("part")
        if which == "start":
            await stream.start(part.start.blob)
            await stream.wholes(part.start.slivers)
            return part.start.uploaded
        if which == "header":
            await stream.header(part.header)
        elif which == "data":
            await stream.data(part.data)
        elif which == "uploaded":
            stream.require_started()
            return True
        else:
            raise errors.InvalidRequest(
                f"StoreAndCertify: unexpected {which or 'empty'} message in the upload"
            )
        return False

    def _paced(self, request: AsyncIterator[T], what: str) -> inbound_parts.InboundParts[T]:
        """An upload's request stream, each message awaited at most
        ``stream_idle_seconds`` (:mod:`.inbound_parts`)."""
        idle = self.node.ctx.config.stream_idle_seconds
        return inbound_parts.InboundParts(request, idle, what)

    def _upload_limits(self) -> framing.StreamLimits:
        config = self.node.ctx.config
        n_shards = self.node.ctx.require_committees().n_shards
        return framing.StreamLimits(
            max_sliver_bytes=config.max_sliver_bytes,
            max_stream_bytes=2 * n_shards * config.max_sliver_bytes,
            max_items=2 * n_shards,
        )

    @_stream
    async def GetSliver(
        self, request: pb.GetSliverRequest, context: Ctx
    ) -> AsyncIterator[pb.SliverPart]:
        """Streamed from the store a piece at a time: the request holds (and reserves in
        the memory budget) two pieces of ``read_buffer_bytes``, the one being read and the
        message being sent, whatever the sliver's size."""
        blobs = self.node.blobs
        sliver_type = convert.sliver_type_from_pb(request.type)
        size = await blobs.sliver_size(request.blob_id, sliver_type)
        piece = self.node.ctx.config.read_buffer_bytes
        held = min(size, 2 * piece)
        async with self.node.ctx.memory.hold(held, f"{sliver_type} sliver {request.index}"):
            async for part in self._sliver_parts(request.blob_id, sliver_type, request.index):
                yield part

    @_stream
    async def GetSlivers(
        self, request: pb.GetSliversRequest, context: Ctx
    ) -> AsyncIterator[pb.SliverPart]:
        """Several slivers of one type, one after the other, each as :meth:`GetSliver`
        sends one, or, asked ``packed``, slivers up to a piece of ``read_buffer_bytes``
        whole, as many in one message as fit in a piece (each group read in one trip to a
        worker thread): the call holds (and reserves) two pieces at a time whatever the
        number of slivers; at most ``n_shards`` of them, none twice. At 1000 shards a read
        asks each node for ~34 slivers of a few kB: a call each, or two messages each,
        cost the node and the reader more than the slivers."""
        blobs = self.node.blobs
        sliver_type = convert.sliver_type_from_pb(request.type)
        indices = list(request.indices)
        n_shards = self.node.ctx.require_committees().n_shards
        if not indices:
            raise errors.InvalidRequest("GetSlivers: no sliver asked for")
        if len(indices) > n_shards:
            raise errors.InvalidRequest(
                f"GetSlivers: {len(indices)} slivers asked for, at most {n_shards} (n_shards)"
            )
        if len(set(indices)) != len(indices):
            raise errors.InvalidRequest("GetSlivers: a sliver asked for twice")
        size = await blobs.sliver_size(request.blob_id, sliver_type)
        piece = self.node.ctx.config.read_buffer_bytes
        held = min(size * len(indices), 2 * piece)
        async with self.node.ctx.memory.hold(held, f"{len(indices)} {sliver_type} slivers"):
            if request.packed and size <= piece:
                per = piece // size  # slivers in one message
                for at in range(0, len(indices), per):
                    group = indices[at : at + per]
                    got, error = await blobs.whole_slivers(request.blob_id, sliver_type, group)
                    if got:
                        yield framing.whole_slivers(request.blob_id, sliver_type, got)
                    if error is not None:
                        raise error
                return
            for index in indices:
                async for part in self._sliver_parts(request.blob_id, sliver_type, index):
                    yield part

    async def _sliver_parts(
        self, blob_id: bytes, sliver_type: SliverType, index: int
    ) -> AsyncIterator[pb.SliverPart]:
        """One stored sliver as a header, then pieces of ``read_buffer_bytes`` (the
        caller holds room for two of them)."""
        blobs = self.node.blobs
        piece = self.node.ctx.config.read_buffer_bytes
        sliver = await blobs.open_sliver(blob_id, sliver_type, index)
        yield framing.sliver_header(blob_id, sliver_type, sliver.index, sliver.size)
        for offset in range(0, sliver.size, piece):
            yield pb.SliverPart(data=await blobs.sliver_piece(sliver, offset, piece))

    @_rpc
    async def GetBlobStatus(self, request: pb.GetBlobStatusRequest, context: Ctx) -> pb.BlobStatus:
        status = await self.node.blobs.blob_status(request.blob_id, with_proof=request.with_proof)
        return convert.blob_status_to_pb(status)

    @_rpc
    async def GetConfirmation(
        self, request: pb.GetConfirmationRequest, context: Ctx
    ) -> pb.Confirmation:
        registration = convert.registration_from_pb(request.registration)
        return convert.confirmation_to_pb(
            await self.node.registrations.confirm(request.blob_id, registration)
        )

    @_stream
    async def GetRecoverySymbols(
        self, request: pb.GetRecoverySymbolsRequest, context: Ctx
    ) -> AsyncIterator[pb.RecoverySymbolPart]:
        _require_verified_caller(self.node, context, "peer")
        target_type = convert.sliver_type_from_pb(request.target_type)
        size = await self.node.blobs.recovery_symbols_size(request.blob_id, target_type)
        async with self.node.ctx.memory.hold(size, "recovery symbols"):
            symbols = await self.node.blobs.recovery_symbols(
                request.blob_id, target_type, request.target_index
            )
            for part in framing.symbol_parts(symbols):
                yield part

    @_stream
    async def GetRecoverySymbolsBatch(
        self, request: pb.GetRecoverySymbolsBatchRequest, context: Ctx
    ) -> AsyncIterator[pb.RecoverySymbolParts]:
        _require_verified_caller(self.node, context, "peer")
        targets = self.node.blobs.check_targets(
            [(convert.sliver_type_from_pb(t.target_type), t.target_index) for t in request.targets]
        )
        size = await self.node.blobs.recovery_symbols_size(
            request.blob_id, targets[0][0], len(targets)
        )
        async with self.node.ctx.memory.hold(size, "recovery symbols"):
            symbols = await self.node.blobs.recovery_symbols_batch(request.blob_id, targets)
            for message in framing.symbol_part_groups(symbols):
                yield message

    @_stream
    async def GetSliverSymbols(
        self, request: pb.GetSliverSymbolsRequest, context: Ctx
    ) -> AsyncIterator[pb.RecoverySymbolPart]:
        async with self.node.sliver_symbols.read(
            request.blob_id, request.index, request.first, request.count
        ) as symbols:
            for part in framing.symbol_parts(symbols):
                yield part

    @_rpc
    async def SubmitCertificate(
        self, request: pb.SubmitCertificateRequest, context: Ctx
    ) -> pb.SubmitCertificateResponse:
        certificate = convert.certificate_from_pb(request.certificate)
        newly, syncing = await self.node.registrations.accept_certificate(
            certificate, source="client"
        )
        return pb.SubmitCertificateResponse(newly_certified=newly, syncing=syncing)

    @_stream
    async def ListCertificates(
        self, request: pb.ListCertificatesRequest, context: Ctx
    ) -> AsyncIterator[pb.Certificate]:
        _require_verified_caller(self.node, context, "peer")
        for sequence, certificate in await self.node.registrations.certificates_after(
            request.after_sequence, request.limit
        ):
            yield convert.certificate_to_pb(certificate, sequence)

    @_rpc
    async def ListCertificatePage(
        self, request: pb.ListCertificatesRequest, context: Ctx
    ) -> pb.CertificatePage:
        """ListCertificates in one message, of at most :data:`CERTIFICATE_PAGE_BYTES`
        (a certificate of a committee of ~1000 members is ~70 kB): one that stops short
        of the limit for that says ``more``."""
        _require_verified_caller(self.node, context, "peer")
        entries = await self.node.registrations.certificates_after(
            request.after_sequence, request.limit
        )
        page = pb.CertificatePage()
        size = 0
        for sequence, certificate in entries:
            message = convert.certificate_to_pb(certificate, sequence)
            size += message.ByteSize() + 8  # the field's key and length
            if size > CERTIFICATE_PAGE_BYTES and page.certificates:
                page.more = True
                break
            page.certificates.append(message)
        return page

    @_stream
    async def ListDeletions(
        self, request: pb.ListDeletionsRequest, context: Ctx
    ) -> AsyncIterator[pb.Deletion]:
        _require_verified_caller(self.node, context, "peer")
        for sequence, deletion in await self.node.lifetime.deletions_after(
            request.after_sequence, request.limit
        ):
            yield convert.deletion_to_pb(deletion, sequence)

    @_rpc
    async def DeleteBlob(
        self, request: pb.DeleteBlobRequest, context: Ctx
    ) -> pb.DeleteBlobResponse:
        newly = await self.node.lifetime.delete_blob(
            request.blob_id, request.epoch, request.signature
        )
        return pb.DeleteBlobResponse(newly_deleted=newly)

    @_stream
    async def SyncShard(
        self, request: pb.SyncShardRequest, context: Ctx
    ) -> AsyncIterator[pb.SyncShardPart]:
        _require_verified_caller(self.node, context, "peer")
        ctx = self.node.ctx
        # A batch holds about shard_sync.BATCH_BYTES (its last sliver may cross it).
        size = min(shard_sync.BATCH_BYTES, ctx.memory.total)
        async with ctx.memory.hold(size, "shard batch"):
            sliver_type = convert.sliver_type_from_pb(request.type)
            binding = messages.Binding(
                request.network_id, request.target, request.timestamp_ms, request.nonce
            )
            records, finished = await self.node.shard_sync.records_for(
                request.requester,
                binding,
                request.epoch,
                request.shard,
                sliver_type,
                request.after_blob_id,
                request.limit,
                request.signature,
            )
            for blob_id, metadata, certificate, index, data in records:
                yield pb.SyncShardPart(
                    blob=pb.BlobRecord(
                        blob_id=blob_id,
                        metadata=metadata,
                        certificate=convert.certificate_to_pb(certificate),
                    )
                )
                for part in framing.sliver_parts(blob_id, [(sliver_type, index, data)]):
                    if part.WhichOneof("part") == "header":
                        yield pb.SyncShardPart(header=part.header)
                    else:
                        yield pb.SyncShardPart(data=part.data)
            yield pb.SyncShardPart(end=pb.SyncShardEnd(finished=finished))


class AdminServicer(pb_grpc.AdminServicer):
    def __init__(self, node: NodeService) -> None:
        self.node = node

    def _verify(self, request: pb.AdminRequest, context: Ctx, method: str) -> None:
        _require_verified_caller(self.node, context, "admin")
        if request.method != method:
            raise errors.PermissionDenied(
                f"request was signed for {request.method!r}, not {method!r}"
            )
        binding = messages.Binding(
            request.network_id, request.target, request.timestamp_ms, request.nonce
        )
        self.node.admin.verify(
            request.method, binding, request.payload, request.signer, request.signature
        )

    @_rpc
    async def SetCommittee(self, request: pb.AdminRequest, context: Ctx) -> pb.SetCommitteeResponse:
        self._verify(request, context, "SetCommittee")
        committees = await self.node.admin.set_committee(request.payload)
        return pb.SetCommitteeResponse(epoch=committees.epoch, phase=committees.phase)

    @_rpc
    async def GetSyncStatus(self, request: pb.AdminRequest, context: Ctx) -> pb.SyncStatus:
        self._verify(request, context, "GetSyncStatus")
        return convert.sync_status_to_pb(self.node.report.sync_status())
