"""Single slivers: expansion to ``n`` symbols, commitments, and verification.

Who calls it: the encoder (to commit), the decoder and node (to verify what they receive),
and recovery (to produce symbols).

A primary sliver (``columns`` symbols, a row of the expanded matrix) is *expanded* with the
row code to all ``n`` symbols of that row; a secondary sliver (``rows`` symbols) with the
column code to all ``n`` symbols of its column. A sliver's commitment is the Merkle root
over the leaf hashes of its ``n`` expanded symbols, so verifying a sliver costs one
1-D encode and ``n`` hashes: one native call (:func:`sliver_roots` checks many slivers in
one call, spread over the codec's threads).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import walrus_native

from walrus_node.codec import errors, merkle, rs
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType

__all__ = [
    "Sliver",
    "check_shape",
    "code_for",
    "expand",
    "leaf_hashes",
    "parity_symbols",
    "sliver_leaves",
    "sliver_root",
    "sliver_roots",
    "source_symbols",
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


def source_symbols(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> U8Array:
    """A sliver's bytes as a ``(k, s)`` array of its symbols (a view when already contiguous)."""
    src = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    return np.ascontiguousarray(src).reshape(params.symbols_in(sliver_type), symbol_size)


def parity_symbols(params: EncodingParams, sliver_type: SliverType, source: U8Array) -> U8Array:
    """The ``n - k`` symbols that extend a sliver's ``(k, s)`` symbols to its full row/column."""
    return _expanded(params, sliver_type, source)[source.shape[0] :]


def _expanded(params: EncodingParams, sliver_type: SliverType, source: U8Array) -> U8Array:
    k, symbol_size = source.shape
    out = np.empty((params.n_shards, symbol_size), dtype=np.uint8)
    out[:k] = source
    code_for(params, sliver_type).extend(out, symbol_size)
    return out


def expand(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> U8Array:
    """All ``n`` symbols of a sliver's row (primary) or column (secondary), as (n, s)."""
    return _expanded(params, sliver_type, source_symbols(params, sliver_type, data, symbol_size))


def leaf_hashes(symbols: U8Array) -> list[bytes]:
    """Leaf hash of every row of an (m, s) symbol array."""
    flat = np.ascontiguousarray(symbols)
    return merkle.split(merkle.leaf_hashes(flat, symbols.shape[1], symbols.shape[0]))


def _contiguous(data: Buffer | U8Array) -> Buffer | U8Array:
    return np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data


def sliver_roots(
    params: EncodingParams,
    sliver_type: SliverType,
    datas: list[Buffer | U8Array],
    symbol_size: int,
) -> list[bytes]:
    """:func:`sliver_root` of many slivers of one type, in one native call."""
    k = params.symbols_in(sliver_type)
    return walrus_native.sliver_roots(
        [_contiguous(d) for d in datas], k, params.n_shards, symbol_size
    )


def sliver_leaves(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> bytes:
    """Leaf hashes of a sliver's ``n`` expanded symbols, concatenated, in one native
    call: the sliver is hashed where it lies and only its parity symbols are computed
    (no copy of it); :func:`sliver_root` is their Merkle root."""
    k = params.symbols_in(sliver_type)
    return walrus_native.sliver_leaves(_contiguous(data), k, params.n_shards, symbol_size)


def sliver_leaves_many(
    params: EncodingParams,
    sliver_type: SliverType,
    datas: Sequence[Buffer | U8Array],
    symbol_size: int,
) -> list[bytes]:
    """:func:`sliver_leaves` of many slivers of one type, in one native call."""
    k = params.symbols_in(sliver_type)
    return walrus_native.sliver_leaves_many(
        [_contiguous(d) for d in datas], k, params.n_shards, symbol_size
    )


def sliver_root(
    params: EncodingParams, sliver_type: SliverType, data: Buffer | U8Array, symbol_size: int
) -> bytes:
    """The commitment to a sliver: Merkle root over its ``n`` expanded symbols."""
    return sliver_roots(params, sliver_type, [data], symbol_size)[0]


def check_shape(
    metadata: BlobMetadata, sliver_type: SliverType, index: int, data: Buffer | U8Array
) -> None:
    """Raise :class:`errors.InvalidSliverError` unless index and size fit the metadata."""
    params = metadata.params
    if not 0 <= index < params.n_shards:
        raise errors.InvalidSliverError(
            str(sliver_type), index, f"index out of range 0..{params.n_shards - 1}"
        )
    expected = params.sliver_size(sliver_type, metadata.unencoded_length)
    size = data.nbytes if isinstance(data, np.ndarray | memoryview) else len(data)
    if size != expected:
        raise errors.InvalidSliverError(
            str(sliver_type), index, f"size {size} bytes, expected {expected}"
        )


def verify_sliver(
    metadata: BlobMetadata, sliver_type: SliverType, index: int, data: Buffer | U8Array
) -> None:
    """Raise :class:`errors.InvalidSliverError` unless ``data`` is the committed sliver."""
    verify_slivers(metadata, sliver_type, [(index, data)])


def verify_slivers(
    metadata: BlobMetadata,
    sliver_type: SliverType,
    items: Sequence[tuple[int, Buffer | U8Array]],
) -> None:
    """:func:`verify_sliver` of each ``(index, data)`` of one type, their roots computed in
    one native call; raises for the first, in order, that is not the committed sliver."""
    for index, data in items:
        check_shape(metadata, sliver_type, index, data)
    roots = sliver_roots(
        metadata.params, sliver_type, [data for _, data in items], metadata.symbol_size
    )
    for (index, _), root in zip(items, roots, strict=True):
        if root != metadata.sliver_hash(sliver_type, index):
            raise errors.InvalidSliverError(
                str(sliver_type), index, "Merkle root does not match the metadata"
            )
