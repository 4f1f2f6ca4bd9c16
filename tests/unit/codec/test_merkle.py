"""Domain-separated BLAKE3 Merkle trees and their proofs."""

from __future__ import annotations

import random
import re

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec import merkle


def _leaves(count: int) -> list[bytes]:
    return [merkle.leaf(i.to_bytes(4, "little")) for i in range(count)]


def test_node_hashes_are_blake3_with_a_trailing_domain_tag() -> None:
    data, left, right = b"symbol", bytes(range(32)), bytes(range(32, 64))
    assert merkle.leaf(data) == blake3.blake3(data + b"\x00").digest()
    assert merkle.inner(left, right) == blake3.blake3(left + right + b"\x01").digest()
    assert merkle.hash_bytes(data) == blake3.blake3(data).digest()


def test_a_leaf_is_never_an_inner_node_of_the_same_bytes() -> None:
    left, right = bytes(32), bytes(range(32))
    assert merkle.leaf(left + right) != merkle.inner(left, right)
    assert merkle.leaf(left + right + b"\x01") != merkle.inner(left, right)


def test_leaf_hashes_any_bytes_like_input_the_same() -> None:
    data = bytes(range(256)) * 20
    expected = merkle.leaf(data)
    assert merkle.leaf(bytearray(data)) == expected
    assert merkle.leaf(memoryview(data)) == expected


def test_roots_of_small_trees_pad_odd_levels_with_the_empty_node() -> None:
    a, b, c = _leaves(3)
    assert merkle.root([]) == merkle.EMPTY
    assert merkle.root([a]) == a
    assert merkle.root([a, b]) == merkle.inner(a, b)
    assert merkle.root([a, b, c]) == merkle.inner(merkle.inner(a, b), merkle.inner(c, merkle.EMPTY))


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(st.integers(1, 70))
def test_every_leaf_has_a_proof_of_ceil_log2_length_that_verifies(count: int) -> None:
    leaves = _leaves(count)
    tree = merkle.Tree(leaves)
    assert tree.root == merkle.root(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert len(proof) == (count - 1).bit_length()
        assert merkle.verify(tree.root, leaf, i, proof)


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(st.integers(2, 40), st.data())
def test_a_proof_fails_for_another_leaf_index_or_sibling(count: int, data: st.DataObject) -> None:
    leaves = _leaves(count)
    tree = merkle.Tree(leaves)
    i = data.draw(st.integers(0, count - 1), label="leaf")
    j = data.draw(st.integers(0, count - 1).filter(lambda j: j != i), label="other")
    proof = tree.proof(i)
    assert not merkle.verify(tree.root, leaves[j], i, proof)
    assert not merkle.verify(tree.root, leaves[i], j, proof)
    bad = list(proof)
    node = data.draw(st.integers(0, len(bad) - 1), label="node")
    bad[node] = bytes([bad[node][0] ^ 1]) + bad[node][1:]
    assert not merkle.verify(tree.root, leaves[i], i, bad)


def test_a_proof_with_a_short_node_or_an_index_beyond_it_fails() -> None:
    leaves = _leaves(4)
    tree = merkle.Tree(leaves)
    proof = tree.proof(1)
    assert not merkle.verify(tree.root, leaves[1], 1, [proof[0][:31], proof[1]])
    assert not merkle.verify(tree.root, leaves[1], 1 + 4, proof)


def test_tree_rejects_no_leaves_and_out_of_range_proofs() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle.Tree([])
    with pytest.raises(IndexError, match=re.escape("leaf 5 out of range 0..4")):
        merkle.Tree(_leaves(5)).proof(5)


def _reference_root(leaves: list[bytes]) -> bytes:
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(merkle.EMPTY)
        level = [
            blake3.blake3(level[i] + level[i + 1] + b"\x01").digest()
            for i in range(0, len(level), 2)
        ]
    return level[0]


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 40), st.integers(0, 200), st.integers(0, 2**32 - 1))
def test_batched_leaves_and_roots_equal_plain_blake3(count: int, size: int, seed: int) -> None:
    """The native batch paths (leaves and inner nodes hashed many at a time in SIMD lanes) give
    the bytes of the definition, on both sides of the 64-byte block boundary."""
    data = random.Random(seed).randbytes(count * size)
    symbols = [data[i * size : (i + 1) * size] for i in range(count)]
    expected = [blake3.blake3(symbol + b"\x00").digest() for symbol in symbols]
    assert merkle.split(merkle.leaf_hashes(data, size, count)) == expected
    assert merkle.root(expected) == _reference_root(expected)
    assert merkle.roots(b"".join(expected), 1, count, 0, 1) == [_reference_root(expected)]
