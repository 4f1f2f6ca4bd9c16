"""The encoding of fixed inputs has not drifted (see ``golden.py`` to regenerate)."""

from __future__ import annotations

import struct
from typing import Any

import blake3
import pytest

from tests.unit.codec import golden
from walrus_node.codec import decoder, encoder, metadata

STORED = golden.load()


def test_the_file_holds_exactly_the_listed_inputs() -> None:
    stored_inputs = [{k: v for k, v in vector.items() if k != "expected"} for vector in STORED]
    assert stored_inputs == golden.INPUTS


@pytest.mark.parametrize("vector", STORED, ids=lambda v: v["name"])
def test_encoding_matches_the_golden_vector(vector: dict[str, Any]) -> None:
    actual, expected = golden.compute(vector), vector["expected"]
    # Field by field, so that a failure says what drifted.
    for field in expected:
        assert actual[field] == expected[field], f"{vector['name']}: {field} changed"
    assert actual.keys() == expected.keys()


def test_the_empty_blob_at_four_shards_has_the_documented_layout() -> None:
    vector = next(v for v in STORED if v["name"] == "n4-empty")
    expected = vector["expected"]
    assert expected["symbol_size"] == 2
    assert len(expected["primary_sha256"]) == len(expected["secondary_sha256"]) == 4
    # Every sliver of an empty blob is zeros: primary slivers 3 symbols, secondary 2.
    assert set(expected["primary_sha256"]) == {golden.sha256_hex(bytes(6))}
    assert set(expected["secondary_sha256"]) == {golden.sha256_hex(bytes(4))}
    assert len(expected["recovery_symbol"]["proof"]) == 2


def test_golden_blob_ids_parse_and_blobs_decode() -> None:
    for vector in STORED:
        blob_id = metadata.BlobId.parse(vector["expected"]["blob_id"])
        assert str(blob_id) == vector["expected"]["blob_id"]
    walrus = next(v for v in STORED if v["name"] == "n7-walrus")
    enc = encoder.encode(golden.blob_of(walrus), walrus["n_shards"])
    secondary = {i: enc.secondary(i) for i in range(7)}
    assert decoder.decode_secondary(enc.metadata, secondary) == b"walrus"


def test_the_empty_blob_id_at_four_shards_follows_from_the_spec_by_hand() -> None:
    # An independent derivation with plain BLAKE3: every symbol of an empty blob is two
    # zero bytes (a code is linear, so zeros extend to zeros), so all 8 slivers commit to
    # the same 4-leaf tree.
    def h(data: bytes) -> bytes:
        return blake3.blake3(data).digest()

    leaf = h(b"\x00\x00" + b"\x00")  # symbol 0x0000, leaf tag 0x00
    node = h(leaf + leaf + b"\x01")
    sliver_root = h(node + node + b"\x01")
    pair = h(sliver_root + sliver_root + b"\x00")
    pair_node = h(pair + pair + b"\x01")
    blob_root = h(pair_node + pair_node + b"\x01")
    blob_id = h(struct.pack("<BQ", 3, 0) + blob_root)
    vector = next(v for v in STORED if v["name"] == "n4-empty")
    assert vector["expected"]["blob_id"] == str(metadata.BlobId(blob_id))


def test_the_regeneration_command_without_write_only_checks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = golden.PATH.read_bytes()
    assert golden.main([]) == 0
    count = len(golden.INPUTS)
    assert f"{count} of {count} vectors match" in capsys.readouterr().out
    assert golden.PATH.read_bytes() == before
