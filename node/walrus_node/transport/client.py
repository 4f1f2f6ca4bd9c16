"""Async gRPC client of one storage node, and a pool of them keyed by endpoint.

Who calls it: the client library (store/read), nodes (peers: recovery, catch-up), the
testbed and the operator (admin). Speaks domain types; every gRPC failure becomes a
:class:`RpcError` carrying the status code name, so callers never see grpc exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import grpc
import grpc.aio

from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol import messages
from walrus_node.protocol.keys import KeyPair
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.service.peers import PeerError, ShardBatch, ShardBatchRecord
from walrus_node.service.views import BlobStatus, NodeInfo, SyncStatus
from walrus_node.transport import convert, trailers
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = ["ChannelPool", "NodeClient", "RpcError", "channel_options"]


def channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", convert.MAX_MESSAGE_SIZE),
        ("grpc.max_send_message_length", convert.MAX_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.enable_retries", 0),
    ]


class RpcError(PeerError):
    """A call to a node failed. ``code`` is the gRPC status code name."""

    def __init__(self, endpoint: str, method: str, code: str, details: str, blob_state: str = ""):
        super().__init__(f"{endpoint} {method}: {code}: {details}")
        self.endpoint = endpoint
        self.method = method
        self.code = code
        self.details = details
        self.blob_state = blob_state


class NodeClient:
    """One node's API. Cheap to create; shares the channel it is given."""

    def __init__(self, endpoint: str, channel: grpc.aio.Channel, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self._stub = pb_grpc.StorageNodeStub(channel)
        self._admin = pb_grpc.AdminStub(channel)
        self._timeout = timeout

    def _error(self, method: str, e: grpc.aio.AioRpcError) -> RpcError:
        state = ""
        trailing: Any = e.trailing_metadata() or ()
        for key, value in trailing:
            if key == trailers.BLOB_STATE_KEY:
                state = str(value)
        return RpcError(self.endpoint, method, e.code().name, e.details() or "", state)

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
        self, blob_id: bytes, slivers: list[tuple[SliverType, int, bytes | memoryview]]
    ) -> tuple[int, int, int]:
        """Upload slivers of one blob; returns (newly stored, held, expected)."""
        try:
            reply = await self._stub.StoreSlivers(
                convert.sliver_parts(blob_id, slivers), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("StoreSlivers", e) from e
        return reply.stored, reply.held, reply.expected

    async def get_sliver(self, blob_id: bytes, sliver_type: SliverType, index: int) -> bytes:
        call = self._stub.GetSliver(
            pb.GetSliverRequest(
                blob_id=blob_id, type=convert.sliver_type_to_pb(sliver_type), index=index
            ),
            timeout=self._timeout,
        )
        chunks: list[bytes] = []
        size = -1
        try:
            async for part in call:
                if part.WhichOneof("part") == "header":
                    size = part.header.size
                else:
                    chunks.append(part.data)
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSliver", e) from e
        data = b"".join(chunks)
        if len(data) != size:
            raise RpcError(
                self.endpoint,
                "GetSliver",
                "DATA_LOSS",
                f"got {len(data)} bytes, header said {size}",
            )
        return data

    async def get_blob_status(self, blob_id: bytes) -> BlobStatus:
        try:
            reply = await self._stub.GetBlobStatus(
                pb.GetBlobStatusRequest(blob_id=blob_id), timeout=self._timeout
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
        try:
            return await convert.symbols_from_parts(call.__aiter__())
        except grpc.aio.AioRpcError as e:
            raise self._error("GetRecoverySymbols", e) from e

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
        call = self._stub.ListCertificates(
            pb.ListCertificatesRequest(after_sequence=after_sequence, limit=limit),
            timeout=self._timeout,
        )
        try:
            return [(m.sequence, convert.certificate_from_pb(m)) async for m in call]
        except grpc.aio.AioRpcError as e:
            raise self._error("ListCertificates", e) from e

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
        epoch: int,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
    ) -> ShardBatch:
        """One batch of a shard's slivers from its previous owner (see ShardSync)."""
        wire_type = convert.sliver_type_to_pb(sliver_type)
        message = messages.shard_sync_message(epoch, shard, int(wire_type), after, limit)
        call = self._stub.SyncShard(
            pb.SyncShardRequest(
                epoch=epoch,
                shard=shard,
                type=wire_type,
                after_blob_id=after,
                limit=limit,
                requester=signer.public_key,
                signature=signer.sign(message),
            ),
            timeout=self._timeout,
        )
        assembler = _ShardBatchAssembler(self.endpoint)
        try:
            async for part in call:
                assembler.add(part)
        except grpc.aio.AioRpcError as e:
            raise self._error("SyncShard", e) from e
        return assembler.batch()

    # --- admin -------------------------------------------------------------------------------

    @staticmethod
    def _admin_request(admin: KeyPair, method: str, payload: bytes) -> pb.AdminRequest:
        ts = int(time.time() * 1000)
        return pb.AdminRequest(
            method=method,
            timestamp_ms=ts,
            payload=payload,
            signer=admin.public_key,
            signature=admin.sign(messages.admin_message(method, ts, payload)),
        )

    async def set_committee(self, admin: KeyPair, committee_json: bytes) -> tuple[int, str]:
        try:
            reply = await self._admin.SetCommittee(
                self._admin_request(admin, "SetCommittee", committee_json), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("SetCommittee", e) from e
        return reply.epoch, reply.phase

    async def get_sync_status(self, admin: KeyPair) -> SyncStatus:
        try:
            reply = await self._admin.GetSyncStatus(
                self._admin_request(admin, "GetSyncStatus", b""), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as e:
            raise self._error("GetSyncStatus", e) from e
        return convert.sync_status_from_pb(reply)


class _ShardBatchAssembler:
    """Rebuilds records from a SyncShard stream: blob, header, data..., then end."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._records: list[ShardBatchRecord] = []
        self._record: pb.BlobRecord | None = None
        self._header: pb.SliverHeader | None = None
        self._chunks: list[bytes] = []
        self._finished = False

    def _flush(self) -> None:
        record, header = self._record, self._header
        if record is None or header is None:
            return
        data = b"".join(self._chunks)
        if len(data) != header.size or header.blob_id != record.blob_id:
            raise RpcError(self._endpoint, "SyncShard", "DATA_LOSS", "truncated sliver")
        self._records.append(
            ShardBatchRecord(
                record.blob_id,
                record.metadata,
                convert.certificate_from_pb(record.certificate),
                convert.sliver_type_from_pb(header.type),
                header.index,
                data,
            )
        )
        self._record, self._header, self._chunks = None, None, []

    def add(self, part: pb.SyncShardPart) -> None:
        which = part.WhichOneof("part")
        if which == "blob":
            self._flush()
            self._record = part.blob
        elif which == "header":
            self._header = part.header
        elif which == "data":
            self._chunks.append(part.data)
        elif which == "end":
            self._flush()
            self._finished = part.end.finished

    def batch(self) -> ShardBatch:
        self._flush()
        return ShardBatch(self._records, self._finished)


class ChannelPool:
    """One channel per endpoint, created on first use (implements the service's PeerPool).

    With ``dns_server`` (host[:port]), endpoints' names are resolved by that server
    (gRPC's ``dns://server/name:port`` target) instead of the system resolver."""

    def __init__(self, timeout: float = 60.0, dns_server: str = "") -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._timeout = timeout
        self._dns_server = dns_server

    def peer(self, endpoint: str) -> NodeClient:
        channel = self._channels.get(endpoint)
        if channel is None:
            target = f"dns://{self._dns_server}/{endpoint}" if self._dns_server else endpoint
            channel = grpc.aio.insecure_channel(target, options=channel_options())
            self._channels[endpoint] = channel
        return NodeClient(endpoint, channel, self._timeout)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close(grace=None)
