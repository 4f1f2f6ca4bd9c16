"""Stream framing: slivers and recovery symbols cut into messages, and put back together
under one set of limits.

Who calls it: the servicer (``StoreSlivers`` and ``StoreBlob`` in, ``GetSliver``/``SyncShard``
out) and :class:`.client.NodeClient` (``StoreSlivers`` and ``StoreBlob`` out; ``GetSliver``,
``SyncShard`` and ``GetRecoverySymbols`` in). A sliver travels as a header (blob ID, type,
index, declared size) followed by its bytes in chunks of at most :data:`CHUNK_SIZE`; a
recovery symbol as chunks whose first carries the proof and whose last is marked.

Every byte that arrives here came from the network and is hostile until verified, so
:class:`SliverFrames` and :class:`SymbolFrames` refuse, as early as the bytes allow:
data before a header, a header before the previous sliver is complete, a declared size
above ``max_sliver_bytes``, more bytes than declared, a sliver index seen before in the
same stream, more than ``max_items`` items, and more than ``max_stream_bytes`` in total.
They hand back each sliver as soon as its last byte arrives (``StoreSlivers`` verifies
it then, before it reads the next one; a shard batch is verified once whole, within its
limits). Violations raise :class:`walrus_node.protocol.errors`
errors (``InvalidRequest`` for malformed streams, ``ResourceExhausted`` for limits); the
client turns them into :class:`.client.RpcError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol import errors
from walrus_node.protocol.sliver_buffer import SliverBuffer
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = [
    "CHUNK_SIZE",
    "BufferedSliver",
    "Sliver",
    "SliverData",
    "SliverFrames",
    "StreamLimits",
    "SymbolFrames",
    "chunk_pieces",
    "sliver_header",
    "sliver_parts",
    "sliver_pieces",
    "symbol_parts",
]

CHUNK_SIZE = 1 << 20
"""Bytes of payload per streamed message."""

SliverData = bytes | bytearray | memoryview | tuple[memoryview, ...]
"""A sliver to send: one buffer, or its bytes as consecutive pieces (a secondary sliver's
symbols where they lie in an encoded blob's matrix: sent without first gathering them
into a copy of the whole sliver)."""


@dataclasses.dataclass(frozen=True)
class StreamLimits:
    """What one stream may carry. Each field is a node setting (docs/node-runtime.md)."""

    max_sliver_bytes: int
    """One sliver or symbol."""
    max_stream_bytes: int
    """All payload bytes of the stream together."""
    max_items: int
    """Slivers, symbols or records in the stream."""


@dataclasses.dataclass(frozen=True)
class Sliver:
    blob_id: bytes
    sliver_type: SliverType
    index: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class BufferedSliver:
    """A received sliver in the layout the store keeps (:meth:`SliverFrames.fill`)."""

    sliver_type: SliverType
    index: int
    buffer: SliverBuffer


def sliver_header(blob_id: bytes, sliver_type: SliverType, index: int, size: int) -> pb.SliverPart:
    """The message that opens a sliver in a sliver stream."""
    return pb.SliverPart(
        header=pb.SliverHeader(
            blob_id=blob_id, type=convert.sliver_type_to_pb(sliver_type), index=index, size=size
        )
    )


def whole_slivers(
    blob_id: bytes, sliver_type: SliverType, slivers: Sequence[tuple[int, bytes]]
) -> pb.SliverPart:
    """Slivers, each with its header, in one message (``GetSlivers``, packed)."""
    t = convert.sliver_type_to_pb(sliver_type)
    return pb.SliverPart(
        slivers=pb.WholeSlivers(
            slivers=[
                pb.WholeSliver(
                    header=pb.SliverHeader(blob_id=blob_id, type=t, index=i, size=len(data)),
                    data=data,
                )
                for i, data in slivers
            ]
        )
    )


def sliver_parts(
    blob_id: bytes, slivers: Iterable[tuple[SliverType, int, SliverData]]
) -> Iterator[pb.SliverPart]:
    """A sliver stream: per sliver a header, then its bytes in chunks (each chunk one copy,
    made as the stream is read)."""
    for sliver_type, index, data in slivers:
        pieces = sliver_pieces(data)
        yield sliver_header(blob_id, sliver_type, index, sum(piece.nbytes for piece in pieces))
        for chunk in chunk_pieces(pieces):
            yield pb.SliverPart(data=b"".join(chunk))


def sliver_pieces(data: SliverData) -> tuple[memoryview, ...]:
    """A sliver's bytes as consecutive byte views, whichever form it was given in."""
    if isinstance(data, tuple):
        return tuple(piece.cast("B") for piece in data)
    return (memoryview(data).cast("B"),)


def chunk_pieces(pieces: Sequence[memoryview]) -> Iterator[list[memoryview]]:
    """The pieces' bytes, one after the other, cut into chunks of :data:`CHUNK_SIZE` (the
    last may be shorter) whatever the pieces' own sizes; each chunk is a list of views,
    copied by nobody here."""
    batch: list[memoryview] = []
    size = 0
    for piece in pieces:
        offset = 0
        while offset < piece.nbytes:
            take = min(CHUNK_SIZE - size, piece.nbytes - offset)
            batch.append(piece[offset : offset + take])
            size += take
            offset += take
            if size == CHUNK_SIZE:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def symbol_parts(symbols: Sequence[RecoverySymbol]) -> Iterator[pb.RecoverySymbolPart]:
    """A symbol stream: per symbol its chunks, the proof on the first, the last marked."""
    for symbol in symbols:
        data = symbol.data
        offsets = list(range(0, len(data), CHUNK_SIZE)) or [0]
        for i, offset in enumerate(offsets):
            yield pb.RecoverySymbolPart(
                source_type=convert.sliver_type_to_pb(symbol.source_type),
                source_index=symbol.source_index,
                target_index=symbol.target_index,
                proof=list(symbol.proof) if i == 0 else [],
                data=data[offset : offset + CHUNK_SIZE],
                last=i == len(offsets) - 1,
            )


def symbol_part_groups(
    symbols: Sequence[RecoverySymbol], group_bytes: int = CHUNK_SIZE
) -> Iterator[pb.RecoverySymbolParts]:
    """The parts of :func:`symbol_parts`, several to a message, each message holding up
    to ``group_bytes`` of data and proofs (a part bigger than that alone): one message
    per symbol costs more than a small symbol itself."""
    group = pb.RecoverySymbolParts()
    size = 0
    for part in symbol_parts(symbols):
        cost = len(part.data) + sum(len(node) for node in part.proof) + 16
        if group.parts and size + cost > group_bytes:
            yield group
            group, size = pb.RecoverySymbolParts(), 0
        group.parts.append(part)
        size += cost
    if group.parts:
        yield group


class SliverFrames:
    """Reassembles header/data frames into slivers, refusing what breaks the limits.

    Two ways, one per stream: :meth:`data` hands back each sliver as one ``bytes`` (what
    a caller reads), :meth:`fill` as a :class:`SliverBuffer` it copies each chunk into
    as the chunk arrives (what a node stores: the store's checksum goes in front without
    another copy of the sliver). The buffer is made at the sliver's first chunk, after
    its header was admitted (and room reserved for it in the node's memory budget).
    """

    def __init__(self, limits: StreamLimits, what: str) -> None:
        self.limits = limits
        self._what = what
        self._seen: set[tuple[bytes, SliverType, int]] = set()
        self._header: tuple[bytes, SliverType, int, int] | None = None
        self._chunks: list[bytes | memoryview] = []
        self._buffer: SliverBuffer | None = None
        self._received = 0
        self.total = 0
        """Payload bytes accepted so far."""

    @property
    def pending(self) -> bool:
        """A header whose bytes have not all arrived."""
        return self._header is not None

    def header(self, h: pb.SliverHeader) -> tuple[SliverType, int]:
        """Take a sliver's header; returns its type and index."""
        blob_id, sliver_type, index, size = (
            h.blob_id,
            convert.sliver_type_from_pb(h.type),
            h.index,
            h.size,
        )
        if self._header is not None:
            _, t, i, declared = self._header
            raise errors.InvalidRequest(
                f"{self._what}: {t} sliver {i} ended after {self._received} of {declared} bytes"
            )
        key = (blob_id, sliver_type, index)
        if key in self._seen:
            raise errors.InvalidRequest(
                f"{self._what}: {sliver_type} sliver {index} sent twice in one stream"
            )
        if len(self._seen) >= self.limits.max_items:
            raise errors.ResourceExhausted(
                f"{self._what}: more than {self.limits.max_items} slivers in one stream"
            )
        if size <= 0:
            raise errors.InvalidRequest(f"{self._what}: {sliver_type} sliver {index} is empty")
        if size > self.limits.max_sliver_bytes:
            raise errors.ResourceExhausted(
                f"{self._what}: {sliver_type} sliver {index} declares {size} bytes, "
                f"above the limit of {self.limits.max_sliver_bytes}"
            )
        if self.total + size > self.limits.max_stream_bytes:
            raise errors.ResourceExhausted(
                f"{self._what}: the stream would exceed {self.limits.max_stream_bytes} bytes"
            )
        self._seen.add(key)
        self._header = (blob_id, sliver_type, index, size)
        self._chunks, self._buffer, self._received = [], None, 0
        return sliver_type, index

    def whole(self, h: pb.SliverHeader) -> tuple[SliverType, int, int]:
        """Take the header of a sliver whose bytes came with it, in the same message: the
        header's checks, its declared size counted as received; returns its type, index
        and size. The caller checks that the bytes are exactly that size."""
        sliver_type, index = self.header(h)
        self._header = None
        self.total += h.size
        return sliver_type, index, h.size

    def _take(self, chunk: bytes | memoryview) -> tuple[bytes, SliverType, int, int]:
        """Account for a chunk within the declared size; the open sliver's header."""
        if self._header is None:
            raise errors.InvalidRequest(f"{self._what}: sliver data before its header")
        header = self._header
        _, sliver_type, index, size = header
        if self._received + len(chunk) > size:
            raise errors.InvalidRequest(
                f"{self._what}: {sliver_type} sliver {index}: more than the declared {size} bytes"
            )
        self._received += len(chunk)
        self.total += len(chunk)
        if self._received == size:
            self._header = None
        return header

    def data(self, chunk: bytes | memoryview) -> Sliver | None:
        """Take a chunk; returns the sliver once its last byte is in. A chunk may be a
        view of a received message (:mod:`.data_parts`): it is copied once, into the
        sliver, when the sliver is complete."""
        blob_id, sliver_type, index, _ = self._take(chunk)
        self._chunks.append(chunk)
        if self._header is not None:
            return None
        data = b"".join(self._chunks)  # joined once per sliver: no growing buffer to re-copy
        self._chunks, self._received = [], 0
        return Sliver(blob_id, sliver_type, index, data)

    def fill(self, chunk: bytes | memoryview) -> BufferedSliver | None:
        """Take a chunk, copied now into the sliver's :class:`SliverBuffer`; returns the
        sliver once its last byte is in."""
        _, sliver_type, index, size = self._take(chunk)
        if self._buffer is None:
            self._buffer = SliverBuffer(size)
        self._buffer.append(chunk)
        if self._header is not None:
            return None
        buffer, self._buffer, self._received = self._buffer, None, 0
        return BufferedSliver(sliver_type, index, buffer)

    def end(self) -> None:
        """The stream ended: a sliver still missing bytes is an error."""
        if self._header is not None:
            _, sliver_type, index, size = self._header
            raise errors.InvalidRequest(
                f"{self._what}: {sliver_type} sliver {index}: stream ended after "
                f"{self._received} of {size} bytes"
            )


class SymbolFrames:
    """Reassembles recovery-symbol chunks, refusing what breaks the limits."""

    def __init__(self, limits: StreamLimits, what: str) -> None:
        self.limits = limits
        self._what = what
        self._first: tuple[SliverType, int, int, tuple[bytes, ...]] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self.total = 0
        self.count = 0

    def add(self, part: pb.RecoverySymbolPart) -> RecoverySymbol | None:
        """Take a chunk; returns the symbol once its last chunk is in."""
        data = part.data
        if self._first is None:
            if self.count >= self.limits.max_items:
                raise errors.ResourceExhausted(
                    f"{self._what}: more than {self.limits.max_items} symbols in one stream"
                )
            self._first = (
                convert.sliver_type_from_pb(part.source_type),
                part.source_index,
                part.target_index,
                tuple(part.proof),
            )
        self._size += len(data)
        self.total += len(data)
        if self._size > self.limits.max_sliver_bytes:
            raise errors.ResourceExhausted(
                f"{self._what}: a symbol above {self.limits.max_sliver_bytes} bytes"
            )
        if self.total > self.limits.max_stream_bytes:
            raise errors.ResourceExhausted(
                f"{self._what}: the stream exceeds {self.limits.max_stream_bytes} bytes"
            )
        self._chunks.append(data)
        if not part.last:
            return None
        first, data_all = self._first, b"".join(self._chunks)
        self._first, self._chunks, self._size = None, [], 0
        self.count += 1
        return RecoverySymbol(first[0], first[1], first[2], data_all, first[3])

    def end(self) -> None:
        if self._first is not None:
            raise errors.InvalidRequest(f"{self._what}: the stream ended inside a symbol")
