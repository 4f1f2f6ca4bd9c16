"""The receiving side of one blob upload stream (``StoreBlob`` or ``StoreAndCertify``):
its start part, its slivers (whole, or a header and data parts) and the node's answer.

Who calls it: :class:`.servicer.StorageNodeServicer`, one :class:`UploadStream` per call:
:meth:`UploadStream.start` for the start part, :meth:`~UploadStream.header`,
:meth:`~UploadStream.data` and :meth:`~UploadStream.wholes` for slivers,
:meth:`~UploadStream.finish` once the client says (or its stream shows) that every sliver
is sent, and :meth:`~UploadStream.close` always.

The checks, in order (docs/security.md, ``StoreBlob``): the start part comes first and
only once; its metadata is verified against the blob ID and charged to the uncertified
quota, and the registration is checked as ``GetConfirmation`` checks it, before any
sliver is taken; each sliver is admitted at its header (:mod:`.framing`'s limits, room
reserved in the memory budget) and verified once its last byte is in
(:mod:`walrus_node.service.upload`); the confirmation is signed only once every sliver
of this node's shards is durably stored. Whole slivers (header and bytes in the start
part, as a small blob's slivers travel) go through the same steps, except that those of
one message are verified together once all are admitted: their bytes are in memory
already, as a data part's are, bounded by gRPC's message size limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from walrus_node.protocol import errors
from walrus_node.protocol.messages import BlobRegistration, Confirmation
from walrus_node.protocol.sliver_buffer import SliverBuffer
from walrus_node.service import upload as upload_mod
from walrus_node.service.node import NodeService
from walrus_node.transport import convert, framing
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = ["UploadStream"]


class UploadStream:
    def __init__(
        self, node: NodeService, limits: Callable[[], framing.StreamLimits], what: str
    ) -> None:
        self._node = node
        self._limits = limits
        self._what = what
        self.blob_id = b""
        self.registration: BlobRegistration | None = None
        self._upload: upload_mod.Upload | None = None
        self._frames: framing.SliverFrames | None = None

    async def start(self, start: pb.StoreBlobStart) -> None:
        """The metadata verified and charged, the registration checked, before any sliver."""
        if self._upload is not None:
            raise errors.InvalidRequest(f"{self._what}: a second start part")
        blob_id = start.blob_id
        registration = convert.registration_from_pb(start.registration)
        self._upload = upload = await self._node.blobs.upload_blob(blob_id, start.metadata)
        assert upload.pending is not None
        await self._node.registrations.check_confirmable(
            blob_id, registration, upload.pending.metadata
        )
        self.blob_id, self.registration = blob_id, registration
        self._frames = framing.SliverFrames(self._limits(), self._what)

    def require_started(self) -> None:
        """Refuse anything but the start part before the start part."""
        self._started()

    def _started(self) -> tuple[upload_mod.Upload, framing.SliverFrames]:
        if self._upload is None or self._frames is None or self.registration is None:
            raise errors.InvalidRequest(f"{self._what}: slivers before the start part")
        return self._upload, self._frames

    async def header(self, header: pb.SliverHeader) -> None:
        """A sliver's header: checked, and room reserved, before its bytes are read."""
        upload, frames = self._started()
        if header.blob_id != self.blob_id:
            raise errors.InvalidRequest(f"one {self._what} stream carries one blob")
        sliver_type, index = frames.header(header)
        await upload.admit(sliver_type, index, header.size)

    async def data(self, chunk: bytes | memoryview) -> None:
        """A data part; the sliver is verified once its last byte is in."""
        upload, frames = self._started()
        sliver = frames.fill(chunk)
        if sliver is not None:
            await upload.add(sliver.sliver_type, sliver.index, sliver.buffer)

    async def wholes(self, slivers: Sequence[pb.WholeSliver]) -> None:
        """Slivers that came whole in one message (a small blob's start part): all their
        headers checked and room reserved for them, then each one's bytes (exactly the
        declared size) copied into its buffer, then all verified together (one native
        call per sliver type). Their bytes are in memory already, bounded by gRPC's
        message size limit; a bad one fails the stream before any of them is held."""
        upload, frames = self._started()
        headers = []
        for sliver in slivers:
            if sliver.header.blob_id != self.blob_id:
                raise errors.InvalidRequest(f"one {self._what} stream carries one blob")
            headers.append(frames.whole(sliver.header))
        if not headers:
            return
        await upload.admit_many(headers)
        buffers = []
        for sliver, (sliver_type, index, size) in zip(slivers, headers, strict=True):
            data = sliver.data  # read once: each read of a bytes field copies it
            if len(data) != size:
                raise errors.InvalidRequest(
                    f"{self._what}: a whole sliver of {len(data)} bytes declares {size}"
                )
            buffer = SliverBuffer(size)
            buffer.append(data)
            buffers.append((sliver_type, index, buffer))
        await upload.add_many(buffers)

    async def finish(self) -> tuple[pb.StoreBlobResponse, Confirmation]:
        """Every sliver is in: wait until all are durable, then sign the confirmation."""
        upload, frames = self._started()
        assert self.registration is not None
        frames.end()
        new, held, expected = await upload.finish()
        confirmation = await self._node.registrations.confirm(
            self.blob_id, self.registration, held=held
        )
        response = pb.StoreBlobResponse(
            stored=new,
            held=held,
            expected=expected,
            confirmation=convert.confirmation_to_pb(confirmation),
        )
        return response, confirmation

    async def close(self) -> None:
        """Give back what the upload holds (after its writes under way)."""
        if self._upload is not None:
            await self._upload.close()
