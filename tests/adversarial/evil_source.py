"""A Byzantine previous owner of a shard: a real gRPC server that speaks the node API and lies.

The node under test gains a shard whose previous owner is this server (the test pushes a
committee saying so). The server answers ``SyncShard`` according to its ``mode``:

- ``"certificate"``: one valid sliver and metadata, with whatever certificate it is given
  (one from a future epoch, or an epoch the node never knew);
- ``"empty"``: no sliver and ``finished=false``, forever;
- ``"recovery"``: nothing (finished), but it lists a certificate in its log and serves
  the blob's metadata and recovery symbols: for a blob it encoded inconsistently (all of
  which verify on their own), or for an honest blob certified in an epoch the node never
  knew;
- ``"false-claim"``: the same for an honest blob, but it answers recovery-symbol requests
  with "invalid blob" and shows a "proof" made of honest symbols (which proves nothing).

It also answers ``GetNodeInfo`` and ``ListCertificates`` (certificate catch-up) and
``GetMetadata``/``GetRecoverySymbols``/``GetRecoverySymbolsBatch`` (recovery), and counts
``SyncShard`` calls.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from walrus_node.codec import encoder, recovery, slivers
from walrus_node.codec.inconsistency import InconsistencyProof
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.protocol import keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.protocol.views import BlobStatus, BlobStatusState, NodeInfo, NodeStatus
from walrus_node.transport import convert, framing, trailers
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc


class Blob:
    """An encoding whose primary sliver 0 may be tampered with (every symbol changed, the
    metadata committing to the result): each piece verifies, recovery through it does not."""

    def __init__(self, data: bytes, n_shards: int, *, tampered: bool) -> None:
        self.enc = encoder.encode(data, n_shards)
        params, s = self.enc.params, self.enc.symbol_size
        self.primary0 = bytes(self.enc.sliver(SliverType.PRIMARY, 0))
        hashes = list(self.enc.metadata.pair_hashes)
        if tampered:
            self.primary0 = bytes(b ^ 0x5A for b in self.primary0)
            root = slivers.sliver_root(params, SliverType.PRIMARY, self.primary0, s)
            pair = params.pair_of(SliverType.PRIMARY, 0)
            hashes[pair] = (root, hashes[pair][1])
        self.metadata = BlobMetadata(
            self.enc.metadata.encoding_type, self.enc.metadata.unencoded_length, tuple(hashes)
        )
        self.blob_id = self.metadata.blob_id().raw
        self.params = params

    def sliver(self, sliver_type: SliverType, index: int) -> bytes:
        if (sliver_type, index) == (SliverType.PRIMARY, 0):
            return self.primary0
        return bytes(self.enc.sliver(sliver_type, index))

    def index_on(self, shard: int, sliver_type: SliverType) -> int:
        pair = self.params.pair_on_shard(self.blob_id, shard)
        return self.params.sliver_in_pair(sliver_type, pair)

    def certificate(self, epoch: int, signer: keys.KeyPair, end_epoch: int) -> Certificate:
        registration = BlobRegistration(end_epoch, unencoded_length=self.metadata.unencoded_length)
        message = messages.confirmation_message(epoch, self.blob_id, registration)
        return Certificate(
            epoch, self.blob_id, registration, ((signer.public_key, signer.sign(message)),)
        )


class EvilSource(pb_grpc.StorageNodeServicer):
    def __init__(self, mode: str, blob: Blob, certificate: Certificate) -> None:
        self.mode = mode
        self.blob = blob
        self.certificate = certificate
        self.key = keys.KeyPair.generate()
        self.sync_calls: list[float] = []
        self.proofs_shown = 0
        self.endpoint = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> EvilSource:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("evil source did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(0), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = grpc.aio.server()
        pb_grpc.add_StorageNodeServicer_to_server(self, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.endpoint = f"127.0.0.1:{port}"

    # --- the API -----------------------------------------------------------------------------

    async def GetNodeInfo(self, request: Any, context: Any) -> pb.NodeInfo:
        listed = 1 if self.mode in ("recovery", "false-claim") else 0
        info = NodeInfo(
            "evil", self.key.public_key, 0, 0, (), NodeStatus.ACTIVE, (), "", 0, 0, 0, "", listed
        )
        return convert.node_info_to_pb(info)

    async def ListCertificates(self, request: Any, context: Any) -> AsyncIterator[pb.Certificate]:
        if self.mode in ("recovery", "false-claim") and request.after_sequence < 1:
            yield convert.certificate_to_pb(self.certificate, 1)

    async def GetMetadata(self, request: Any, context: Any) -> pb.GetMetadataResponse:
        return pb.GetMetadataResponse(metadata=self.blob.metadata.to_bytes())

    async def GetRecoverySymbols(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.RecoverySymbolPart]:
        if self.mode == "false-claim":
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "blob is invalid",
                trailing_metadata=((trailers.BLOB_STATE_KEY, "invalid"),),
            )
        target_type = convert.sliver_type_from_pb(request.target_type)
        for part in framing.symbol_parts(self._symbols(target_type, request.target_index)):
            yield part

    async def GetRecoverySymbolsBatch(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.RecoverySymbolParts]:
        if self.mode == "false-claim":
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "blob is invalid",
                trailing_metadata=((trailers.BLOB_STATE_KEY, "invalid"),),
            )
        for target in request.targets:
            target_type = convert.sliver_type_from_pb(target.target_type)
            symbols = self._symbols(target_type, target.target_index)
            for message in framing.symbol_part_groups(symbols):
                yield message

    def _symbols(self, target_type: SliverType, target: int) -> list[recovery.RecoverySymbol]:
        source_type = target_type.orthogonal
        return [
            symbol
            for i in range(self.blob.params.n)
            for symbol in recovery.make_symbols(
                self.blob.params,
                source_type,
                i,
                self.blob.sliver(source_type, i),
                self.blob.enc.symbol_size,
                [target],
            )
        ]

    async def GetBlobStatus(self, request: Any, context: Any) -> pb.BlobStatus:
        self.proofs_shown += 1
        symbols = self._symbols(SliverType.SECONDARY, 0)
        proof = InconsistencyProof(SliverType.SECONDARY, 0, tuple(symbols))
        return convert.blob_status_to_pb(
            BlobStatus(
                BlobStatusState.INVALID,
                True,
                inconsistency_proof=proof.to_bytes(),
                metadata=self.blob.metadata.to_bytes(),
            )
        )

    async def SyncShard(self, request: Any, context: Any) -> AsyncIterator[pb.SyncShardPart]:
        self.sync_calls.append(time.monotonic())
        if self.mode == "empty":
            yield pb.SyncShardPart(end=pb.SyncShardEnd(finished=False))
            return
        sliver_type = convert.sliver_type_from_pb(request.type)
        if self.mode == "certificate" and request.after_blob_id != self.blob.blob_id:
            index = self.blob.index_on(request.shard, sliver_type)
            yield pb.SyncShardPart(
                blob=pb.BlobRecord(
                    blob_id=self.blob.blob_id,
                    metadata=self.blob.metadata.to_bytes(),
                    certificate=convert.certificate_to_pb(self.certificate),
                )
            )
            data = self.blob.sliver(sliver_type, index)
            for part in framing.sliver_parts(self.blob.blob_id, [(sliver_type, index, data)]):
                if part.WhichOneof("part") == "header":
                    yield pb.SyncShardPart(header=part.header)
                else:
                    yield pb.SyncShardPart(data=part.data)
        yield pb.SyncShardPart(end=pb.SyncShardEnd(finished=True))
