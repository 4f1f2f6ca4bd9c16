"""Which rows and symbols cover a byte range, and which runs of symbols are taken
(client/stream.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.client.stream import check_run, span_of
from walrus_node.codec import encoder
from walrus_node.codec import errors as codec_errors
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.service import sliver_trees


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


def test_a_run_of_symbols_is_taken_only_whole_in_order_and_proven() -> None:
    blob = encoder.encode(os.urandom(40_000), 7)
    s, row = blob.symbol_size, 1
    data = bytes(blob.primary(row))
    tree = sliver_trees.verified_tree(blob.metadata, row, data).tree

    def symbol(j: int, *, index: int = row, payload: bytes | None = None) -> RecoverySymbol:
        part = data[j * s : (j + 1) * s] if payload is None else payload
        return RecoverySymbol(SliverType.PRIMARY, index, j, part, tuple(tree.proof(j)))

    check_run(blob.metadata, row, 1, 3, [symbol(1), symbol(2)])
    bad = {
        "too few": [symbol(1)],
        "out of order": [symbol(2), symbol(1)],
        "another row": [symbol(1, index=0), symbol(2, index=0)],
        "flipped": [symbol(1), symbol(2, payload=bytes(s))],
    }
    for why, run in bad.items():
        with pytest.raises(codec_errors.InvalidSymbolError):
            check_run(blob.metadata, row, 1, 3, run)
            raise AssertionError(why)
