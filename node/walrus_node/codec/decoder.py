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
    chosen: dict[int, U8Array] = {}
    for index in order[:need]:
        data = given[index]
        if verified:
            slivers.check_shape(metadata, sliver_type, index, data)
        else:
            slivers.verify_sliver(metadata, sliver_type, index, data)
        chosen[index] = np.frombuffer(data, dtype=np.uint8)
    return chosen


def _check_rows(metadata: BlobMetadata, rows: Mapping[int, U8Array]) -> None:
    """The consistency check: decoded source rows must match their primary commitments."""
    params, s = metadata.params, metadata.symbol_size
    for r, row in rows.items():
        root = slivers.sliver_root(params, SliverType.PRIMARY, row, s)
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
    rebuilt: dict[int, U8Array] = {}
    if missing:
        out = np.empty((len(missing), cols * s), dtype=np.uint8)
        have = list(chosen)
        rs.code(rows, params.n_shards).reconstruct(
            rs.buffer_addresses([chosen[i] for i in have]),
            have,
            missing,
            rs.row_addresses(out),
            cols * s,
        )
        rebuilt = dict(zip(missing, out, strict=True))
        _check_rows(metadata, rebuilt)
    source_rows = [chosen[r] if r in chosen else rebuilt[r] for r in range(rows)]
    return _join(source_rows, metadata.unencoded_length)


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
        have = list(chosen)
        row_code = rs.code(cols, n)
        src = rs.buffer_addresses([chosen[j] for j in have])
        dst = np.array(missing, dtype=np.uintp) * s
        for r, row_address in enumerate(rs.row_addresses(matrix)):
            row_code.reconstruct(src + r * s, have, missing, dst + row_address, s)
    _check_rows(metadata, dict(enumerate(matrix)))
    return _join(list(matrix), metadata.unencoded_length)
