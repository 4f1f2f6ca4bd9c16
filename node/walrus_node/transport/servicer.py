"""gRPC servicers: convert the request, call :class:`NodeService`, convert the answer.

Who calls it: grpc.aio, via :mod:`.server`. Every RPC goes through :func:`_rpc`, which
maps :mod:`walrus_node.service.errors` to status codes with :mod:`.status`, records the
latency histogram, and logs one line per call.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog

from walrus_node.codec.params import SliverType
from walrus_node.service import errors
from walrus_node.service.node import NodeService
from walrus_node.transport import convert, status, trailers
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = ["AdminServicer", "StorageNodeServicer"]

log = structlog.get_logger("walrus.rpc")

Req = TypeVar("Req")
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
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: Ctx) -> AsyncIterator[Resp]:
        started = time.perf_counter()
        try:
            async for item in fn(self, request, context):
                yield item
        except Exception as e:
            await _fail(fn.__name__, context, e, started, self.node)
            return
        _done(fn.__name__, started, self.node)

    return wrapper


class StorageNodeServicer(pb_grpc.StorageNodeServicer):
    def __init__(self, node: NodeService) -> None:
        self.node = node

    @_rpc
    async def GetNodeInfo(self, request: pb.GetNodeInfoRequest, context: Ctx) -> pb.NodeInfo:
        return convert.node_info_to_pb(await self.node.node_info())

    @_rpc
    async def GetCommittee(self, request: pb.GetCommitteeRequest, context: Ctx) -> pb.CommitteeInfo:
        return pb.CommitteeInfo(committee_json=self.node.committee_json())

    @_rpc
    async def StoreMetadata(
        self, request: pb.StoreMetadataRequest, context: Ctx
    ) -> pb.StoreMetadataResponse:
        new = await self.node.store_metadata(request.blob_id, request.metadata)
        return pb.StoreMetadataResponse(newly_stored=new)

    @_rpc
    async def GetMetadata(
        self, request: pb.GetMetadataRequest, context: Ctx
    ) -> pb.GetMetadataResponse:
        return pb.GetMetadataResponse(metadata=await self.node.get_metadata(request.blob_id))

    @_rpc
    async def StoreSlivers(
        self, request: AsyncIterator[pb.SliverPart], context: Ctx
    ) -> pb.StoreSliversResponse:
        blob_id: bytes | None = None
        items: list[tuple[SliverType, int, bytes]] = []
        header: pb.SliverHeader | None = None
        chunks: list[bytes] = []  # joined once per sliver: no growing buffer to re-copy
        received = 0
        limit = 0

        def finish() -> None:
            nonlocal header, chunks, received
            if header is None:
                return
            if received != header.size:
                raise errors.InvalidRequest(
                    f"sliver {header.index}: stream ended after {received} of {header.size} bytes"
                )
            data = b"".join(chunks)
            items.append((convert.sliver_type_from_pb(header.type), header.index, data))
            header, chunks, received = None, [], 0

        async for part in request:
            which = part.WhichOneof("part")
            if which == "header":
                finish()
                h = part.header
                if blob_id is None:
                    blob_id = h.blob_id
                    committees = self.node.ctx.require_committees()
                    limit = 2 * committees.n_shards
                elif h.blob_id != blob_id:
                    raise errors.InvalidRequest("one StoreSlivers stream carries one blob")
                if len(items) >= limit:
                    raise errors.ResourceExhausted(f"more than {limit} slivers in one stream")
                sliver_type = convert.sliver_type_from_pb(h.type)
                await self.node.check_sliver_header(h.blob_id, sliver_type, h.index, h.size)
                header = h
            elif which == "data":
                if header is None:
                    raise errors.InvalidRequest("sliver data before its header")
                if received + len(part.data) > header.size:
                    raise errors.InvalidRequest(
                        f"sliver {header.index}: more than the declared {header.size} bytes"
                    )
                chunks.append(part.data)
                received += len(part.data)
            else:
                raise errors.InvalidRequest("empty stream message")
        finish()
        if blob_id is None or not items:
            raise errors.InvalidRequest("no slivers in the stream")
        new, held, expected = await self.node.store_slivers(blob_id, items)
        return pb.StoreSliversResponse(stored=new, held=held, expected=expected)

    @_stream
    async def GetSliver(
        self, request: pb.GetSliverRequest, context: Ctx
    ) -> AsyncIterator[pb.SliverPart]:
        sliver_type = convert.sliver_type_from_pb(request.type)
        data = await self.node.get_sliver(request.blob_id, sliver_type, request.index)
        for part in convert.sliver_parts(request.blob_id, [(sliver_type, request.index, data)]):
            yield part

    @_rpc
    async def GetBlobStatus(self, request: pb.GetBlobStatusRequest, context: Ctx) -> pb.BlobStatus:
        return convert.blob_status_to_pb(await self.node.blob_status(request.blob_id))

    @_rpc
    async def GetConfirmation(
        self, request: pb.GetConfirmationRequest, context: Ctx
    ) -> pb.Confirmation:
        registration = convert.registration_from_pb(request.registration)
        return convert.confirmation_to_pb(await self.node.confirm(request.blob_id, registration))

    @_stream
    async def GetRecoverySymbols(
        self, request: pb.GetRecoverySymbolsRequest, context: Ctx
    ) -> AsyncIterator[pb.RecoverySymbolPart]:
        target_type = convert.sliver_type_from_pb(request.target_type)
        symbols = await self.node.recovery_symbols(
            request.blob_id, target_type, request.target_index
        )
        for part in convert.symbol_parts(symbols):
            yield part

    @_rpc
    async def SubmitCertificate(
        self, request: pb.SubmitCertificateRequest, context: Ctx
    ) -> pb.SubmitCertificateResponse:
        certificate = convert.certificate_from_pb(request.certificate)
        newly, syncing = await self.node.accept_certificate(certificate, source="client")
        return pb.SubmitCertificateResponse(newly_certified=newly, syncing=syncing)

    @_stream
    async def ListCertificates(
        self, request: pb.ListCertificatesRequest, context: Ctx
    ) -> AsyncIterator[pb.Certificate]:
        for sequence, certificate in await self.node.certificates_after(
            request.after_sequence, request.limit
        ):
            yield convert.certificate_to_pb(certificate, sequence)

    @_rpc
    async def DeleteBlob(
        self, request: pb.DeleteBlobRequest, context: Ctx
    ) -> pb.DeleteBlobResponse:
        newly = await self.node.delete_blob(request.blob_id, request.epoch, request.signature)
        return pb.DeleteBlobResponse(newly_deleted=newly)

    @_stream
    async def SyncShard(
        self, request: pb.SyncShardRequest, context: Ctx
    ) -> AsyncIterator[pb.SyncShardPart]:
        sliver_type = convert.sliver_type_from_pb(request.type)
        records, finished = await self.node.shard_sync.records_for(
            request.requester,
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
            for part in convert.sliver_parts(blob_id, [(sliver_type, index, data)]):
                if part.WhichOneof("part") == "header":
                    yield pb.SyncShardPart(header=part.header)
                else:
                    yield pb.SyncShardPart(data=part.data)
        yield pb.SyncShardPart(end=pb.SyncShardEnd(finished=finished))


class AdminServicer(pb_grpc.AdminServicer):
    def __init__(self, node: NodeService) -> None:
        self.node = node

    def _verify(self, request: pb.AdminRequest, method: str) -> None:
        if request.method != method:
            raise errors.PermissionDenied(
                f"request was signed for {request.method!r}, not {method!r}"
            )
        self.node.verify_admin(
            request.method, request.timestamp_ms, request.payload, request.signer, request.signature
        )

    @_rpc
    async def SetCommittee(self, request: pb.AdminRequest, context: Ctx) -> pb.SetCommitteeResponse:
        self._verify(request, "SetCommittee")
        committees = await self.node.set_committee(request.payload)
        return pb.SetCommitteeResponse(epoch=committees.epoch, phase=committees.phase)

    @_rpc
    async def GetSyncStatus(self, request: pb.AdminRequest, context: Ctx) -> pb.SyncStatus:
        self._verify(request, "GetSyncStatus")
        return convert.sync_status_to_pb(self.node.sync_status())
