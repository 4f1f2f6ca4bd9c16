"""Single slivers: expansion to ``n`` symbols, commitments, and verification.

Who calls it: the encoder (to commit), the decoder and node (to verify what they receive),
and recovery (to produce symbols).

A primary sliver (``columns`` symbols, a row of the expanded matrix) is *expanded* with the
row code to all ``n`` symbols of that row; a secondary sliver (``rows`` symbols) with the
column code to all ``n`` symbols of its column. A sliver's commitment is the Merkle root
over the leaf hashes of its ``n`` expanded symbols, so verifying a sliver costs one
1-D encode and ``n`` hashes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from walrus_node.codec import errors, merkle, rs
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType

__all__ = [
    "Sliver",
    "code_for",
    "expand",
    "leaf_hashes",
    "sliver_root",
    "verify_sliver",
]

from walrus_node.codec._types import Buffer, U8Array


@dataclasses.dataclass(frozen=True)
class Sliver:
    sliver_type: SliverType
    index: int
    data: bytes


def code_for(params: EncodingParams, sliver_type: SliverType) -> rs.Code:
    """The 1-D code that expands a sliver of this type (rows for primary, columns else)."""
    return rs.code(params.symbols_in(sliver_type), params.n_shards)


def expand(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> U8Array:
    """All ``n`` symbols of a sliver's row (primary) or column (secondary), as (n, s)."""
    k = params.symbols_in(sliver_type)
    out = np.empty((params.n_shards, symbol_size), dtype=np.uint8)
    src = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    out[:k] = src.reshape(k, symbol_size)
    code_for(params, sliver_type).extend(
        rs.row_addresses(out[:k]), rs.row_addresses(out[k:]), symbol_size
    )
    return out


def leaf_hashes(symbols: U8Array) -> list[bytes]:
    """Leaf hash of every row of an (m, s) symbol array."""
    flat = np.ascontiguousarray(symbols).reshape(-1).data
    s = symbols.shape[1]
    return [merkle.leaf(flat[o : o + s]) for o in range(0, len(flat), s)]


def sliver_root(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> bytes:
    return merkle.root(leaf_hashes(expand(params, sliver_type, data, symbol_size)))


def verify_sliver(
    metadata: BlobMetadata, sliver_type: SliverType, index: int, data: Buffer | U8Array
) -> None:
    """Raise :class:`errors.InvalidSliverError` unless ``data`` is the committed sliver."""
    params = metadata.params
    if not 0 <= index < params.n_shards:
        raise errors.InvalidSliverError(
            str(sliver_type), index, f"index out of range 0..{params.n_shards - 1}"
        )
    s = metadata.symbol_size
    expected = params.symbols_in(sliver_type) * s
    if len(data) != expected:
        raise errors.InvalidSliverError(
            str(sliver_type), index, f"size {len(data)} bytes, expected {expected}"
        )
    if sliver_root(params, sliver_type, data, s) != metadata.sliver_hash(sliver_type, index):
        raise errors.InvalidSliverError(
            str(sliver_type), index, "Merkle root does not match the metadata"
        )
