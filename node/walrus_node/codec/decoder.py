"""Decoding a blob from primary slivers (``n - 2f`` of them) or secondary (``n - f``).

Who calls it: the client (read) and tests. Pure.

Slivers are verified against the metadata first unless the caller has already done so
(the client verifies each sliver as it arrives, to skip bad ones, and passes
``verified=True``); indices and sizes are checked either way. After decoding, the
*consistency check* recomputes the commitment of every source row that was not received
verified and checks the zero padding; a mismatch means the writer encoded the blob
inconsistently, and no bytes are returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from walrus_node.codec import errors, rs, slivers
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType

__all__ = ["decode_primary", "decode_secondary"]

from walrus_node.codec._types import Buffer, U8Array


def _choose(
    metadata: BlobMetadata, sliver_type: SliverType, given: Mapping[int, Buffer], verified: bool
) -> dict[int, U8Array]:
    """Verify (unless done) and pick the threshold number of slivers, systematic first."""
    params = metadata.params
    for index in given:
        if not 0 <= index < params.n_shards:
            raise errors.InvalidSliverError(
                str(sliver_type), index, f"index out of range 0..{params.n_shards - 1}"
            )
    need = params.needed_to_decode(sliver_type)
    if len(given) < need:
        raise errors.NotEnoughDataError(f"{sliver_type} slivers", need, len(given))
    systematic = params.symbols_in(sliver_type.orthogonal)
    order = sorted(given, key=lambda i: (i >= systematic, i))
    picked = order[:need]
    for index in picked:
        slivers.check_shape(metadata, sliver_type, index, given[index])
    if not verified:
        roots = slivers.sliver_roots(
            params, sliver_type, [given[i] for i in picked], metadata.symbol_size
        )
        for index, root in zip(picked, roots, strict=True):
            if root != metadata.sliver_hash(sliver_type, index):
                raise errors.InvalidSliverError(
                    str(sliver_type), index, "Merkle root does not match the metadata"
                )
    return {index: np.frombuffer(given[index], dtype=np.uint8) for index in picked}


def _check_rows(metadata: BlobMetadata, rows: Mapping[int, U8Array]) -> None:
    """The consistency check: decoded source rows must match their primary commitments."""
    params, s = metadata.params, metadata.symbol_size
    roots = slivers.sliver_roots(params, SliverType.PRIMARY, list(rows.values()), s)
    for r, root in zip(rows, roots, strict=True):
        if root != metadata.sliver_hash(SliverType.PRIMARY, r):
            raise errors.InconsistentEncodingError(
                f"decoded primary sliver {r} does not match its commitment"
            )


def _join(rows: Sequence[U8Array], length: int) -> bytes:
    """The first ``length`` bytes of the source rows in order; the rest must be zero."""
    parts: list[memoryview] = []
    remaining = length
    for row in rows:
        take = min(remaining, len(row))
        if row[take:].any():
            raise errors.InconsistentEncodingError("padding after the blob's length is not zero")
        if take:
            parts.append(row[:take].data)
            remaining -= take
    return b"".join(parts)


def decode_primary(
    metadata: BlobMetadata, primary: Mapping[int, Buffer], *, verified: bool = False
) -> bytes:
    """The blob, from at least ``n - 2f`` distinct primary slivers (index -> bytes)."""
    params, s = metadata.params, metadata.symbol_size
    rows, cols = params.rows, params.columns
    chosen = _choose(metadata, SliverType.PRIMARY, primary, verified)

    missing = [r for r in range(rows) if r not in chosen]
    if not missing:
        return _join([chosen[r] for r in range(rows)], metadata.unencoded_length)
    # Column c of the source is shard c of every primary sliver: one group per column.
    matrix = np.empty((rows, cols * s), dtype=np.uint8)
    for r, data in chosen.items():
        if r < rows:
            matrix[r] = data
    have = list(chosen)
    rs.code(rows, params.n_shards).reconstruct(
        s,
        have,
        [chosen[i] for i in have],
        missing,
        matrix,
        groups=cols,
        out_group_stride=s,
        out_index_stride=cols * s,
    )
    _check_rows(metadata, {r: matrix[r] for r in missing})
    return _join(list(matrix), metadata.unencoded_length)


def decode_secondary(
    metadata: BlobMetadata, secondary: Mapping[int, Buffer], *, verified: bool = False
) -> bytes:
    """The blob, from at least ``n - f`` distinct secondary slivers (index -> bytes)."""
    params, s = metadata.params, metadata.symbol_size
    n, rows, cols = params.n_shards, params.rows, params.columns
    chosen = _choose(metadata, SliverType.SECONDARY, secondary, verified)

    matrix = np.empty((rows, cols * s), dtype=np.uint8)
    symbols = matrix.reshape(rows, cols, s)
    for j, data in chosen.items():
        if j < cols:
            symbols[:, j, :] = data.reshape(rows, s)
    missing = [j for j in range(cols) if j not in chosen]
    if missing:
        # Row r of the source is symbol r of every secondary sliver: one group per row.
        have = list(chosen)
        rs.code(cols, n).reconstruct(
            s,
            have,
            [chosen[j] for j in have],
            missing,
            matrix,
            groups=rows,
            out_group_stride=cols * s,
            out_index_stride=s,
        )
    _check_rows(metadata, dict(enumerate(matrix)))
    return _join(list(matrix), metadata.unencoded_length)
