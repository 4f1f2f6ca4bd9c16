"""The native batched BLAKE3 (many equal-length messages hashed side by side in SIMD
lanes) against the reference ``blake3`` package, and the Merkle layer built on it."""

from __future__ import annotations

import random

import blake3
import pytest
import walrus_native
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec import merkle


@st.composite
def _batches(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    length = draw(st.integers(0, 1100))
    count = draw(st.integers(0, 40))
    messages = [draw(st.binary(min_size=length, max_size=length)) for _ in range(count)]
    return messages, draw(st.binary(max_size=70))


@settings(deadline=None, max_examples=300)  # no flaky deadlines on a busy machine
@given(_batches())
def test_every_message_of_a_batch_hashes_as_blake3_of_message_and_tail(
    batch: tuple[list[bytes], bytes],
) -> None:
    messages, tail = batch
    length = len(messages[0]) if messages else 0
    got = walrus_native.hash_batch(b"".join(messages), length, len(messages), tail)
    assert got == b"".join(blake3.blake3(m + tail).digest() for m in messages)


@pytest.mark.parametrize("length", [0, 1, 55, 63, 64, 65, 127, 128, 300, 959, 960, 1023, 1024])
def test_block_and_chunk_boundaries_hash_as_blake3(length: int) -> None:
    messages = [bytes((i * 7 + j) % 256 for j in range(length)) for i in range(35)]
    for tail in (b"", b"\x00", b"\x01"):
        got = walrus_native.hash_batch(b"".join(messages), length, len(messages), tail)
        assert got == b"".join(blake3.blake3(m + tail).digest() for m in messages)


def test_a_batch_whose_size_does_not_match_its_data_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 3 of 4"):
        walrus_native.hash_batch(bytes(11), 4, 3, b"")


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(st.integers(1, 300), st.integers(0, 400), st.randoms(use_true_random=False))
def test_leaf_hashes_of_many_symbols_equal_blake3_of_symbol_and_tag(
    count: int, s: int, rng: random.Random
) -> None:
    data = bytes(rng.randrange(256) for _ in range(count * s))
    got = merkle.split(merkle.leaf_hashes(data, s, count))
    assert got == [
        blake3.blake3(data[i * s : (i + 1) * s] + b"\x00").digest() for i in range(count)
    ]


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(st.integers(1, 600), st.data())
def test_batched_verification_agrees_with_a_reference_tree_and_rejects_a_flipped_bit(
    count: int, data: st.DataObject
) -> None:
    symbols = [i.to_bytes(4, "little") * (1 + i % 3) for i in range(count)]
    leaves = [blake3.blake3(s + b"\x00").digest() for s in symbols]
    level = leaves
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, merkle.EMPTY]
        level = [
            blake3.blake3(level[i] + level[i + 1] + b"\x01").digest()
            for i in range(0, len(level), 2)
        ]
    root = level[0]
    tree = merkle.Tree(leaves)
    assert tree.root == root
    picked = data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=40))
    proofs = tree.proofs(picked)
    assert merkle.verify_many(
        [root] * len(picked), [symbols[i] for i in picked], picked, proofs
    ) == [True] * len(picked)
    victim = data.draw(st.integers(0, len(picked) - 1))
    bad = list(proofs)
    if bad[victim]:
        path = list(bad[victim])
        path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
        bad[victim] = path
        verdicts = merkle.verify_many(
            [root] * len(picked), [symbols[i] for i in picked], picked, bad
        )
        assert verdicts[victim] is False
