"""Blob metadata, blob IDs and their wire format."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import errors, merkle, metadata
from walrus_node.codec.params import SliverType


@settings(max_examples=30, deadline=None)
@given(n=samples.shards, length=samples.lengths)
def test_metadata_round_trips_through_its_wire_format(n: int, length: int) -> None:
    meta = samples.encoded(n, length).metadata
    raw = meta.to_bytes()
    assert len(raw) == meta.params.metadata_size() == 11 + 64 * n
    assert metadata.BlobMetadata.from_bytes(raw) == meta
    assert metadata.verify_metadata(meta.blob_id(), raw, n_shards=n) == meta


def test_the_wire_format_and_blob_id_derivation() -> None:
    meta = samples.encoded(4, 5).metadata
    raw = meta.to_bytes()
    assert raw[:11] == struct.pack("<BHQ", 3, 4, 5)
    assert raw[11:] == b"".join(p + s for p, s in meta.pair_hashes)
    root = merkle.root([merkle.leaf(p + s) for p, s in meta.pair_hashes])
    assert meta.blob_id().raw == merkle.hash_bytes(struct.pack("<BQ", 3, 5) + root)


def test_sliver_hashes_follow_the_pair_layout() -> None:
    enc = samples.encoded(7, 100)
    for p, (primary, secondary) in enumerate(enc.metadata.pair_hashes):
        assert enc.metadata.sliver_hash(SliverType.PRIMARY, p) == primary
        assert enc.metadata.sliver_hash(SliverType.SECONDARY, 6 - p) == secondary
        first, second = enc.pair(p)
        assert first == enc.primary(p)
        assert second == enc.secondary(6 - p)


@settings(deadline=None)  # no flaky deadlines on a busy machine
@given(st.binary(min_size=32, max_size=32))
def test_blob_ids_print_as_43_characters_of_base64url_and_parse_back(raw: bytes) -> None:
    blob_id = metadata.BlobId(raw)
    text = str(blob_id)
    assert len(text) == 43
    assert "=" not in text
    assert metadata.BlobId.parse(text) == blob_id
    assert metadata.BlobId.parse(f"  {text}\n") == blob_id
    assert repr(blob_id) == f"BlobId({text})"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "43 base64url characters, got 3"),
        ("A" * 44, "43 base64url characters, got 44"),
        ("A" * 42 + "B", "not in canonical base64url form"),  # non-zero trailing bits
        ("A" * 42 + "!", "not valid base64url"),
        ("+" * 42 + "A", "not in canonical base64url form"),  # not the URL-safe alphabet
        ("A" * 41 + "!!", "not valid base64url"),
    ],
)
def test_bad_blob_id_text_is_rejected_saying_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        metadata.BlobId.parse(text)


def test_a_blob_id_is_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes, got 31"):
        metadata.BlobId(bytes(31))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "0 bytes is shorter than the header"),
        (struct.pack("<BHQ", 9, 4, 0) + bytes(256), "unknown encoding type 9"),
        # Type 2 (GF(2^8), before 1000 shards) is no longer read.
        (struct.pack("<BHQ", 2, 4, 0) + bytes(256), "unknown encoding type 2"),
        (struct.pack("<BHQ", 3, 3, 0) + bytes(192), "shard count 3 out of range"),
        (struct.pack("<BHQ", 3, 1001, 0), "shard count 1001 out of range"),
        (struct.pack("<BHQ", 3, 4, 0) + bytes(255), "length 266 bytes, expected 267 for 4 shards"),
        (struct.pack("<BHQ", 3, 4, 1 << 40) + bytes(256), "unencoded length 1099511627776"),
    ],
)
def test_malformed_metadata_is_rejected_saying_why(raw: bytes, reason: str) -> None:
    with pytest.raises(errors.InvalidMetadataError, match=reason):
        metadata.BlobMetadata.from_bytes(raw)


def test_metadata_for_another_shard_count_than_the_network_is_rejected() -> None:
    meta = samples.encoded(7, 10).metadata
    with pytest.raises(errors.InvalidMetadataError, match="for 7 shards, the network has 10"):
        metadata.verify_metadata(meta.blob_id(), meta.to_bytes(), n_shards=10)
