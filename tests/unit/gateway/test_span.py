"""Which rows and symbols cover a byte range (client/stream.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from walrus_node.client.stream import span_of
from walrus_node.codec.metadata import BlobMetadata


def _metadata(n: int, length: int) -> BlobMetadata:
    return BlobMetadata(2, length, tuple((b"\0" * 32, b"\0" * 32) for _ in range(n)))


@given(st.integers(4, 40), st.integers(1, 5_000_000), st.data())
def test_pieces_cover_exactly_the_range_in_order(n: int, length: int, data: st.DataObject) -> None:
    metadata = _metadata(n, length)
    start = data.draw(st.integers(0, length - 1))
    end = data.draw(st.integers(start + 1, length))
    span = span_of(metadata, start, end)
    s, cols = metadata.symbol_size, metadata.params.columns
    covered = []
    for row, lo, hi in span.pieces:
        assert 0 <= row < metadata.params.rows
        assert 0 <= lo < hi <= cols
        covered.extend(row * cols + j for j in range(lo, hi))
    assert covered == list(range(start // s, (end - 1) // s + 1))


def test_a_small_range_in_a_large_blob_needs_one_symbol() -> None:
    metadata = _metadata(7, 256 << 20)
    span = span_of(metadata, 100 << 20, (100 << 20) + 1000)
    assert len(span.pieces) == 1
    _row, lo, hi = span.pieces[0]
    assert hi - lo == 1
