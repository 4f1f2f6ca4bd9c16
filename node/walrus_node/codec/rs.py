"""Systematic Reed-Solomon codes over GF(2^8): the one-dimensional building block.

Who calls it: :mod:`walrus_node.codec.encoder`, :mod:`.slivers`, :mod:`.decoder` and
:mod:`.recovery`. A :class:`Code` with parameters ``(k, n)`` maps ``k`` source fragments to
``n`` fragments (the first ``k`` are the sources, unchanged). Fragments are byte strings
of equal length and the code acts on every byte position independently, so a whole
RedStuff dimension (all rows, or all columns) is one call.

Fragments are passed as *addresses* (:func:`row_addresses`, :func:`buffer_addresses`), so
that strided views of the expanded matrix are encoded in place without copies.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from walrus_node.codec import isal

__all__ = ["Code", "buffer_addresses", "code", "gf_matmul", "row_addresses"]

from walrus_node.codec._types import AddrArray, U8Array

_GF_POLY = 0x11D  # ISA-L's field polynomial x^8 + x^4 + x^3 + x^2 + 1, generator 2


def _mul_table() -> U8Array:
    exp = np.zeros(512, dtype=np.int64)
    log = np.zeros(256, dtype=np.int64)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= _GF_POLY
    exp[255:510] = exp[0:255]
    a = np.arange(256)
    table: U8Array = exp[(log[a][:, None] + log[a][None, :])].astype(np.uint8)
    table[0, :] = 0
    table[:, 0] = 0
    return table


MUL = _mul_table()
"""MUL[a, b] is the GF(2^8) product a*b (checked against ISA-L's ``gf_mul`` in the tests)."""


def gf_matmul(a: U8Array, b: U8Array) -> U8Array:
    """Matrix product over GF(2^8): XOR of byte products."""
    products = MUL[a[:, :, None], b[None, :, :]]  # (r, k, c)
    result: U8Array = np.bitwise_xor.reduce(products, axis=1).astype(np.uint8)
    return result


def row_addresses(matrix: U8Array) -> AddrArray:
    """Addresses of each row of a 2-D byte array whose rows are contiguous."""
    if matrix.ndim != 2 or (matrix.size > 1 and matrix.shape[1] > 1 and matrix.strides[1] != 1):
        raise ValueError("rows must be contiguous byte strings")
    offsets = np.arange(matrix.shape[0], dtype=np.uintp) * np.uintp(matrix.strides[0])
    addresses: AddrArray = offsets + np.uintp(matrix.ctypes.data)
    return addresses


def buffer_addresses(buffers: Sequence[U8Array]) -> AddrArray:
    """Addresses of separate contiguous 1-D byte arrays."""
    return np.array([b.ctypes.data for b in buffers], dtype=np.uintp)


def _chunk_for(fragments: int) -> int:
    # Keep one slice of every fragment in about 1 MiB of cache; ISA-L wants multiples of 64.
    chunk = (1 << 20) // max(fragments, 1)
    return max(4096, min(65536, chunk - chunk % 64))


class Code:
    """A systematic MDS code of dimension ``k`` and length ``n`` (``k <= n <= 256``)."""

    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n <= 256:
            raise ValueError(f"need 1 <= k <= n <= 256, got k={k}, n={n}")
        self.k = k
        self.n = n
        self.generator = isal.cauchy_matrix(k, n)
        self._parity_tables = isal.init_tables(self.generator[k:]) if n > k else None
        self._chunk = _chunk_for(n)

    def extend(self, src: AddrArray, dst: AddrArray, length: int) -> None:
        """Compute the ``n - k`` parity fragments of ``k`` source fragments."""
        if self._parity_tables is None:
            return
        isal.encode(self._parity_tables, self.k, self.n - self.k, src, dst, length, self._chunk)

    def reconstruct(
        self,
        src: AddrArray,
        have: Sequence[int],
        want: Sequence[int],
        dst: AddrArray,
        length: int,
    ) -> None:
        """Rebuild fragments ``want`` from the ``k`` fragments ``have`` (same order as src)."""
        if len(have) != self.k:
            raise ValueError(f"reconstruction takes exactly k={self.k} fragments, got {len(have)}")
        if not want:
            return
        tables = self._decode_tables(tuple(have), tuple(want))
        isal.encode(tables, self.k, len(want), src, dst, length, self._chunk)

    @functools.lru_cache(maxsize=256)  # noqa: B019  (codes are few and live for the process)
    def _decode_tables(self, have: tuple[int, ...], want: tuple[int, ...]) -> U8Array:
        inverse = isal.invert(self.generator[list(have)])
        if inverse is None:  # impossible for distinct indices of a Cauchy code
            raise ValueError(f"fragments {have} are not independent")
        return isal.init_tables(gf_matmul(self.generator[list(want)], inverse))


@functools.cache
def code(k: int, n: int) -> Code:
    """The shared instance of the ``(k, n)`` code (tables are built once per process)."""
    return Code(k, n)
