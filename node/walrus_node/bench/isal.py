"""ISA-L's erasure code through ctypes: the baseline ``walrus-bench codec --baseline isal``
measures our Reed-Solomon against.

Who calls it: :mod:`walrus_node.bench.codec` only. Nothing else imports it, and ISA-L is
not a dependency of the project: :func:`load` returns ``None`` when the shared library is
absent (on Debian, ``apt-get install libisal2``), and the benchmark says so.

ISA-L (Intel's storage acceleration library, the engine of the project's first codec)
encodes over GF(2^8) with a Cauchy matrix: ``ec_init_tables`` expands the matrix into
32-byte multiplication tables once, and ``ec_encode_data`` multiplies ``k`` input
buffers into ``rows`` output buffers, all given as arrays of pointers, so it runs on the
same strided layout as our own code (rows and columns of the expanded matrix, in place).
Its bytes differ from ours (another field), so only its speed is of interest here; the
work per byte (``k`` inputs into ``rows`` outputs, the same lengths) is the same.

ctypes releases the GIL during each call, so ``threads > 1`` runs independent pieces of
the work in a thread pool, as our native module spreads its pieces over its own pool.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
from collections.abc import Sequence

import numpy as np

from walrus_node.codec._types import U8Array

__all__ = ["MAX_SHARDS", "Isal", "Product", "load"]

_NAMES = ("isal", "libisal.so.2")

MAX_SHARDS = 255
"""Most shards of a code over GF(2^8) as ISA-L builds it (the Cauchy matrix needs ``n``
distinct nonzero elements)."""

PIECE = 1 << 20
"""Bytes of each shard one task handles when the work is spread over threads."""


class Isal:
    """The few ISA-L functions the baseline needs, from one loaded shared library."""

    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.path = path
        self._gen = lib.gf_gen_cauchy1_matrix
        self._gen.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._gen.restype = None
        self._invert = lib.gf_invert_matrix
        self._invert.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self._invert.restype = ctypes.c_int
        self._init = lib.ec_init_tables
        self._init.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        self._init.restype = None
        self._encode = lib.ec_encode_data
        self._encode.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._encode.restype = None

    def cauchy(self, k: int, n: int) -> U8Array:
        """The ``n x k`` systematic Cauchy matrix ISA-L's examples encode with."""
        a = np.zeros((n, k), dtype=np.uint8)
        self._gen(a.ctypes.data, n, k)
        return a

    def encoder(self, k: int, n: int) -> Product:
        """The product taking ``k`` sources to the ``n - k`` parity shards."""
        return Product(self, self.cauchy(k, n)[k:])

    def decoder(self, k: int, n: int, have: Sequence[int], want: Sequence[int]) -> Product:
        """The product taking shards ``have`` (``k`` of them) to sources ``want``."""
        sub = np.ascontiguousarray(self.cauchy(k, n)[list(have)])
        inverse = np.zeros((k, k), dtype=np.uint8)
        if self._invert(sub.ctypes.data, inverse.ctypes.data, k) != 0:
            raise ValueError("singular submatrix")
        return Product(self, np.ascontiguousarray(inverse[list(want)]))


@dataclasses.dataclass
class Product:
    """A GF(2^8) matrix (``outs x k``) prepared as ISA-L's tables."""

    isal: Isal
    matrix: U8Array

    def __post_init__(self) -> None:
        outs, k = self.matrix.shape
        self.k, self.outs = int(k), int(outs)
        self.tables = np.zeros(32 * self.k * self.outs, dtype=np.uint8)
        self.isal._init(self.k, self.outs, self.matrix.ctypes.data, self.tables.ctypes.data)

    def apply(
        self,
        ins: Sequence[Sequence[int]],
        outs: Sequence[Sequence[int]],
        length: int,
        threads: int = 1,
        pool: concurrent.futures.Executor | None = None,
    ) -> None:
        """One product per group: ``ins[g]`` and ``outs[g]`` are the addresses of group
        ``g``'s ``k`` inputs and ``outs`` outputs, ``length`` bytes each. With ``pool``,
        each group is cut into :data:`PIECE`-byte pieces run on it."""
        tasks: list[tuple[list[int], list[int], int]] = []
        piece = length if pool is None or threads <= 1 else min(length, PIECE)
        for group_ins, group_outs in zip(ins, outs, strict=True):
            for start in range(0, length, piece):
                tasks.append(
                    (
                        [a + start for a in group_ins],
                        [a + start for a in group_outs],
                        min(piece, length - start),
                    )
                )
        if pool is None or threads <= 1:
            for task in tasks:
                self._run(*task)
        else:
            list(pool.map(lambda task: self._run(*task), tasks))

    def _run(self, ins: list[int], outs: list[int], length: int) -> None:
        src = (ctypes.c_void_p * self.k)(*ins)
        dst = (ctypes.c_void_p * self.outs)(*outs)
        self.isal._encode(length, self.k, self.outs, self.tables.ctypes.data, src, dst)


def load() -> Isal | None:
    """ISA-L if its shared library can be loaded, else ``None``."""
    for name in _NAMES:
        path = ctypes.util.find_library(name) if "." not in name else name
        if not path:
            continue
        try:
            return Isal(ctypes.CDLL(path), path)
        except OSError:
            continue
    return None
