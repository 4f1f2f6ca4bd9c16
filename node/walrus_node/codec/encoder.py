"""Encoding a blob: the 2-D expansion, every sliver, and the metadata that commits to them.

Who calls it: the client (store), benchmarks, tests. Pure: bytes in, slivers out; or,
for a file, anything with ``readinto`` in (:func:`encode_from`): the codec never opens a
file, its caller does (client/blob_file.py).

The whole ``n x n`` expanded matrix is built in one array ``E`` of shape ``(n, n*s)``
(row ``i`` holds symbols ``E[i, 0..n-1]``):

1. the blob is copied into the top-left ``rows x columns`` block, zero padded; from a
   reader, each source row is read straight into its place in ``E``
   (:data:`READ_CHUNK` bytes per ``readinto``), so a file is never held whole in memory
   beside the matrix;
2. each source row is extended to ``n`` symbols with the row code (``columns -> n``);
3. each of the ``n`` columns is extended to ``n`` symbols with the column code
   (``rows -> n``); by linearity this also fills the bottom-right block, which no node
   stores but every commitment covers;
4. every symbol is leaf-hashed once; row ``i``'s leaves give primary sliver ``i``'s root
   and column ``j``'s leaves give secondary sliver ``j``'s root.

Steps 2 and 3 are one native call each (all rows, all columns), and step 4 is one native
call for the ``n^2`` leaves and ``2n`` trees, all spread over the codec's threads
(:mod:`.rs`, :mod:`.merkle`). Rows first: ``rows`` encodes of the longer row code and
``n`` of the column code, fewer than ``columns + n`` the other way.

Memory: ``E`` is ``(n/rows)(n/columns)`` times the blob (3.3-4.5x; 3.6x at n=10, 4.5x at
n=1000; a little under :meth:`EncodingParams.encoded_size`, ``n (rows + columns)``
symbols) and is all an encoded blob holds: a secondary sliver is gathered from its column
when asked for (:meth:`EncodedBlob.secondary`), or handed out as views of its symbols
(:meth:`EncodedBlob.secondary_pieces`, what the client's upload sends; small symbols are
gathered, a copy of at most ``rows`` times :data:`PIECES_MIN_SYMBOL_SIZE`), so a store's
peak is the matrix plus the chunks in flight. Beside ``E`` an encode holds the ``n^2`` leaf
hashes (32 bytes each: 32 MB at n = 1000) while committing. :func:`secondary_slivers`
gathers all columns at once (another ``rows/n`` of ``E``) for ``walrus-bench``'s stage
timings only; nothing on the store path calls it. Steps 1-4 and the gather are separate
functions so that ``walrus-bench`` can time them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np
import walrus_native

from walrus_node.codec import errors, merkle, rs
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import EncodingParams, EncodingType, SliverType

__all__ = [
    "PIECES_MIN_SYMBOL_SIZE",
    "READ_CHUNK",
    "EncodedBlob",
    "Reader",
    "commitments",
    "encode",
    "encode_from",
    "expanded_matrix",
    "extend",
    "fill_from",
    "fill_source",
    "secondary_slivers",
    "sliver_roots",
    "symbol_leaves",
]

from walrus_node.codec._types import Buffer, U8Array

READ_CHUNK = 8 << 20
"""Most bytes asked of a reader in one ``readinto`` call (8 MiB): the calls cost nothing
beside the encode, and a progress callback is told every 8 MiB."""


class Reader(Protocol):
    """What :func:`encode_from` reads a blob from: a binary file (``open(path, "rb")``,
    buffered or not), ``io.BytesIO``, a socket's file..."""

    def readinto(self, buffer: memoryview, /) -> int | None:
        """Read up to ``len(buffer)`` bytes into ``buffer``; the count read, 0 at the end
        (``None``, "no data yet" of a non-blocking file, is taken as the end too)."""
        ...


PIECES_MIN_SYMBOL_SIZE = 16 << 10
"""Bytes: from this symbol size on, :meth:`EncodedBlob.secondary_pieces` hands a secondary
sliver out as views of its symbols; below it, as one gathered copy. Each view costs about
a microsecond to make and frame whatever its size, about what copying 8-16 KB costs: at
1000 shards a 1 MiB blob's symbols are 6 bytes, and the ~670 000 views of a store's
secondary slivers took two thirds of the client's CPU (BENCHMARKS.md, "Small symbols
gathered")."""


@dataclasses.dataclass(frozen=True)
class EncodedBlob:
    """A blob's metadata and all ``2n`` slivers."""

    params: EncodingParams
    metadata: BlobMetadata
    blob_id: BlobId
    symbol_size: int
    _expanded: U8Array

    def primary(self, index: int) -> memoryview:
        """Primary sliver ``index``: ``columns`` symbols (a view, no copy)."""
        self.params.check_index(index, "primary sliver index")
        return self._expanded[index, : self.params.columns * self.symbol_size].data

    def secondary(self, index: int) -> memoryview:
        """Secondary sliver ``index``: ``rows`` symbols, gathered from the matrix's column
        (a copy made per call, so that the encoded blob holds no second copy of them)."""
        self.params.check_index(index, "secondary sliver index")
        s = self.symbol_size
        column = self._expanded[: self.params.rows, index * s : (index + 1) * s]
        view: memoryview = np.ascontiguousarray(column).reshape(-1).data
        return view

    def secondary_pieces(self, index: int) -> tuple[memoryview, ...]:
        """Secondary sliver ``index`` as consecutive pieces, for a caller that sends or
        hashes it piece by piece (the client's upload): its ``rows`` symbols where they
        lie in the matrix (views, no copy), or, for symbols smaller than
        :data:`PIECES_MIN_SYMBOL_SIZE`, one gathered copy (:meth:`secondary`)."""
        self.params.check_index(index, "secondary sliver index")
        s = self.symbol_size
        if s < PIECES_MIN_SYMBOL_SIZE:
            return (self.secondary(index),)
        return tuple(
            self._expanded[row, index * s : (index + 1) * s].data for row in range(self.params.rows)
        )

    def sliver(self, sliver_type: SliverType, index: int) -> memoryview:
        return self.primary(index) if sliver_type is SliverType.PRIMARY else self.secondary(index)

    def pair(self, pair_index: int) -> tuple[memoryview, memoryview]:
        """(primary, secondary) slivers of a sliver pair."""
        p = self.params
        return (
            self.primary(p.sliver_in_pair(SliverType.PRIMARY, pair_index)),
            self.secondary(p.sliver_in_pair(SliverType.SECONDARY, pair_index)),
        )


def fill_source(blob: Buffer, params: EncodingParams, expanded: U8Array, s: int) -> None:
    """Copy ``blob`` row-major into the top-left ``rows x columns`` block, zero padded."""
    src = np.frombuffer(blob, dtype=np.uint8)
    row_len = params.columns * s
    full = len(src) // row_len
    expanded[:full, :row_len] = src[: full * row_len].reshape(full, row_len)
    if full < params.rows:
        tail = len(src) - full * row_len
        expanded[full, :tail] = src[full * row_len :]
        expanded[full, tail:row_len] = 0
        expanded[full + 1 : params.rows, :row_len] = 0


def fill_from(
    reader: Reader,
    length: int,
    params: EncodingParams,
    expanded: U8Array,
    s: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Read ``length`` bytes from ``reader`` row by row straight into the top-left
    ``rows x columns`` block, zero padded, as :func:`fill_source` copies them: the same
    matrix, without the blob in memory. ``progress`` is called with each read's size.

    Raises :class:`~.errors.ShortReadError` when the reader ends early. Whether it holds
    more than ``length`` bytes is the caller's to check (it knows whether it may)."""
    row_len = params.columns * s
    got = 0
    for row in range(params.rows):
        line = expanded[row, :row_len]
        take = max(0, min(row_len, length - got))
        view = line.data
        done = 0
        while done < take:
            asked = min(take - done, READ_CHUNK)
            count = reader.readinto(view[done : done + asked])
            if not count:
                raise errors.ShortReadError(length, got + done)
            if not 0 < count <= asked:
                raise ValueError(f"readinto returned {count} for a buffer of {asked} bytes")
            done += count
            if progress is not None:
                progress(count)
        got += take
        line[take:] = 0


def extend(expanded: U8Array, params: EncodingParams, s: int) -> None:
    """Steps 2 and 3: every source row to ``n`` symbols, then every column to ``n``."""
    n, rows, cols = params.n_shards, params.rows, params.columns
    rs.code(cols, n).extend(expanded, s, groups=rows, group_stride=n * s)
    rs.code(rows, n).extend(expanded, s, groups=n, group_stride=s, shard_stride=n * s)


def expanded_matrix(blob: Buffer, params: EncodingParams) -> tuple[U8Array, int]:
    """The ``(n, n*s)`` expanded matrix of a blob, and its symbol size ``s``."""
    n = params.n_shards
    s = params.symbol_size(len(blob))
    expanded = np.empty((n, n * s), dtype=np.uint8)
    fill_source(blob, params, expanded, s)
    extend(expanded, params, s)
    return expanded, s


def symbol_leaves(expanded: U8Array, s: int) -> bytes:
    """Leaf hash of every symbol of the expanded matrix, row-major (``n * n`` nodes)."""
    return merkle.leaf_hashes(expanded, s, expanded.size // s)


def sliver_roots(leaves: bytes, n: int) -> tuple[list[bytes], list[bytes]]:
    """Merkle roots of every primary sliver (rows) and secondary sliver (columns)."""
    return merkle.roots(leaves, n, n, n, 1), merkle.roots(leaves, n, n, 1, n)


def commitments(expanded: U8Array, n: int, s: int) -> tuple[list[bytes], list[bytes]]:
    """:func:`sliver_roots` of :func:`symbol_leaves` in one native call."""
    primary, secondary = walrus_native.matrix_roots(expanded, n, s)
    return merkle.split(primary), merkle.split(secondary)


def secondary_slivers(expanded: U8Array, params: EncodingParams, s: int) -> U8Array:
    """The ``n`` secondary slivers gathered from the matrix's columns, as ``(n, rows * s)``
    (another ``rows/n`` of the matrix at once: for ``walrus-bench``'s stage timing; the
    store path gathers one at a time, :meth:`EncodedBlob.secondary`)."""
    n, rows = params.n_shards, params.rows
    columns = expanded[:rows].reshape(rows, n, s).transpose(1, 0, 2)
    return np.ascontiguousarray(columns).reshape(n, rows * s)


def encode(blob: Buffer, n_shards: int) -> EncodedBlob:
    """Encode ``blob`` for ``n_shards`` shards."""
    params = EncodingParams(n_shards)
    expanded, s = expanded_matrix(blob, params)
    return _committed(params, expanded, s, len(blob))


def encode_from(
    reader: Reader,
    length: int,
    n_shards: int,
    progress: Callable[[int], None] | None = None,
) -> EncodedBlob:
    """Encode the next ``length`` bytes of ``reader`` for ``n_shards`` shards: the same
    blob ID and slivers as :func:`encode` of those bytes, holding only the matrix
    (:func:`fill_from`; ``progress`` is told each read's size). Raises
    :class:`~.errors.ShortReadError` if the reader ends early, before anything is
    committed to; the reader is left just after the ``length`` bytes."""
    params = EncodingParams(n_shards)
    n = params.n_shards
    s = params.symbol_size(length)
    expanded = np.empty((n, n * s), dtype=np.uint8)
    fill_from(reader, length, params, expanded, s, progress)
    extend(expanded, params, s)
    return _committed(params, expanded, s, length)


def _committed(params: EncodingParams, expanded: U8Array, s: int, length: int) -> EncodedBlob:
    """Step 4 and the metadata: the encoded blob of a filled, extended matrix."""
    n = params.n_shards
    primary_roots, secondary_roots = commitments(expanded, n, s)
    metadata = BlobMetadata(
        encoding_type=EncodingType.RS2_GF65536_BLAKE3,
        unencoded_length=length,
        pair_hashes=tuple((primary_roots[p], secondary_roots[n - 1 - p]) for p in range(n)),
    )
    return EncodedBlob(params, metadata, metadata.blob_id(), s, expanded)
