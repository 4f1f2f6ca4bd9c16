"""Sliver-data messages of a ``StoreBlob`` stream, encoded and decoded by hand.

Who calls it: :class:`.client.NodeClient` (``StoreBlob`` and ``StoreAndCertify`` out:
:func:`encode` and :func:`serialize`) and :mod:`.server` (``StoreBlob`` in: :func:`parse`,
``StoreAndCertify`` in: :func:`parse_store_and_certify`, the streams' request
deserializers; both messages carry sliver data as field 3).

Why: a 64 MiB store sends each of seven nodes about 34 MB of slivers, and on two cores
every copy of those bytes is CPU the nodes and the client share. Through the generated
classes a chunk was copied four times on its way out (the slice, the message's field,
the field read back, the serialized message) and twice on its way in (the parsed
message, the field read out) before the sliver was put together. A data part is one
protobuf field (``bytes data = 3`` of ``StoreBlobPart``), so it is written here as its
tag, its length and the chunk, in one copy, and read back as a view of the received
message, in none. The bytes on the wire are exactly what the generated code writes and
reads (tests/unit/node/test_data_parts.py holds the two side by side).

Every received message is hostile: :func:`parse` takes the short way only for a message
that is, byte for byte, one ``data`` field whose declared length is exactly the rest of
the message; anything else (a start or header part, a malformed varint, a length that
does not match, trailing or unknown fields) goes to the generated parser, with its
checks, as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from typing_extensions import Buffer

from walrus_node.codec.params import SliverType
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = [
    "DATA_TAG",
    "Chunk",
    "encode",
    "encode_start",
    "parse",
    "parse_store_and_certify",
    "serialize",
]

DATA_TAG = (3 << 3) | 2
"""The key of ``StoreBlobPart.data``: field 3, wire type 2 (length-delimited)."""

_MAX_VARINT_BYTES = 10


@dataclasses.dataclass(frozen=True, slots=True)
class Chunk:
    """A received data part: a view of the message's payload, not a copy."""

    data: memoryview


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def _field_size(size: int) -> int:
    """Bytes of a length-delimited field (one-byte key) whose payload is ``size`` bytes."""
    return 1 + len(_varint(size)) + size


def encode(chunk: Buffer | list[memoryview]) -> bytes:
    """The serialized ``StoreBlobPart(data=chunk)``, in one copy of ``chunk``; a chunk
    given as consecutive byte views is sent as their concatenation, still in one copy."""
    views = chunk if isinstance(chunk, list) else [memoryview(chunk).cast("B")]
    size = sum(view.nbytes for view in views)
    return b"".join((bytes((DATA_TAG,)), _varint(size), *views))


_START_TAG = (1 << 3) | 2
"""``StoreAndCertifyPart.start``, ``StoreAndCertifyStart.blob`` and ``WholeSliver.header``
alike: field 1, length-delimited."""
_SECOND_TAG = (2 << 3) | 2
"""``StoreAndCertifyStart.slivers`` and ``WholeSliver.data``: field 2, length-delimited."""
_UPLOADED = bytes(((3 << 3) | 0, 1))
"""``StoreAndCertifyStart.uploaded = true``: field 3, varint 1."""
_START = bytes((_START_TAG,))
_SECOND = bytes((_SECOND_TAG,))


_HEADER_TAGS = (bytes(((1 << 3) | 2, 32)), (2 << 3) | 0, (3 << 3) | 0, (4 << 3) | 0)
"""``SliverHeader``'s keys: ``blob_id`` (field 1, with its length, 32), ``type`` (2),
``index`` (3) and ``size`` (4), varints."""
_SLIVER_TYPES = {
    SliverType.PRIMARY: pb.SLIVER_TYPE_PRIMARY,
    SliverType.SECONDARY: pb.SLIVER_TYPE_SECONDARY,
}


def _header(blob_id: bytes, sliver_type: SliverType, index: int, size: int) -> bytes:
    """The serialized ``SliverHeader`` (fields at their default value left out, as the
    generated code leaves them out)."""
    blob_key, type_key, index_key, size_key = _HEADER_TAGS
    out = [blob_key, blob_id, bytes((type_key, _SLIVER_TYPES[sliver_type]))]
    if index:
        out += (bytes((index_key,)), _varint(index))
    if size:
        out += (bytes((size_key,)), _varint(size))
    return b"".join(out)


def encode_start(
    blob: pb.StoreBlobStart,
    slivers: Sequence[tuple[SliverType, int, Sequence[memoryview], int]],
    uploaded: bool,
) -> bytes:
    """The serialized ``StoreAndCertifyPart(start=StoreAndCertifyStart(blob, slivers,
    uploaded))``, each sliver given as its type, index, the views of its (non-empty) bytes
    and their size, its header the blob's ID; the bytes are copied once, here, as
    :func:`encode` copies a chunk. Through the generated classes each sliver was copied
    four times (its joined bytes, the ``WholeSliver``, the message appended to the start,
    the serialized message), and at 1000 shards making and serializing the header
    messages cost more than the copies."""
    if len(blob.blob_id) != 32:
        raise ValueError("a blob ID is 32 bytes")
    start = blob.SerializeToString()
    inner: list[Buffer] = [_START, _varint(len(start)), start]
    total = _field_size(len(start))
    for sliver_type, index, views, size in slivers:
        header = _header(blob.blob_id, sliver_type, index, size)
        whole = _field_size(len(header)) + _field_size(size)
        total += _field_size(whole)
        inner += (
            _SECOND,
            _varint(whole),
            _START,
            _varint(len(header)),
            header,
            _SECOND,
            _varint(size),
            *views,
        )
    if uploaded:
        inner.append(_UPLOADED)
        total += len(_UPLOADED)
    return b"".join((_START, _varint(total), *inner))


def serialize(part: pb.StoreBlobPart | pb.StoreAndCertifyPart | bytes) -> bytes:
    """The ``StoreBlob`` and ``StoreAndCertify`` request serializer: a message is
    serialized, bytes (from :func:`encode`) are sent as they are."""
    if isinstance(part, bytes):
        return part
    return part.SerializeToString()


def _payload(raw: bytes) -> memoryview | None:
    """The payload of ``raw`` if it is exactly one ``data`` field, else None."""
    if len(raw) < 2 or raw[0] != DATA_TAG:
        return None
    length = 0
    shift = 0
    for i in range(1, min(len(raw), 1 + _MAX_VARINT_BYTES)):
        byte = raw[i]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            start = i + 1
            return memoryview(raw)[start:] if start + length == len(raw) else None
    return None


def parse(raw: bytes) -> pb.StoreBlobPart | Chunk:
    """The ``StoreBlob`` request deserializer: a data part as a :class:`Chunk` viewing
    ``raw``, any other message parsed by the generated code."""
    payload = _payload(raw)
    if payload is not None:
        return Chunk(payload)
    return pb.StoreBlobPart.FromString(raw)


def parse_store_and_certify(raw: bytes) -> pb.StoreAndCertifyPart | Chunk:
    """The ``StoreAndCertify`` request deserializer, as :func:`parse` (its data parts are
    the same field, ``bytes data = 3``)."""
    payload = _payload(raw)
    if payload is not None:
        return Chunk(payload)
    return pb.StoreAndCertifyPart.FromString(raw)
