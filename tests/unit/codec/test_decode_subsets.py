"""Decoding from every kind of minimal subset of slivers, and from too few."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import decoder, errors
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType

DECODERS = {
    SliverType.PRIMARY: decoder.decode_primary,
    SliverType.SECONDARY: decoder.decode_secondary,
}

# 3f+1, 3f+2 and 3f+3 shard counts, small and medium: the thresholds differ for each.
SHARD_COUNTS = [4, 5, 6, 7, 8, 9, 10, 12, 13, 31, 32, 33]


def _decode(metadata: BlobMetadata, sliver_type: SliverType, given: dict[int, bytes]) -> bytes:
    return DECODERS[sliver_type](metadata, given)


@pytest.mark.parametrize("kind", samples.SUBSET_KINDS)
@pytest.mark.parametrize("sliver_type", samples.SLIVER_TYPES, ids=str)
@pytest.mark.parametrize("n", SHARD_COUNTS)
def test_blob_decodes_from_a_minimal_subset_of_each_kind(
    n: int, sliver_type: SliverType, kind: str
) -> None:
    length = 1000 + 37 * n
    enc = samples.encoded(n, length)
    indices = samples.subset(kind, enc.params, sliver_type, random.Random(f"{n}{kind}"))
    assert len(indices) == enc.params.needed_to_decode(sliver_type)
    given = samples.slivers_of(enc, sliver_type, indices)
    assert _decode(enc.metadata, sliver_type, given) == samples.blob(length)


@pytest.mark.parametrize("n", [4, 7, 10, 12, 13, 31, 100])
def test_parity_primary_slivers_alone_decode(n: int) -> None:
    # Only primary slivers can: the 2f parity ones reach the threshold n - 2f for these n,
    # while the f parity secondary slivers never reach n - f.
    enc = samples.encoded(n, 4321)
    params = enc.params
    parity = list(range(params.rows, n))
    assert len(parity) >= params.rows
    given = samples.slivers_of(enc, SliverType.PRIMARY, parity[-params.rows :])
    assert decoder.decode_primary(enc.metadata, given) == samples.blob(4321)


@settings(max_examples=50, deadline=None)
@given(
    n=samples.shards,
    length=samples.lengths,
    sliver_type=samples.sliver_types(),
    kind=st.sampled_from(samples.SUBSET_KINDS),
    seed=st.integers(0, 2**32),
)
def test_any_kind_of_minimal_subset_decodes(
    n: int, length: int, sliver_type: SliverType, kind: str, seed: int
) -> None:
    enc = samples.encoded(n, length)
    indices = samples.subset(kind, enc.params, sliver_type, random.Random(seed))
    given = samples.slivers_of(enc, sliver_type, indices)
    assert _decode(enc.metadata, sliver_type, given) == samples.blob(length)


@settings(max_examples=30, deadline=None)
@given(n=samples.shards, sliver_type=samples.sliver_types(), data=st.data())
def test_extra_slivers_beyond_the_threshold_are_fine(
    n: int, sliver_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, 2500)
    need = enc.params.needed_to_decode(sliver_type)
    count = data.draw(st.integers(need, n), label="count")
    order = data.draw(st.permutations(range(n)), label="order")
    given = samples.slivers_of(enc, sliver_type, order[:count])
    assert _decode(enc.metadata, sliver_type, given) == samples.blob(2500)


@settings(max_examples=30, deadline=None)
@given(n=samples.shards, sliver_type=samples.sliver_types(), data=st.data())
def test_one_sliver_fewer_than_the_threshold_is_not_enough_data(
    n: int, sliver_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, 700)
    need = enc.params.needed_to_decode(sliver_type)
    order = data.draw(st.permutations(range(n)), label="order")
    count = data.draw(st.integers(0, need - 1), label="count")
    given = samples.slivers_of(enc, sliver_type, order[:count])
    with pytest.raises(errors.NotEnoughDataError) as caught:
        _decode(enc.metadata, sliver_type, given)
    assert (caught.value.needed, caught.value.got) == (need, count)
    assert f"need {need} distinct, got {count}" in str(caught.value)
    assert str(sliver_type) in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("kind", samples.SUBSET_KINDS)
@pytest.mark.parametrize("sliver_type", samples.SLIVER_TYPES, ids=str)
@pytest.mark.parametrize("n", [100, 255, 256])
def test_large_shard_counts_decode_from_each_kind_of_subset(
    n: int, sliver_type: SliverType, kind: str
) -> None:
    length = 50_000
    enc = samples.encoded(n, length)
    indices = samples.subset(kind, enc.params, sliver_type, random.Random(f"{n}{kind}"))
    given = samples.slivers_of(enc, sliver_type, indices)
    assert _decode(enc.metadata, sliver_type, given) == samples.blob(length)
