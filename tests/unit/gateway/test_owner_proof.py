"""The caller's owner key headers: a proven key is taken, anything else is refused."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.gateway import owner_proof
from walrus_node.protocol import keys


def _headers(pair: keys.KeyPair, signed: bytes | None = None) -> tuple[str, str]:
    message = owner_proof.message(pair.public_key) if signed is None else signed
    return (
        keys.encode_public_key(pair.public_key),
        base64.b64encode(pair.sign(message)).decode(),
    )


def test_a_proven_key_is_the_owner_and_no_headers_is_none() -> None:
    pair = keys.KeyPair.generate()
    assert owner_proof.parse(*_headers(pair)) == pair.public_key
    assert owner_proof.parse(None, None) is None


def test_a_proof_by_another_key_or_of_another_message_is_refused() -> None:
    pair, other = keys.KeyPair.generate(), keys.KeyPair.generate()
    owner, _ = _headers(pair)
    _, foreign = _headers(other, owner_proof.message(pair.public_key))
    with pytest.raises(owner_proof.OwnerError, match="not the owner key's signature"):
        owner_proof.parse(owner, foreign)
    _, wrong_message = _headers(pair, b"something else")
    with pytest.raises(owner_proof.OwnerError, match="not the owner key's signature"):
        owner_proof.parse(owner, wrong_message)


def test_one_header_alone_or_malformed_values_are_refused() -> None:
    owner, proof = _headers(keys.KeyPair.generate())
    for pair in ((owner, None), (None, proof), ("not base64!", proof), (owner, "%%%")):
        with pytest.raises(owner_proof.OwnerError):
            owner_proof.parse(*pair)
    with pytest.raises(owner_proof.OwnerError, match="too long"):
        owner_proof.parse(owner, "A" * 10_000)


@given(st.text(max_size=300), st.text(max_size=300))
def test_hostile_headers_never_raise_anything_but_owner_error(owner: str, proof: str) -> None:
    with contextlib.suppress(owner_proof.OwnerError):
        owner_proof.parse(owner, proof)
