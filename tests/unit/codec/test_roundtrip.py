"""Round trips: every blob decodes back from any threshold-sized set of slivers."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import decoder, encoder, slivers
from walrus_node.codec.params import EncodingParams, SliverType


def _decode(enc: encoder.EncodedBlob, sliver_type: SliverType, indices: list[int]) -> bytes:
    given_slivers = samples.slivers_of(enc, sliver_type, indices)
    if sliver_type is SliverType.PRIMARY:
        return decoder.decode_primary(enc.metadata, given_slivers)
    return decoder.decode_secondary(enc.metadata, given_slivers)


@settings(max_examples=60, deadline=None)
@given(n=samples.shards, length=samples.lengths, data=st.data())
def test_blob_round_trips_through_random_threshold_subsets(
    n: int, length: int, data: st.DataObject
) -> None:
    enc = samples.encoded(n, length)
    blob = samples.blob(length)
    params = enc.params
    for sliver_type in samples.SLIVER_TYPES:
        need = params.needed_to_decode(sliver_type)
        order = data.draw(st.permutations(range(n)), label=f"{sliver_type} order")
        assert _decode(enc, sliver_type, order[:need]) == blob


@settings(max_examples=40, deadline=None)
@given(n=samples.shards, length=samples.lengths)
def test_every_sliver_of_an_encoding_verifies_and_has_the_stated_size(n: int, length: int) -> None:
    enc = samples.encoded(n, length)
    params = enc.params
    assert enc.symbol_size == params.symbol_size(length)
    assert enc.metadata.unencoded_length == length
    assert enc.metadata.blob_id() == enc.blob_id
    for sliver_type in samples.SLIVER_TYPES:
        for i in range(n):
            data = samples.sliver_bytes(enc, sliver_type, i)
            assert len(data) == params.sliver_size(sliver_type, length)
            slivers.verify_sliver(enc.metadata, sliver_type, i, data)


@pytest.mark.parametrize("length", [0, 1])
@pytest.mark.parametrize("n", [4, 5, 6, 7, 255, 256])
def test_tiny_blobs_round_trip_at_the_extreme_shard_counts(n: int, length: int) -> None:
    enc = samples.encoded(n, length)
    rng = random.Random(n)
    for sliver_type in samples.SLIVER_TYPES:
        indices = samples.subset("random", enc.params, sliver_type, rng)
        assert _decode(enc, sliver_type, indices) == samples.blob(length)


def test_a_blob_that_fills_the_matrix_exactly_has_no_padding() -> None:
    params = EncodingParams(10)
    length = params.source_symbols * 8
    enc = samples.encoded(10, length)
    assert enc.symbol_size == 8
    assert _decode(enc, SliverType.PRIMARY, list(range(params.rows))) == samples.blob(length)


def test_the_encoding_is_deterministic() -> None:
    blob = samples.blob(5000, seed=3)
    first, second = encoder.encode(blob, 13), encoder.encode(blob, 13)
    assert first.metadata == second.metadata
    assert all(first.primary(i) == second.primary(i) for i in range(13))


def test_encode_accepts_any_bytes_like_input() -> None:
    blob = samples.blob(3000, seed=4)
    expected = encoder.encode(blob, 7).blob_id
    assert encoder.encode(bytearray(blob), 7).blob_id == expected
    assert encoder.encode(memoryview(blob), 7).blob_id == expected


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    n=st.one_of(st.just(256), st.integers(41, 256)),
    length=st.one_of(st.sampled_from([0, 1]), st.integers(0, 300_000)),
    data=st.data(),
)
def test_blob_round_trips_at_large_shard_counts(n: int, length: int, data: st.DataObject) -> None:
    blob = samples.blob(length, seed=n)
    enc = encoder.encode(blob, n)
    for sliver_type in samples.SLIVER_TYPES:
        need = enc.params.needed_to_decode(sliver_type)
        order = data.draw(st.permutations(range(n)), label=f"{sliver_type} order")
        assert _decode(enc, sliver_type, order[:need]) == blob
