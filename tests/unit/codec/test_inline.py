"""Small native calls run on the caller's thread, big ones on the pool, with the same bytes.

``walrus_native`` runs a call whose work is below ``INLINE_HASH_BYTES`` hashed and
``INLINE_CODE_BYTES`` coded (each as a share of its limit) on the calling thread, without
touching its rayon pool (native/src/threads.rs). Each entry point is called just below
and just above its limit: the call counters show which path it took, and its output
must equal the output of the other path, forced through ``set_inline_limits``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import pytest
import walrus_native
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec._types import U8Array

T = TypeVar("T")

HASH = walrus_native.INLINE_HASH_BYTES
CODE = walrus_native.INLINE_CODE_BYTES
DIGEST = walrus_native.DIGEST_SIZE
NEVER, ALWAYS = (0, 0), (1 << 62, 1 << 62)


@contextmanager
def _limits(limits: tuple[int, int]) -> Iterator[None]:
    before = walrus_native.inline_limits()
    walrus_native.set_inline_limits(*limits)
    try:
        yield
    finally:
        walrus_native.set_inline_limits(*before)


def _path(call: Callable[[], T]) -> tuple[str, T]:
    """Which path ``call`` (one native call) took, and what it returned."""
    inline, pooled = walrus_native.calls()
    result = call()
    after = walrus_native.calls()
    assert after[0] + after[1] == inline + pooled + 1, "one native call"
    return ("inline" if after[0] > inline else "pool"), result


def _other_path(path: str, call: Callable[[], T]) -> T:
    with _limits(ALWAYS if path == "pool" else NEVER):
        other, result = _path(call)
    assert other != path
    return result


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bytes(seed: int, size: int) -> U8Array:
    return _rng(seed).integers(0, 256, size, dtype=np.uint8)


def test_the_limits_default_to_the_measured_constants_and_can_be_set() -> None:
    assert walrus_native.inline_limits() == (HASH, CODE)
    with _limits((5, 7)):
        assert walrus_native.inline_limits() == (5, 7)
    assert walrus_native.inline_limits() == (HASH, CODE)


# Each case: a name, and for a `side` (-1 just below the limit, +1 just above) a call and
# how to compare its outputs. The sizes follow the work each entry point counts
# (native/src/merkle.rs and rs.rs): symbols hashed plus ~one 64-byte inner node per leaf
# per tree, shards coded.


def _leaf_hashes(side: int) -> Callable[[], object]:
    s = 1024
    count = HASH // s - (1 if side < 0 else 0)
    data = _bytes(1, count * s)
    return lambda: walrus_native.leaf_hashes(data, s, count)


def _merkle_roots(side: int) -> Callable[[], object]:
    trees = 16
    width = HASH // (2 * DIGEST) // trees - (1 if side < 0 else 0)
    leaves = _bytes(2, trees * width * DIGEST).tobytes()
    return lambda: walrus_native.merkle_roots(leaves, trees, width, width, 1)


def _matrix_roots(side: int) -> Callable[[], object]:
    n = 7
    # n * n * (s + 4 * DIGEST) against HASH, s even.
    s = (HASH // (n * n) - 4 * DIGEST) & ~1
    s = s if side < 0 else s + 2
    data = _bytes(3, n * n * s)
    return lambda: walrus_native.matrix_roots(data, n, s)


def _sliver_s(n: int) -> int:
    """The largest even symbol size whose sliver check is inline at the default limits."""
    s = 2
    while n * (s + 2 + 2 * DIGEST) * CODE + n * (s + 2) * HASH < HASH * CODE:
        s += 2
    # Coarse steps would do; the loop is exact and quick enough at these limits.
    return s


def _sliver_roots(side: int) -> Callable[[], object]:
    k, n = 5, 7
    s = _sliver_s(n) + (2 if side > 0 else 0)
    slivers = [_bytes(4, k * s)]
    return lambda: walrus_native.sliver_roots(slivers, k, n, s)


def _sliver_leaves(side: int) -> Callable[[], object]:
    k, n = 5, 7
    s = _sliver_s(n) + (2 if side > 0 else 0)
    sliver = _bytes(5, k * s)
    return lambda: walrus_native.sliver_leaves(sliver, k, n, s)


def _verify_proofs(side: int) -> Callable[[], object]:
    # Two leaves of `length` bytes, each with a proof of one 32-byte sibling.
    length = (HASH - 2 * 2 * DIGEST) // 2 - (1 if side < 0 else 0)
    a, b = _bytes(6, length).tobytes(), _bytes(7, length).tobytes()
    leaves = walrus_native.leaf_hashes(a + b, length, 2)
    root = walrus_native.merkle_roots(leaves, 1, 2, 0, 1)
    proofs = walrus_native.merkle_proofs(leaves, [0, 1])
    # The second proof is checked against the wrong leaf: it must fail on both paths.
    return lambda: walrus_native.verify_proofs([root, root], [a, a], [0, 1], proofs)


def _rs_extend(side: int, matrix: bool) -> Callable[[], object]:
    k, n = 5, 7
    s = ((CODE - 1) // n) & ~1
    s = s if side < 0 else s + 2
    source = _bytes(8, k * s)

    def call() -> bytes:
        buf = np.zeros(n * s, dtype=np.uint8)
        buf[: k * s] = source
        walrus_native.rs_extend(buf, k, n, s, 1, 0, s, 0, matrix=matrix)
        return buf.tobytes()

    return call


def _rs_reconstruct(side: int, matrix: bool) -> Callable[[], object]:
    k, n = 5, 7
    have, want = [1, 2, 4, 5, 6], [0, 3]
    s = ((CODE - 1) // (k + len(want))) & ~1
    s = s if side < 0 else s + 2
    shards = np.zeros(n * s, dtype=np.uint8)
    shards[: k * s] = _bytes(9, k * s)
    walrus_native.rs_extend(shards, k, n, s, 1, 0, s)
    sources = [shards[i * s : (i + 1) * s].copy() for i in have]

    def call() -> bytes:
        out = np.zeros(k * s, dtype=np.uint8)
        walrus_native.rs_reconstruct(k, n, s, 1, have, sources, want, out, 0, s, matrix=matrix)
        assert out[:s].tobytes() == shards[:s].tobytes()
        return out.tobytes()

    return call


_CASES: dict[str, Callable[[int], Callable[[], object]]] = {
    "leaf_hashes": _leaf_hashes,
    "merkle_roots": _merkle_roots,
    "matrix_roots": _matrix_roots,
    "sliver_roots": _sliver_roots,
    "sliver_leaves": _sliver_leaves,
    "verify_proofs": _verify_proofs,
    "rs_extend product": lambda side: _rs_extend(side, True),
    "rs_extend fft": lambda side: _rs_extend(side, False),
    "rs_reconstruct product": lambda side: _rs_reconstruct(side, True),
    "rs_reconstruct fft": lambda side: _rs_reconstruct(side, False),
}


@pytest.mark.parametrize("name", sorted(_CASES))
def test_each_entry_point_runs_inline_just_below_its_limit_and_on_the_pool_above(
    name: str,
) -> None:
    for side, expected in ((-1, "inline"), (+1, "pool")):
        call = _CASES[name](side)
        path, result = _path(call)
        assert path == expected, (name, side)
        assert _other_path(path, call) == result, (name, side)


def test_a_failed_proof_fails_on_both_paths() -> None:
    call = _verify_proofs(-1)
    assert _path(call) == ("inline", [True, False])
    assert _other_path("inline", call) == [True, False]


# Generated inputs, both paths forced: the same bytes.


def _both(call: Callable[[], T]) -> T:
    with _limits(ALWAYS):
        inline = call()
    with _limits(NEVER):
        pooled = call()
    assert inline == pooled
    return inline


@settings(deadline=None, max_examples=40)
@given(
    k=st.integers(1, 40),
    extra=st.integers(0, 40),
    half=st.integers(1, 3000),
    count=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_sliver_checks_and_encodes_give_the_same_bytes_on_both_paths(
    k: int, extra: int, half: int, count: int, seed: int
) -> None:
    n, s = k + extra, 2 * half
    if not walrus_native.rs_supports(k, n):
        return
    slivers = [_bytes(seed + i, k * s) for i in range(count)]
    _both(lambda: walrus_native.sliver_roots(slivers, k, n, s))
    _both(lambda: walrus_native.sliver_leaves(slivers[0], k, n, s))
    groups = np.stack([np.concatenate([x, np.zeros((n - k) * s, np.uint8)]) for x in slivers])

    def extend() -> bytes:
        buf = groups.copy()
        walrus_native.rs_extend(buf, k, n, s, count, n * s, s)
        return buf.tobytes()

    _both(extend)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 40),
    half=st.integers(1, 2000),
    indices=st.lists(st.integers(0, 10**6), min_size=1, max_size=300),
    seed=st.integers(0, 2**32 - 1),
)
def test_trees_and_proofs_give_the_same_bytes_on_both_paths(
    n: int, half: int, indices: list[int], seed: int
) -> None:
    s = 2 * half
    matrix = _bytes(seed, n * n * s)
    _both(lambda: walrus_native.matrix_roots(matrix, n, s))
    leaves = _both(lambda: walrus_native.leaf_hashes(matrix, s, n * n))
    _both(lambda: walrus_native.merkle_roots(leaves, n, n, 1, n))
    picked = [i % (n * n) for i in indices]
    root = walrus_native.merkle_roots(leaves, 1, n * n, 0, 1)
    proofs = walrus_native.merkle_proofs(leaves, picked)
    datas = [matrix[i * s : (i + 1) * s] for i in picked]
    # Some proofs swapped with their neighbour's, so that both verdicts occur.
    rng = random.Random(seed)
    shuffled = [
        p if rng.random() < 0.7 else proofs[(j + 1) % len(proofs)] for j, p in enumerate(proofs)
    ]
    verdicts = _both(
        lambda: walrus_native.verify_proofs([root] * len(picked), datas, picked, shuffled)
    )
    assert all(v for v, p, q in zip(verdicts, shuffled, proofs, strict=True) if p is q)
