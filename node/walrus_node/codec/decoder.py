"""Decoding a blob from primary slivers (``n - 2f`` of them) or secondary (``n - f``).

Who calls it: the client (read) and tests. Pure.

Slivers are verified against the metadata first unless the caller has already done so
(the client verifies each sliver as it arrives, to skip bad ones, and passes
``verified=True``). After decoding, the *consistency check* recomputes the commitment
of every source row that was not received verified and checks the zero padding; a
mismatch means the writer encoded the blob inconsistently, and no bytes are returned.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    need = params.needed_to_decode(sliver_type)
    if len(given) < need:
        raise errors.NotEnoughDataError(f"{sliver_type} slivers", need, len(given))
    systematic = params.symbols_in(sliver_type.orthogonal)
    order = sorted(given, key=lambda i: (i >= systematic, i))
    chosen: dict[int, U8Array] = {}
    for index in order[:need]:
        data = given[index]
        if not verified:
            slivers.verify_sliver(metadata, sliver_type, index, data)
        chosen[index] = np.frombuffer(data, dtype=np.uint8)
    return chosen


def _check_padding(matrix: U8Array, length: int) -> None:
    flat = matrix.reshape(-1)
    if flat[length:].any():
        raise errors.InconsistentEncodingError("padding after the blob's length is not zero")


def _check_rows(metadata: BlobMetadata, matrix: U8Array, rows: list[int]) -> None:
    params, s = metadata.params, metadata.symbol_size
    for r in rows:
        root = slivers.sliver_root(params, SliverType.PRIMARY, matrix[r], s)
        if root != metadata.sliver_hash(SliverType.PRIMARY, r):
            raise errors.InconsistentEncodingError(
                f"decoded primary sliver {r} does not match its commitment"
            )


def decode_primary(
    metadata: BlobMetadata, primary: Mapping[int, Buffer], *, verified: bool = False
) -> bytes:
    """The blob, from at least ``n - 2f`` distinct primary slivers (index -> bytes)."""
    params, s = metadata.params, metadata.symbol_size
    rows, cols = params.rows, params.columns
    chosen = _choose(metadata, SliverType.PRIMARY, primary, verified)

    matrix = np.empty((rows, cols * s), dtype=np.uint8)
    missing = [r for r in range(rows) if r not in chosen]
    for r in range(rows):
        if r in chosen:
            matrix[r] = chosen[r]
    if missing:
        have = list(chosen)
        rs.code(rows, params.n_shards).reconstruct(
            rs.buffer_addresses([chosen[i] for i in have]),
            have,
            missing,
            rs.row_addresses(matrix)[missing],
            cols * s,
        )
        _check_rows(metadata, matrix, missing)
    _check_padding(matrix, metadata.unencoded_length)
    return matrix.reshape(-1)[: metadata.unencoded_length].tobytes()


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
    _check_rows(metadata, matrix, list(range(rows)))
    _check_padding(matrix, metadata.unencoded_length)
    return matrix.reshape(-1)[: metadata.unencoded_length].tobytes()
