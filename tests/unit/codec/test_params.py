"""Sizes and index arithmetic that follow from the shard count."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.codec import errors, params
from walrus_node.codec.params import EncodingParams, SliverType

ALL_SHARDS = st.integers(params.MIN_SHARDS, params.MAX_SHARDS)


@pytest.mark.parametrize(
    ("n", "f", "rows", "columns"),
    [(4, 1, 2, 3), (5, 1, 3, 4), (6, 1, 4, 5), (7, 2, 3, 5), (10, 3, 4, 7), (256, 85, 86, 171)],
)
def test_dimensions_for_known_shard_counts(n: int, f: int, rows: int, columns: int) -> None:
    p = EncodingParams(n)
    assert (p.f, p.rows, p.columns) == (f, rows, columns)
    assert p.symbols_in(SliverType.PRIMARY) == columns
    assert p.symbols_in(SliverType.SECONDARY) == rows
    assert p.needed_to_decode(SliverType.PRIMARY) == rows
    assert p.needed_to_decode(SliverType.SECONDARY) == columns


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(ALL_SHARDS)
def test_thresholds_tolerate_f_faults(n: int) -> None:
    p = EncodingParams(n)
    assert 3 * p.f < n <= 3 * p.f + 3
    assert p.rows >= p.f + 1  # any f+1 nodes include an honest one
    assert p.columns >= 2 * p.f + 1
    assert p.quorum + p.f == n
    assert p.validity == p.f + 1


@pytest.mark.parametrize("n", [-1, 0, 3, 1001, 65536])
def test_shard_counts_outside_4_to_1000_are_rejected(n: int) -> None:
    with pytest.raises(errors.ParameterError, match=f"between 4 and 1000, got {n}"):
        EncodingParams(n)


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(ALL_SHARDS, st.data())
def test_the_symbol_size_is_the_smallest_even_size_that_fits(n: int, data: st.DataObject) -> None:
    p = EncodingParams(n)
    length = data.draw(st.integers(0, p.max_blob_size()), label="length")
    s = p.symbol_size(length)
    assert s >= 2
    assert s % 2 == 0
    assert p.source_symbols * s >= length
    assert s == 2 or p.source_symbols * (s - 2) < length


def test_blob_length_limits_are_enforced_with_the_numbers() -> None:
    p = EncodingParams(4)
    assert p.symbol_size(p.max_blob_size()) == params.MAX_SYMBOL_SIZE
    with pytest.raises(errors.ParameterError, match=f"exceeds the maximum of {p.max_blob_size()}"):
        p.symbol_size(p.max_blob_size() + 1)
    with pytest.raises(errors.ParameterError, match="blob length must be >= 0, got -1"):
        p.symbol_size(-1)


def test_sizes_of_slivers_metadata_and_the_whole_encoding() -> None:
    p = EncodingParams(10)
    length = 10_000  # 28 source symbols of 358 bytes
    assert p.symbol_size(length) == 358
    assert p.sliver_size(SliverType.PRIMARY, length) == 7 * 358
    assert p.sliver_size(SliverType.SECONDARY, length) == 4 * 358
    assert p.metadata_size() == 11 + 64 * 10
    assert p.encoded_size(length) == 10 * (11 * 358 + 651)


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(ALL_SHARDS, st.data())
def test_pair_and_shard_mappings_are_inverse(n: int, data: st.DataObject) -> None:
    p = EncodingParams(n)
    blob_id = data.draw(st.binary(min_size=32, max_size=32), label="blob id")
    index = data.draw(st.integers(0, n - 1), label="index")
    for sliver_type in (SliverType.PRIMARY, SliverType.SECONDARY):
        pair = p.pair_of(sliver_type, index)
        assert p.sliver_in_pair(sliver_type, pair) == index
    assert p.pair_of(SliverType.SECONDARY, index) == n - 1 - index
    shard = p.shard_of_pair(blob_id, index)
    assert p.pair_on_shard(blob_id, shard) == index
    assert shard == (index + int.from_bytes(blob_id, "big")) % n


def test_index_checks_name_the_index() -> None:
    message = "target sliver index 7 out of range 0..6"
    with pytest.raises(errors.ParameterError, match=re.escape(message)):
        EncodingParams(7).check_index(7, "target sliver index")


def test_sliver_type_orthogonal_and_text() -> None:
    assert SliverType.PRIMARY.orthogonal is SliverType.SECONDARY
    assert SliverType.SECONDARY.orthogonal is SliverType.PRIMARY
    assert str(SliverType.PRIMARY) == "primary"
