"""Binding to Intel ISA-L's erasure-coding routines, as shipped inside pyeclib's wheel.

Who calls it: only :mod:`walrus_node.codec.rs`. Nothing else should touch pointers.

Why not pyeclib's own ``ECDriver``: its ``encode``/``decode`` frame every fragment with an
80-byte liberasurecode header and take one contiguous buffer, so encoding the strided
symbol layout of a RedStuff matrix costs a gather copy in, a scatter copy out and a fresh
allocation per call. Driving ISA-L's ``ec_encode_data`` directly with arrays of row
pointers works in place on the matrix and is 2.3-5.6x faster for the full 2D expansion
(BENCHMARKS.md, "pyeclib's driver against direct ISA-L calls"). The generator matrix is
the same one pyeclib's ``isa_l_rs_cauchy`` backend builds (``gf_gen_cauchy1_matrix``),
and ``tests/unit/codec/test_rs.py`` checks our parity bytes against
``ECDriver(ec_type="isa_l_rs_cauchy")`` output.

ISA-L releases no Python locks itself, but ctypes drops the GIL around every foreign call,
so encodes in worker threads run in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import pathlib

import numpy as np

__all__ = ["available", "cauchy_matrix", "encode", "init_tables", "invert", "load_error"]

from walrus_node.codec._types import AddrArray, U8Array


def _candidate_paths() -> list[str]:
    paths: list[str] = []
    spec = importlib.util.find_spec("pyeclib")
    if spec is not None and spec.origin is not None:
        libs = pathlib.Path(spec.origin).parent.parent / "pyeclib.libs"
        paths.extend(str(p) for p in sorted(libs.glob("libisal*.so*")))
    system = ctypes.util.find_library("isal")
    if system is not None:
        paths.append(system)
    return paths


@functools.cache
def _library() -> ctypes.CDLL:
    tried = _candidate_paths()
    for path in tried:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        vp, i = ctypes.c_void_p, ctypes.c_int
        lib.gf_gen_cauchy1_matrix.argtypes = [vp, i, i]
        lib.gf_gen_cauchy1_matrix.restype = None
        lib.ec_init_tables.argtypes = [i, i, vp, vp]
        lib.ec_init_tables.restype = None
        lib.ec_encode_data.argtypes = [i, i, i, vp, vp, vp]
        lib.ec_encode_data.restype = None
        lib.gf_invert_matrix.argtypes = [vp, vp, i]
        lib.gf_invert_matrix.restype = i
        lib.gf_mul.argtypes = [ctypes.c_ubyte, ctypes.c_ubyte]
        lib.gf_mul.restype = ctypes.c_ubyte
        return lib
    raise ImportError(
        "ISA-L (libisal) was not found; install pyeclib>=1.6 from its manylinux wheel, "
        f"which bundles it, or the system package libisal2 (looked in: {tried or 'nowhere'})"
    )


def load_error() -> str | None:
    """Why ISA-L cannot be loaded, or None when it can."""
    try:
        _library()
    except ImportError as e:
        return str(e)
    return None


def available() -> bool:
    return load_error() is None


def cauchy_matrix(k: int, n: int) -> U8Array:
    """The n x k systematic generator: identity on top, Cauchy rows 1/(i xor j) below.

    Any k rows of it are linearly independent for n <= 256 (a Cauchy matrix over GF(2^8)),
    which is what makes the code MDS.
    """
    a = np.zeros(n * k, dtype=np.uint8)
    _library().gf_gen_cauchy1_matrix(a.ctypes.data, n, k)
    return a.reshape(n, k)


def init_tables(coefficients: U8Array) -> U8Array:
    """Expand an r x k coefficient matrix into ISA-L's SIMD multiplication tables."""
    rows, k = coefficients.shape
    coeffs = np.ascontiguousarray(coefficients, dtype=np.uint8)
    tables = np.zeros(32 * k * rows, dtype=np.uint8)
    _library().ec_init_tables(k, rows, coeffs.ctypes.data, tables.ctypes.data)
    return tables


def invert(matrix: U8Array) -> U8Array | None:
    """Inverse of a square GF(2^8) matrix, or None if it is singular."""
    size = matrix.shape[0]
    work = np.array(matrix, dtype=np.uint8, order="C", copy=True)  # ISA-L clobbers its input
    out = np.zeros((size, size), dtype=np.uint8)
    if _library().gf_invert_matrix(work.ctypes.data, out.ctypes.data, size) != 0:
        return None
    return out


def gf_mul(a: int, b: int) -> int:
    """One GF(2^8) product, as ISA-L computes it (used to cross-check our tables)."""
    return int(_library().gf_mul(a, b))


def encode(
    tables: U8Array, k: int, rows: int, src: AddrArray, dst: AddrArray, length: int, chunk: int
) -> None:
    """dst[r][0:length] = sum_i coeff[r][i] * src[i][0:length] over GF(2^8).

    ``src``/``dst`` hold raw addresses of k and ``rows`` buffers of at least ``length``
    bytes each; the caller keeps those buffers alive. Work proceeds in ``chunk``-byte
    column slices so that all k + rows slices stay in cache.
    """
    if length <= 0 or rows == 0:
        return
    lib = _library()
    tbl = tables.ctypes.data
    for offset in range(0, length, chunk):
        n = min(chunk, length - offset)
        s = src + offset if offset else src
        d = dst + offset if offset else dst
        lib.ec_encode_data(n, k, rows, tbl, s.ctypes.data, d.ctypes.data)
