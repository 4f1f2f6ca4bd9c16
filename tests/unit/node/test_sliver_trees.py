"""Kept Merkle trees of primary slivers: built only from the committed sliver, proving
its symbols against the metadata, and held within their byte limit."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec import encoder, merkle, recovery, slivers
from walrus_node.codec import errors as codec_errors
from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.service import sliver_trees


def test_a_verified_tree_proves_each_source_symbol_against_the_metadata() -> None:
    blob = encoder.encode(os.urandom(50_000), 7)
    s, cols = blob.symbol_size, blob.params.columns
    for index in range(blob.params.n_shards):
        data = bytes(blob.primary(index))
        kept = sliver_trees.verified_tree(blob.metadata, index, data)
        for j in range(cols):
            symbol = data[j * s : (j + 1) * s]
            proof = tuple(kept.tree.proof(j))
            recovery.verify_symbol(
                blob.metadata, RecoverySymbol(SliverType.PRIMARY, index, j, symbol, proof)
            )
        assert kept.matches(1, [data[s : 2 * s], data[2 * s : 3 * s]])
        assert not kept.matches(1, [data[2 * s : 3 * s]])
        assert not kept.matches(cols - 1, [data[:s], data[:s]])  # past the source symbols


def test_no_tree_comes_from_a_sliver_the_metadata_does_not_commit_to() -> None:
    blob = encoder.encode(os.urandom(50_000), 7)
    data = bytearray(blob.primary(0))
    data[len(data) // 2] ^= 1
    with pytest.raises(codec_errors.InvalidSliverError, match="does not match"):
        sliver_trees.verified_tree(blob.metadata, 0, bytes(data))
    with pytest.raises(codec_errors.InvalidSliverError, match="size"):
        sliver_trees.verified_tree(blob.metadata, 0, bytes(data[:-1]))
    with pytest.raises(codec_errors.InvalidSliverError):
        sliver_trees.verified_tree(blob.metadata, 1, bytes(blob.primary(0)))


@given(
    limit=st.integers(0, 20_000),
    puts=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 40)), max_size=60),
)
def test_the_cache_stays_within_its_bytes_and_keeps_the_most_recent(
    limit: int, puts: list[tuple[int, int]]
) -> None:
    cache = sliver_trees.TreeCache(limit)
    for key, n in puts:
        kept = sliver_trees.KeptTree(bytes(32 * n))
        cache.put((b"blob", key), kept)
        assert cache.used <= limit
        if kept.size <= limit:
            assert cache.get((b"blob", key)) is kept
    assert cache.used == sum(
        k.size for k in (cache.get((b"blob", key)) for key in range(31)) if k is not None
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(4, 40),
    length=st.integers(1, 30_000),
    sliver_type=st.sampled_from(list(SliverType)),
    data=st.data(),
)
def test_a_slivers_leaves_are_those_of_its_expanded_symbols(
    n: int, length: int, sliver_type: SliverType, data: st.DataObject
) -> None:
    """The native leaves (sliver hashed where it lies, parity computed apart) are the leaf
    hashes of the sliver's expanded row or column, and their root is the committed one."""
    blob = encoder.encode(os.urandom(length), n)
    index = data.draw(st.integers(0, n - 1))
    sliver = bytes(blob.sliver(sliver_type, index))
    params, s = blob.params, blob.symbol_size
    leaves = slivers.sliver_leaves(params, sliver_type, sliver, s)
    expanded = slivers.expand(params, sliver_type, sliver, s)
    assert merkle.split(leaves) == slivers.leaf_hashes(expanded)
    assert merkle.Tree(leaves).root == blob.metadata.sliver_hash(sliver_type, index)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 40),
    length=st.integers(1, 20_000),
    sliver_type=st.sampled_from(list(SliverType)),
    data=st.data(),
)
def test_slivers_checked_together_are_checked_as_one_by_one(
    n: int, length: int, sliver_type: SliverType, data: st.DataObject
) -> None:
    """The batched checks (one native call for many slivers) keep the same leaves as
    one sliver at a time, and refuse the first sliver that is not the committed one."""
    blob = encoder.encode(os.urandom(length), n)
    indices = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    items = [(i, bytes(blob.sliver(sliver_type, i))) for i in indices]
    params, s = blob.params, blob.symbol_size
    many = slivers.sliver_leaves_many(params, sliver_type, [d for _, d in items], s)
    assert many == [slivers.sliver_leaves(params, sliver_type, d, s) for _, d in items]
    slivers.verify_slivers(blob.metadata, sliver_type, items)
    if sliver_type is SliverType.PRIMARY:
        kept = sliver_trees.verified_trees(blob.metadata, items)
        assert [k.leaves for k in kept] == many
    bad = data.draw(st.sampled_from(range(len(items))))
    forged = bytearray(items[bad][1])
    forged[data.draw(st.integers(0, len(forged) - 1))] ^= 1
    items[bad] = (items[bad][0], bytes(forged))
    checks = [lambda: slivers.verify_slivers(blob.metadata, sliver_type, items)]
    if sliver_type is SliverType.PRIMARY:
        checks.append(lambda: sliver_trees.verified_trees(blob.metadata, items))
    for check in checks:
        with pytest.raises(
            codec_errors.InvalidSliverError, match=f"{sliver_type} sliver {items[bad][0]}\\b"
        ):
            check()
