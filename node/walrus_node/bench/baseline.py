"""Raw-library baselines for the codec benchmark.

Who calls it: :mod:`walrus_node.bench.codec`, and the tests that check these baselines
compute what they claim to.

* **1-D encode/decode** of the same bytes with ``k = n - 2f`` source and ``m = 2f``
  parity fragments (the primary dimension alone, no commitments), through pyeclib's
  ``isa_l_rs_cauchy`` driver and through our direct ISA-L call. Set against the full
  encode, it shows what the 2-D layout and the hashing cost on top of the library.
* **2-D expansion through pyeclib**: the same ``n x n`` matrix as
  :func:`walrus_node.codec.encoder.expanded_matrix`, built with ``ECDriver.encode`` one
  row (and one column block) at a time. It is what the codec would cost had it used the
  driver instead of calling ISA-L on the matrix in place (README, "Why these libraries").
"""

from __future__ import annotations

import numpy as np
from pyeclib import ec_iface

from walrus_node.codec import encoder, rs
from walrus_node.codec._types import U8Array
from walrus_node.codec.params import EncodingParams

__all__ = [
    "FRAGMENT_HEADER",
    "isal_encode",
    "pyeclib_decode",
    "pyeclib_driver",
    "pyeclib_encode",
    "pyeclib_expanded_matrix",
]

FRAGMENT_HEADER = 80
"""Bytes of liberasurecode framing in front of every fragment pyeclib returns."""


def pyeclib_driver(k: int, m: int) -> ec_iface.ECDriver:
    return ec_iface.ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy")


def pyeclib_encode(driver: ec_iface.ECDriver, blob: bytes) -> list[bytes]:
    """All ``k + m`` framed fragments of ``blob``."""
    fragments: list[bytes] = driver.encode(blob)
    return fragments


def pyeclib_decode(driver: ec_iface.ECDriver, fragments: list[bytes]) -> bytes:
    """The original bytes from any ``k`` framed fragments."""
    data: bytes = driver.decode(fragments)
    return data


def isal_encode(blob: bytes, k: int, n: int) -> U8Array:
    """The ``n - k`` parity fragments of ``blob`` split into ``k``, with our ISA-L binding.

    Does what the driver does around the arithmetic: copies the blob into ``k`` zero
    padded fragments and allocates the parity; it only skips the framing.
    """
    length = max(1, -(-len(blob) // k))
    source = np.zeros((k, length), dtype=np.uint8)
    source.reshape(-1)[: len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    parity = np.empty((n - k, length), dtype=np.uint8)
    rs.code(k, n).extend(rs.row_addresses(source), rs.row_addresses(parity), length)
    return parity


def _parity_payloads(driver: ec_iface.ECDriver, data: bytes, k: int, length: int) -> list[bytes]:
    fragments = pyeclib_encode(driver, data)
    payloads = [f[FRAGMENT_HEADER:] for f in fragments[k:]]
    if any(len(p) != length for p in payloads):
        raise RuntimeError(f"pyeclib fragments are not {length} bytes each; cannot compare")
    return payloads


def pyeclib_expanded_matrix(blob: bytes, params: EncodingParams) -> tuple[U8Array, int]:
    """:func:`encoder.expanded_matrix`, computed through ``ECDriver.encode`` calls."""
    n, rows, cols, f = params.n_shards, params.rows, params.columns, params.f
    s = params.symbol_size(len(blob))
    expanded = np.empty((n, n * s), dtype=np.uint8)
    encoder.fill_source(blob, params, expanded, s)
    by_row = pyeclib_driver(cols, n - cols)
    for r in range(rows):
        payloads = _parity_payloads(by_row, expanded[r, : cols * s].tobytes(), cols, s)
        expanded[r, cols * s :] = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    by_column = pyeclib_driver(rows, 2 * f)
    payloads = _parity_payloads(by_column, expanded[:rows].tobytes(), rows, n * s)
    for i, payload in enumerate(payloads):
        expanded[rows + i] = np.frombuffer(payload, dtype=np.uint8)
    return expanded, s
