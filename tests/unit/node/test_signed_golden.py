"""The bytes of signed messages have not drifted (see ``signed_golden.py`` to
regenerate), and they name what they are for."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.node import signed_golden
from walrus_node.protocol import keys

STORED = signed_golden.load()


def test_the_file_holds_exactly_the_listed_inputs() -> None:
    assert [{k: v for k, v in s.items() if k != "expected"} for s in STORED] == (
        signed_golden.INPUTS
    )


@pytest.mark.parametrize("vector", STORED, ids=lambda v: v["name"])
def test_deletion_bytes_match_the_golden_vector(vector: dict[str, Any]) -> None:
    actual, expected = signed_golden.compute(vector), vector["expected"]
    for field in expected:
        assert actual[field] == expected[field], f"{vector['name']}: {field} changed"
    assert actual.keys() == expected.keys()
    key = bytes.fromhex(expected["owner_public_key"])
    message = bytes.fromhex(expected["message"])
    assert keys.verify(key, bytes.fromhex(expected["signature"]), message)


@pytest.mark.parametrize("vector", STORED, ids=lambda v: v["name"])
def test_a_deletion_names_its_purpose_version_network_blob_and_owner(
    vector: dict[str, Any],
) -> None:
    message = bytes.fromhex(vector["expected"]["message"])
    network = vector["network_id"].encode()
    assert message.startswith(b"walrus-k8s/deletion/v2\x00" + len(network).to_bytes(2, "little"))
    assert network in message
    assert message.endswith(
        bytes.fromhex(vector["blob_id"]) + bytes.fromhex(vector["expected"]["owner_public_key"])
    )
