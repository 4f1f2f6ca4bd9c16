"""The Reed-Solomon layer: GF(2^16) codes of ``reed-solomon-simd`` through ``walrus_native``.

What the codec relies on: the code is systematic and MDS (every ``k`` of ``n`` shards
rebuild the rest), linear, and acts on each shard alone, so extending rows then columns
equals columns then rows; and the native module refuses offsets outside its buffers.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import walrus_native
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec import rs
from walrus_node.codec._types import U8Array


def _random_rows(k: int, length: int, seed: int) -> U8Array:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(k, length), dtype=np.uint8)


def _extend(code: rs.Code, source: U8Array) -> U8Array:
    """All ``n`` shards of ``source`` (k rows) under ``code``."""
    shards = np.empty((code.n, source.shape[1]), dtype=np.uint8)
    shards[: code.k] = source
    code.extend(shards, source.shape[1])
    return shards


def _reconstructs(code: rs.Code, shards: U8Array, have: list[int]) -> bool:
    want = [i for i in range(code.k) if i not in have]
    s = shards.shape[1]
    out = np.zeros((code.k, s), dtype=np.uint8)
    code.reconstruct(s, have, [shards[i] for i in have], want, out)
    return np.array_equal(out[want], shards[want])


def test_the_code_is_systematic_and_not_trivial() -> None:
    code = rs.code(3, 9)
    source = _random_rows(3, 64, seed=1)
    shards = _extend(code, source)
    assert np.array_equal(shards[:3], source)
    assert all(not np.array_equal(shards[i], shards[j]) for i in range(9) for j in range(i))


@pytest.mark.parametrize(("k", "n"), [(2, 4), (3, 5), (4, 10), (5, 7), (7, 10), (3, 9), (6, 12)])
def test_every_k_subset_reconstructs_for_small_codes(k: int, n: int) -> None:
    code = rs.code(k, n)
    shards = _extend(code, _random_rows(k, 48, seed=n))
    for have in itertools.combinations(range(n), k):
        assert _reconstructs(code, shards, list(have)), have


@pytest.mark.parametrize(
    ("k", "n"),
    [(11, 31), (21, 31), (86, 256), (171, 256), (100, 300), (200, 300), (334, 1000), (667, 1000)],
)
def test_random_k_subsets_reconstruct_for_large_codes(k: int, n: int) -> None:
    code = rs.code(k, n)
    shards = _extend(code, _random_rows(k, 40, seed=n + k))
    rng = random.Random(f"{k},{n}")
    subsets = [list(range(n - k, n))]  # as much parity as possible
    subsets += [sorted(rng.sample(range(n), k)) for _ in range(10)]
    for have in subsets:
        assert _reconstructs(code, shards, have), have


@settings(deadline=None, max_examples=30)
@given(
    st.integers(1, 12).flatmap(lambda k: st.tuples(st.just(k), st.integers(k, 40))),
    st.integers(1, 100).map(lambda half: 2 * half),
    st.integers(0, 2**32 - 1),
)
def test_the_code_is_linear(kn: tuple[int, int], s: int, seed: int) -> None:
    k, n = kn
    code = rs.code(k, n)
    a, b = _random_rows(k, s, seed), _random_rows(k, s, seed + 1)
    assert np.array_equal(_extend(code, a ^ b), _extend(code, a) ^ _extend(code, b))


@pytest.mark.parametrize(("n", "s"), [(4, 2), (10, 6), (13, 70), (31, 128), (100, 130)])
def test_rows_then_columns_equals_columns_then_rows(n: int, s: int) -> None:
    """Why a parity row of the expanded matrix verifies as a sliver: both orders agree,
    also for symbols that are not a multiple of the library's 64-byte blocks."""
    f = (n - 1) // 3
    rows, cols = n - 2 * f, n - f
    source = _random_rows(rows, cols * s, seed=n)
    first = np.zeros((n, n * s), dtype=np.uint8)
    first[:rows, : cols * s] = source
    second = first.copy()
    rs.code(cols, n).extend(first, s, groups=rows, group_stride=n * s)
    rs.code(rows, n).extend(first, s, groups=n, group_stride=s, shard_stride=n * s)
    rs.code(rows, n).extend(second, s, groups=cols, group_stride=s, shard_stride=n * s)
    rs.code(cols, n).extend(second, s, groups=n, group_stride=n * s)
    assert np.array_equal(first, second)


def test_strided_groups_equal_one_group_at_a_time() -> None:
    code = rs.code(3, 8)
    s = 10
    matrix = np.zeros((8, 5 * s), dtype=np.uint8)  # 5 columns of 8 symbols
    matrix[:3] = _random_rows(3, 5 * s, seed=3)
    expected = [_extend(code, matrix[:3, c * s : (c + 1) * s].copy()) for c in range(5)]
    code.extend(matrix, s, groups=5, group_stride=s, shard_stride=5 * s)
    for c in range(5):
        assert np.array_equal(matrix[:, c * s : (c + 1) * s], expected[c])


def test_code_parameters_are_checked() -> None:
    for k, n in [(0, 4), (5, 4), (40_000, 70_000)]:
        with pytest.raises(ValueError, match=f"unsupported code: k={k}, n={n}"):
            rs.Code(k, n)
    code = rs.code(3, 6)
    shards = _extend(code, _random_rows(3, 8, seed=1))
    with pytest.raises(ValueError, match="exactly k=3 shards, got 2"):
        code.reconstruct(8, [0, 1], [shards[0], shards[1]], [2], shards[2:3])


def test_the_native_module_refuses_what_would_leave_its_buffers() -> None:
    buf = np.zeros(6 * 8, dtype=np.uint8)
    with pytest.raises(ValueError, match="even"):
        walrus_native.rs_extend(buf, 3, 6, 7, 1, 0, 7)
    with pytest.raises(ValueError, match="past the end"):
        walrus_native.rs_extend(buf, 3, 6, 8, 2, 48, 8)
    with pytest.raises(ValueError, match="writable"):
        walrus_native.rs_extend(bytes(48), 3, 6, 8, 1, 0, 8)
    source = bytes(8)
    with pytest.raises(ValueError, match="need 16"):
        walrus_native.rs_reconstruct(3, 6, 8, 2, [0, 1, 3], [source] * 3, [2], buf, 0, 8)
    with pytest.raises(ValueError, match="distinct"):
        walrus_native.rs_reconstruct(3, 6, 8, 1, [0, 0, 3], [source] * 3, [2], buf, 0, 8)
    with pytest.raises(ValueError, match="past the end of out"):
        walrus_native.rs_reconstruct(3, 6, 8, 1, [0, 1, 3], [source] * 3, [2], buf, 0, 100)
    with pytest.raises(ValueError, match="overlaps a source"):
        walrus_native.rs_reconstruct(
            3, 6, 8, 1, [0, 1, 3], [buf[:8], source, source], [2], buf, 0, 8
        )


@pytest.mark.parametrize(
    ("k", "n", "s", "cut"), [(4, 10, 1000, 64), (7, 10, 50_000, 24_960), (3, 5, 194, 128)]
)
def test_a_shard_cut_at_64_byte_multiples_encodes_to_the_same_bytes_piece_by_piece(
    k: int, n: int, s: int, cut: int
) -> None:
    """The library property that lets the native module split large symbols into
    cache-sized pieces (and spread them over threads) without changing any byte."""
    source = _random_rows(k, s, seed=s)
    whole = _extend(rs.code(k, n), source)
    pieces = [
        _extend(rs.code(k, n), source[:, :cut].copy()),
        _extend(rs.code(k, n), source[:, cut:].copy()),
    ]
    assert np.array_equal(whole, np.concatenate(pieces, axis=1))


def test_symbols_larger_than_a_piece_encode_and_decode_as_the_library_does_on_pieces() -> None:
    k, n, piece = 4, 10, 32_768  # the native module's piece at n = 10
    s = 3 * piece + 2
    source = _random_rows(k, s, seed=5)
    whole = _extend(rs.code(k, n), source)
    bounds = [(0, piece), (piece, 2 * piece), (2 * piece, 3 * piece), (3 * piece, s)]
    expected = np.concatenate(
        [_extend(rs.code(k, n), source[:, a:b].copy()) for a, b in bounds], axis=1
    )
    assert np.array_equal(whole, expected)
    assert _reconstructs(rs.code(k, n), whole, list(range(n - k, n)))


@pytest.mark.parametrize(
    ("k", "n", "s"),
    [(4, 10, 2), (4, 10, 130), (3, 4, 192), (334, 1000, 6), (667, 1000, 302)],
)
def test_many_small_groups_rebuild_as_each_group_would_alone(k: int, n: int, s: int) -> None:
    """Many groups of small symbols are rebuilt in one batched decode (symbols padded
    in the library's layout for a short block); every group must come out as it would
    from a decode of its own."""
    code = rs.code(k, n)
    groups = 5
    shards = np.stack([_extend(code, _random_rows(k, s, seed=g)) for g in range(groups)])
    have = sorted(random.Random(s).sample(range(n), k))
    want = [i for i in range(k) if i not in have]
    sources = [np.ascontiguousarray(shards[:, i, :]).reshape(-1) for i in have]
    out = np.zeros((groups, k, s), dtype=np.uint8)
    code.reconstruct(
        s, have, sources, want, out, groups=groups, out_group_stride=k * s, out_index_stride=s
    )
    assert np.array_equal(out[:, want, :], shards[:, want, :])


# The matrix product for small k (native/src/rs_matrix.rs) against the library's FFT: the
# two paths must give the same bytes, or the format would depend on the path taken.

_SMALL_CODES = st.integers(1, 32).flatmap(
    lambda k: st.tuples(st.just(k), st.integers(k + 1, k + 40))
)


@settings(deadline=None, max_examples=60)
@given(
    kn=_SMALL_CODES,
    half=st.one_of(st.integers(1, 40), st.integers(1, 3000)),
    groups=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_matrix_product_extends_to_the_same_bytes_as_the_fft(
    kn: tuple[int, int], half: int, groups: int, seed: int
) -> None:
    k, n = kn
    s = 2 * half
    by_path = []
    for matrix in (False, True):
        buf = np.zeros((groups, n, s), dtype=np.uint8)
        buf[:, :k] = np.random.default_rng(seed).integers(
            0, 256, size=(groups, k, s), dtype=np.uint8
        )
        walrus_native.rs_extend(buf, k, n, s, groups, n * s, s, 0, matrix=matrix)
        by_path.append(buf)
    assert np.array_equal(by_path[0], by_path[1])
    assert by_path[0][:, k:].any()


@settings(deadline=None, max_examples=60)
@given(
    kn=_SMALL_CODES,
    half=st.one_of(st.integers(1, 40), st.integers(1, 3000)),
    groups=st.integers(1, 4),
    data=st.data(),
)
def test_the_matrix_product_rebuilds_the_same_bytes_as_the_fft(
    kn: tuple[int, int], half: int, groups: int, data: st.DataObject
) -> None:
    k, n = kn
    s = 2 * half
    have = data.draw(st.permutations(range(n)))[:k]
    want = [i for i in range(k) if i not in have]
    seed = data.draw(st.integers(0, 2**32 - 1))
    # Every group is a codeword; sources[t] holds shard have[t] of every group.
    code = rs.code(k, n)
    shards = np.stack([_extend(code, _random_rows(k, s, seed + g)) for g in range(groups)])
    sources = [np.ascontiguousarray(shards[:, i]).reshape(-1) for i in have]
    outs = []
    for matrix in (False, True):
        out = np.zeros((groups, k, s), dtype=np.uint8)
        walrus_native.rs_reconstruct(
            k, n, s, groups, have, sources, want, out, k * s, s, matrix=matrix
        )
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[1][:, want], shards[:, want])


def test_the_matrix_product_is_refused_beyond_its_k() -> None:
    buf = np.zeros(40 * 64, dtype=np.uint8)
    with pytest.raises(ValueError, match="matrix product"):
        walrus_native.rs_extend(buf, 33, 40, 64, 1, 0, 64, 0, matrix=True)


def test_products_too_large_for_the_caches_give_the_fft_bytes() -> None:
    """Products writing 16 MiB or more store whole cache lines past the caches, realigned
    from the library's chunks (symbols are not aligned to lines); the bytes are the FFT's,
    for an extension in the column layout and for a rebuild, in pieces over the threads."""
    k, n, s = 4, 10, 1_000_002  # 3 columns x 6 parity symbols, 18 MB of output
    groups = 3
    by_path = []
    for matrix in (False, True):
        raw = np.zeros(n * groups * s + 6, dtype=np.uint8)
        buf = raw[6:].reshape(n, groups * s)  # symbols start 6 bytes into a line
        buf[:k] = _random_rows(k, groups * s, 14)
        walrus_native.rs_extend(buf, k, n, s, groups, s, groups * s, 0, matrix=matrix)
        by_path.append(buf)
    assert np.array_equal(by_path[0], by_path[1])
    assert by_path[0][k:].any()
    shards = by_path[0]
    have = list(range(n - k, n))
    want = list(range(k))
    groups = 5  # column 0's codeword repeated: 4 x 5 rebuilt symbols, 20 MB
    sources = [np.tile(shards[i, :s], groups) for i in have]
    stride = groups * s + 2  # each rebuilt row starts 2 bytes further into a line
    outs = []
    for matrix in (False, True):
        out = np.zeros(k * stride + 2, dtype=np.uint8)
        walrus_native.rs_reconstruct(
            k, n, s, groups, have, sources, want, out[2:], s, stride, matrix=matrix
        )
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])
    rebuilt = outs[1][2:].reshape(k, stride)
    for g in range(groups):
        assert np.array_equal(rebuilt[:, g * s : (g + 1) * s], shards[:k, :s])
