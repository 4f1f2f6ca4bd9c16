"""Systematic Reed-Solomon codes over GF(2^16): the one-dimensional building block.

Who calls it: :mod:`walrus_node.codec.encoder`, :mod:`.slivers`, :mod:`.decoder` and
:mod:`.recovery`. A :class:`Code` with parameters ``(k, n)`` maps ``k`` source *shards*
to ``n`` (the first ``k`` are the sources, unchanged). The arithmetic is the
``reed-solomon-simd`` crate's (the code Walrus uses: FFT-based, over GF(2^16)), reached
through our native module ``walrus_native`` (``native/`` in the repository).

A shard is always one symbol, so its size is even (two bytes per field element) and every
operation uses the same element layout: that is what makes extending rows then columns
equal to the other order, so that a parity row of the expanded matrix verifies as a
sliver. Shards are addressed in place in a buffer by strides (:meth:`Code.extend`), so a
whole dimension of the expanded matrix (every row, or every column) is one call, spread
over the native module's threads with the GIL released.

Bounds: ``reed-solomon-simd`` takes up to 65 536 shards in total, counting the smaller
of ``k`` and ``n - k`` rounded up to a power of two (``walrus_native.rs_supports``);
:data:`walrus_node.codec.params.MAX_SHARDS` is well inside that.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import walrus_native

from walrus_node.codec._types import Buffer, U8Array

__all__ = ["Code", "code"]


class Code:
    """A systematic MDS code of dimension ``k`` and length ``n``."""

    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n or not walrus_native.rs_supports(k, n):
            raise ValueError(f"unsupported code: k={k}, n={n}")
        self.k = k
        self.n = n

    def extend(
        self,
        buf: U8Array | bytearray,
        s: int,
        *,
        groups: int = 1,
        group_stride: int = 0,
        shard_stride: int | None = None,
        offset: int = 0,
    ) -> None:
        """Fill the ``n - k`` parity shards of every group, in place.

        Shard ``i`` of group ``g`` is the ``s`` bytes at
        ``offset + g * group_stride + i * shard_stride`` (``shard_stride`` defaults to
        ``s``: a group's shards back to back).
        """
        walrus_native.rs_extend(
            buf,
            self.k,
            self.n,
            s,
            groups,
            group_stride,
            s if shard_stride is None else shard_stride,
            offset,
        )

    def reconstruct(
        self,
        s: int,
        have: Sequence[int],
        sources: Sequence[Buffer | U8Array],
        want: Sequence[int],
        out: U8Array,
        *,
        groups: int = 1,
        out_group_stride: int = 0,
        out_index_stride: int | None = None,
    ) -> None:
        """Rebuild source shards ``want`` (each ``< k``) from the ``k`` shards ``have``.

        ``sources[t]`` holds shard ``have[t]`` of every group, ``s`` bytes per group back
        to back; rebuilt shard ``w`` of group ``g`` is written at
        ``g * out_group_stride + w * out_index_stride`` in ``out`` (``out_index_stride``
        defaults to ``s``).
        """
        if len(have) != self.k:
            raise ValueError(f"reconstruction takes exactly k={self.k} shards, got {len(have)}")
        if not want:
            return
        walrus_native.rs_reconstruct(
            self.k,
            self.n,
            s,
            groups,
            list(have),
            list(sources),
            list(want),
            out,
            out_group_stride,
            s if out_index_stride is None else out_index_stride,
        )


@functools.cache
def code(k: int, n: int) -> Code:
    """The shared instance of the ``(k, n)`` code."""
    return Code(k, n)
