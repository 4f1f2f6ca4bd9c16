"""The Reed-Solomon layer: ISA-L through ctypes, checked against pyeclib and for MDS."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from pyeclib import ec_iface

from walrus_node.codec import isal, rs
from walrus_node.codec._types import U8Array

FRAGMENT_HEADER = 80
"""Bytes of liberasurecode framing before each fragment's payload."""


def _random_rows(k: int, length: int, seed: int) -> U8Array:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(k, length), dtype=np.uint8)


def _extend(code: rs.Code, source: U8Array) -> U8Array:
    """All ``n`` fragments of ``source`` (k rows) under ``code``."""
    fragments = np.empty((code.n, source.shape[1]), dtype=np.uint8)
    fragments[: code.k] = source
    code.extend(
        rs.row_addresses(fragments[: code.k]),
        rs.row_addresses(fragments[code.k :]),
        source.shape[1],
    )
    return fragments


def test_isal_is_loaded() -> None:
    assert isal.load_error() is None
    assert isal.available()


@pytest.mark.parametrize(
    ("k", "m", "length"),
    [(2, 2, 64), (3, 2, 5), (4, 6, 4096), (4, 6, 1000), (11, 20, 333), (34, 66, 128),
     (86, 170, 100), (171, 85, 77)],
)  # fmt: skip
def test_parity_equals_pyeclib_isa_l_rs_cauchy_fragments(k: int, m: int, length: int) -> None:
    source = _random_rows(k, length, seed=k * 1000 + m)
    ours = _extend(rs.code(k, k + m), source)
    driver = ec_iface.ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy")
    fragments = driver.encode(source.tobytes())
    assert len(fragments) == k + m
    payloads = [f[FRAGMENT_HEADER:] for f in fragments]
    assert all(len(p) == length for p in payloads)
    assert [bytes(row) for row in ours] == payloads


def test_the_multiplication_table_equals_isal_gf_mul_for_all_65536_pairs() -> None:
    isal_products = np.array(
        [[isal.gf_mul(a, b) for b in range(256)] for a in range(256)], dtype=np.uint8
    )
    assert np.array_equal(rs.MUL, isal_products)


@pytest.mark.parametrize(("k", "n"), [(2, 4), (3, 7), (11, 31), (34, 100), (86, 256)])
def test_gf_matmul_times_the_inverse_is_the_identity(k: int, n: int) -> None:
    generator = rs.code(k, n).generator
    rows = sorted(random.Random(n).sample(range(n), k))
    inverse = isal.invert(generator[rows])
    assert inverse is not None
    assert np.array_equal(rs.gf_matmul(generator[rows], inverse), np.eye(k, dtype=np.uint8))


def test_the_generator_is_systematic() -> None:
    generator = rs.code(5, 12).generator
    assert np.array_equal(generator[:5], np.eye(5, dtype=np.uint8))
    assert generator[5:].all()  # Cauchy entries are never zero


def _reconstructs(code: rs.Code, fragments: U8Array, have: list[int]) -> bool:
    want = [i for i in range(code.k) if i not in have]
    out = np.zeros((len(want), fragments.shape[1]), dtype=np.uint8)
    src = fragments[have]
    code.reconstruct(rs.row_addresses(src), have, want, rs.row_addresses(out), src.shape[1])
    return np.array_equal(out, fragments[want])


@pytest.mark.parametrize(("k", "n"), [(2, 4), (3, 5), (4, 10), (5, 7), (7, 10), (3, 9), (6, 12)])
def test_every_k_subset_reconstructs_for_small_codes(k: int, n: int) -> None:
    code = rs.code(k, n)
    fragments = _extend(code, _random_rows(k, 48, seed=n))
    for have in itertools.combinations(range(n), k):
        assert _reconstructs(code, fragments, list(have)), have


@pytest.mark.parametrize(
    ("k", "n"),
    [(11, 31), (21, 31), (34, 100), (67, 100), (86, 256), (171, 256), (85, 255), (170, 255)],
)
def test_random_k_subsets_reconstruct_for_large_codes(k: int, n: int) -> None:
    code = rs.code(k, n)
    fragments = _extend(code, _random_rows(k, 40, seed=n + k))
    rng = random.Random(f"{k},{n}")
    subsets = [list(range(n - k, n))]  # as much parity as possible
    subsets += [sorted(rng.sample(range(n), k)) for _ in range(25)]
    for have in subsets:
        assert _reconstructs(code, fragments, have), have


def test_long_fragments_are_encoded_in_chunks_with_the_same_result() -> None:
    code = rs.code(3, 8)
    source = _random_rows(3, 300_001, seed=7)  # several chunks and a ragged tail
    fragments = _extend(code, source)
    expected = rs.gf_matmul(code.generator[3:], source)
    assert np.array_equal(fragments[3:], expected)


def test_code_parameters_are_checked() -> None:
    for k, n in [(0, 4), (5, 4), (1, 257)]:
        with pytest.raises(ValueError, match=f"need 1 <= k <= n <= 256, got k={k}, n={n}"):
            rs.Code(k, n)
    code = rs.code(3, 6)
    fragments = _extend(code, _random_rows(3, 8, seed=1))
    with pytest.raises(ValueError, match="exactly k=3 fragments, got 2"):
        code.reconstruct(
            rs.row_addresses(fragments[:2]), [0, 1], [2], rs.row_addresses(fragments[2:3]), 8
        )


def test_row_addresses_refuse_non_contiguous_rows() -> None:
    matrix = np.zeros((4, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="contiguous"):
        rs.row_addresses(matrix[:, ::2])
