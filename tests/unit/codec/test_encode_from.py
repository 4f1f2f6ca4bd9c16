"""Encoding from a reader gives exactly the encoding of the bytes, reads in bounded
pieces straight into the matrix, and refuses a reader that ends early."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import golden, samples
from walrus_node.codec import encoder, errors
from walrus_node.codec.encoder import PIECES_MIN_SYMBOL_SIZE
from walrus_node.codec.params import EncodingParams


class Trickle(io.RawIOBase):
    """A reader that gives at most ``most`` bytes per call and records what it was asked."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data = memoryview(data)
        self._at = 0
        self.most = most
        self.asked: list[int] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self.asked.append(len(view))
        count = min(len(view), self.most, len(self._data) - self._at)
        view[:count] = self._data[self._at : self._at + count]
        self._at += count
        return count


def _same_encoding(a: encoder.EncodedBlob, b: encoder.EncodedBlob) -> None:
    assert a.blob_id == b.blob_id
    assert a.metadata == b.metadata
    assert a.symbol_size == b.symbol_size
    for i in range(a.params.n_shards):
        assert bytes(a.primary(i)) == bytes(b.primary(i))
        assert bytes(a.secondary(i)) == bytes(b.secondary(i))


@settings(max_examples=30, deadline=None)
@given(n=samples.shards, length=samples.lengths)
def test_secondary_pieces_are_the_secondary_sliver_in_order(n: int, length: int) -> None:
    enc = samples.encoded(n, length)
    for i in range(n):
        pieces = enc.secondary_pieces(i)
        assert len(pieces) == 1  # small symbols: gathered
        assert b"".join(pieces) == bytes(enc.secondary(i))


@pytest.mark.parametrize("n", [4, 7])
def test_big_symbols_are_handed_out_as_views_and_small_ones_gathered(n: int) -> None:
    """From PIECES_MIN_SYMBOL_SIZE on, a secondary sliver's pieces are views of its
    symbols in the matrix (no copy), in order; just below it, one gathered copy."""
    params = EncodingParams(n)
    source = params.rows * params.columns
    for s, pieces_expected in (
        (PIECES_MIN_SYMBOL_SIZE, params.rows),
        (PIECES_MIN_SYMBOL_SIZE - 2, 1),
    ):
        enc = encoder.encode(os.urandom(source * s), n)
        assert enc.symbol_size == s
        for i in range(n):
            pieces = enc.secondary_pieces(i)
            assert len(pieces) == pieces_expected
            assert b"".join(pieces) == bytes(enc.secondary(i))


def _row_edges(n: int) -> st.SearchStrategy[int]:
    """Lengths at and around whole source rows of the smallest symbol size (2 bytes)."""
    params = EncodingParams(n)
    row = params.columns * 2
    return st.integers(0, params.rows).flatmap(
        lambda rows: st.sampled_from([max(0, rows * row + d) for d in (-1, 0, 1)])
    )


@settings(max_examples=60, deadline=None)
@given(
    n=samples.shards,
    data=st.data(),
    most=st.integers(1, 5000),
)
def test_a_reader_encodes_to_the_same_blob_id_and_slivers_as_its_bytes(
    n: int, data: st.DataObject, most: int
) -> None:
    length = data.draw(st.one_of(samples.lengths, _row_edges(n)), label="length")
    blob = samples.blob(length)
    reader = Trickle(blob, most)
    _same_encoding(encoder.encode_from(reader, length, n), samples.encoded(n, length))


@pytest.mark.parametrize("vector", golden.load(), ids=lambda v: v["name"])
def test_a_reader_reproduces_the_golden_vectors(vector: dict[str, Any]) -> None:
    blob = golden.blob_of(vector)
    enc = encoder.encode_from(io.BytesIO(blob), len(blob), vector["n_shards"])
    expected = vector["expected"]
    assert str(enc.blob_id) == expected["blob_id"]
    assert golden.sha256_hex(enc.metadata.to_bytes()) == expected["metadata_sha256"]
    n = vector["n_shards"]
    assert [golden.sha256_hex(enc.primary(i)) for i in range(n)] == expected["primary_sha256"]
    assert [golden.sha256_hex(enc.secondary(i)) for i in range(n)] == expected["secondary_sha256"]


def test_reads_are_at_most_a_chunk_each_and_never_past_the_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoder, "READ_CHUNK", 64)
    n, length = 10, 5000
    blob = samples.blob(length + 100)
    reader = Trickle(blob, most=1 << 30)
    enc = encoder.encode_from(reader, length, n)
    assert max(reader.asked) <= 64
    assert sum(min(a, reader.most) for a in reader.asked) == length
    assert reader.read() == blob[length:]  # left just after the blob
    _same_encoding(enc, samples.encoded(n, length))


def test_progress_is_told_every_byte_read() -> None:
    told: list[int] = []
    length = 3 * encoder.READ_CHUNK // 2
    blob = bytes(range(256)) * (length // 256)
    encoder.encode_from(io.BytesIO(blob), len(blob), 4, told.append)
    assert sum(told) == len(blob)
    assert len(told) >= 2


@pytest.mark.parametrize("short_by", [1, 777])
def test_a_reader_that_ends_early_is_an_error_not_a_blob_id(short_by: int) -> None:
    blob = samples.blob(10_000)
    with pytest.raises(errors.ShortReadError) as caught:
        encoder.encode_from(io.BytesIO(blob[:-short_by]), len(blob), 7)
    assert (caught.value.expected, caught.value.got) == (len(blob), len(blob) - short_by)
    assert "ended after" in str(caught.value)


def test_a_reader_with_no_data_yet_counts_as_ended() -> None:
    class NonBlocking(io.RawIOBase):
        def readinto(self, buffer: Any) -> None:
            return None

    with pytest.raises(errors.ShortReadError):
        encoder.encode_from(NonBlocking(), 10, 4)


def test_a_reader_claiming_more_than_it_was_asked_for_is_refused() -> None:
    class Boastful(io.RawIOBase):
        def readinto(self, buffer: Any) -> int:
            return len(memoryview(buffer)) + 1

    with pytest.raises(ValueError, match="readinto returned"):
        encoder.encode_from(Boastful(), 1000, 4)


def test_a_length_beyond_the_maximum_is_a_parameter_error() -> None:
    params = EncodingParams(4)
    with pytest.raises(errors.ParameterError):
        encoder.encode_from(io.BytesIO(b""), params.max_blob_size() + 1, 4)
