"""Blob metadata, blob IDs, and their wire format.

Who calls it: the encoder builds metadata; nodes and clients parse and verify it before
using anything else about a blob.

Metadata commits to every sliver: for each sliver pair ``p`` it holds the Merkle root of
primary sliver ``p`` and of secondary sliver ``n - 1 - p`` (each over the ``n`` symbols of
the expanded sliver). The blob root is a Merkle tree over the pairs, with leaf input
``primary_hash || secondary_hash``, and::

    blob_id = H(u8 encoding_type || u64_le unencoded_length || blob_root)

Wire format (little-endian), ``11 + 64 n`` bytes::

    u8 encoding_type | u16 n_shards | u64 unencoded_length | n x (32 B primary, 32 B secondary)

Blob IDs print as URL-safe base64 without padding (43 characters).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import struct

from walrus_node.codec import errors, merkle
from walrus_node.codec import params as params_mod
from walrus_node.codec.params import EncodingParams, EncodingType, SliverType

__all__ = ["BlobId", "BlobMetadata", "verify_metadata"]

_HEADER = struct.Struct("<BHQ")


@dataclasses.dataclass(frozen=True, order=True)
class BlobId:
    """32-byte blob identifier."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise ValueError(f"a blob ID is 32 bytes, got {len(self.raw)}")

    def __str__(self) -> str:
        return base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"BlobId({self})"

    @classmethod
    def parse(cls, text: str) -> BlobId:
        """Parse the 43-character printed form; ValueError names what is wrong."""
        text = text.strip()
        if len(text) != 43:
            raise ValueError(f"a blob ID is 43 base64url characters, got {len(text)}: {text!r}")
        try:
            blob_id = cls(base64.urlsafe_b64decode(text + "="))
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"blob ID {text!r} is not valid base64url") from e
        if str(blob_id) != text:  # stray characters or non-zero trailing bits
            raise ValueError(f"blob ID {text!r} is not in canonical base64url form")
        return blob_id

    @classmethod
    def derive(cls, encoding_type: int, length: int, blob_root: bytes) -> BlobId:
        return cls(merkle.hash_bytes(struct.pack("<BQ", encoding_type, length) + blob_root))


@dataclasses.dataclass(frozen=True)
class BlobMetadata:
    encoding_type: int
    unencoded_length: int
    pair_hashes: tuple[tuple[bytes, bytes], ...]
    """Per sliver pair ``p``: (root of primary sliver p, root of secondary sliver n-1-p)."""

    @property
    def n_shards(self) -> int:
        return len(self.pair_hashes)

    @property
    def params(self) -> EncodingParams:
        return EncodingParams(self.n_shards)

    @property
    def symbol_size(self) -> int:
        return self.params.symbol_size(self.unencoded_length)

    def sliver_hash(self, sliver_type: SliverType, index: int) -> bytes:
        pair = self.params.pair_of(sliver_type, index)
        return self.pair_hashes[pair][0 if sliver_type is SliverType.PRIMARY else 1]

    def blob_root(self) -> bytes:
        pairs = b"".join(p + s for p, s in self.pair_hashes)
        return merkle.root(merkle.split(merkle.leaf_hashes(pairs, 64, self.n_shards)))

    def blob_id(self) -> BlobId:
        return BlobId.derive(self.encoding_type, self.unencoded_length, self.blob_root())

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(self.encoding_type, self.n_shards, self.unencoded_length)
        return head + b"".join(p + s for p, s in self.pair_hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> BlobMetadata:
        """Parse the wire format, checking structure and limits (not the blob ID)."""
        if len(data) < _HEADER.size:
            raise errors.InvalidMetadataError(f"{len(data)} bytes is shorter than the header")
        encoding_type, n, length = _HEADER.unpack_from(data)
        if encoding_type not in EncodingType.__members__.values():
            raise errors.InvalidMetadataError(f"unknown encoding type {encoding_type}")
        if not params_mod.MIN_SHARDS <= n <= params_mod.MAX_SHARDS:
            raise errors.InvalidMetadataError(f"shard count {n} out of range")
        expected = _HEADER.size + 64 * n
        if len(data) != expected:
            raise errors.InvalidMetadataError(
                f"length {len(data)} bytes, expected {expected} for {n} shards"
            )
        if length > EncodingParams(n).max_blob_size():
            raise errors.InvalidMetadataError(f"unencoded length {length} exceeds the maximum")
        body = data[_HEADER.size :]
        pairs = tuple(
            (bytes(body[o : o + 32]), bytes(body[o + 32 : o + 64])) for o in range(0, 64 * n, 64)
        )
        return cls(encoding_type, length, pairs)


def verify_metadata(blob_id: BlobId, data: bytes, n_shards: int | None = None) -> BlobMetadata:
    """Parse metadata received for ``blob_id`` and check it hashes to that ID.

    ``n_shards``, when given, is the network's shard count, which the metadata must match.
    """
    metadata = BlobMetadata.from_bytes(data)
    if n_shards is not None and metadata.n_shards != n_shards:
        raise errors.InvalidMetadataError(
            f"metadata is for {metadata.n_shards} shards, the network has {n_shards}"
        )
    actual = metadata.blob_id()
    if actual != blob_id:
        raise errors.InvalidMetadataError(f"hashes to blob ID {actual}, not {blob_id}")
    return metadata
