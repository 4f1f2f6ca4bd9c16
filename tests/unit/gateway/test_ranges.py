"""Range headers: what is served, what is ignored, what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.gateway import ranges


def test_closed_open_and_suffix_ranges() -> None:
    assert ranges.parse("bytes=0-9", 100) == ranges.ByteRange(0, 10)
    assert ranges.parse("bytes=90-", 100) == ranges.ByteRange(90, 100)
    assert ranges.parse("bytes=-10", 100) == ranges.ByteRange(90, 100)
    assert ranges.parse("bytes=-1000", 100) == ranges.ByteRange(0, 100)
    assert ranges.parse("bytes=50-1000", 100) == ranges.ByteRange(50, 100)
    assert ranges.ByteRange(5, 10).content_range(100) == "bytes 5-9/100"


@pytest.mark.parametrize("header", [None, "items=0-5", "bytes=5-2", "bytes=-", "bytes=a-b", ""])
def test_headers_that_are_not_a_valid_range_are_ignored(header: str | None) -> None:
    assert ranges.parse(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=0-1,5-6", "bytes=-0", "bytes=200-300"])
def test_unsatisfiable_ranges_are_refused(header: str) -> None:
    with pytest.raises(ranges.Unsatisfiable):
        ranges.parse(header, 100)


def test_huge_numbers_are_not_parsed() -> None:
    assert ranges.parse("bytes=" + "9" * 5000 + "-", 100) is None


@given(st.integers(1, 10**12), st.integers(0, 10**12), st.integers(0, 10**12))
def test_a_served_range_lies_within_the_blob(total: int, a: int, b: int) -> None:
    try:
        got = ranges.parse(f"bytes={a}-{b}", total)
    except ranges.Unsatisfiable:
        assert a >= total
        return
    if b < a:
        assert got is None
        return
    assert got is not None
    assert 0 <= got.start < got.end <= total
    assert got.start == a
    assert got.end == min(b + 1, total)
