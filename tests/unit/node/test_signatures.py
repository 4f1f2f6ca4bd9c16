"""Ed25519 signing and verification agree with RFC 8032 and with each other:
``keys.KeyPair.sign`` (OpenSSL) and ``keys.verify`` (``ed25519-dalek``, strict).

``rfc8032_vectors.json`` holds the five test vectors of RFC 8032 section 7.1 as
published; they are never regenerated.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import edwards
from walrus_node.protocol import keys

VECTORS: list[dict[str, str]] = json.loads(
    (pathlib.Path(__file__).parent / "rfc8032_vectors.json").read_text()
)["vectors"]


def _hex(vector: dict[str, str], field: str) -> bytes:
    return bytes.fromhex(vector[field])


def _keypair(seed: bytes) -> keys.KeyPair:
    return keys.KeyPair(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def test_the_file_holds_the_five_vectors_of_rfc_8032() -> None:
    assert [v["name"] for v in VECTORS] == [
        "TEST 1",
        "TEST 2",
        "TEST 3",
        "TEST 1024",
        "TEST SHA(abc)",
    ]
    assert [len(_hex(v, "message")) for v in VECTORS] == [0, 1, 2, 1023, 64]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_rfc_8032_vectors_verify(vector: dict[str, Any]) -> None:
    key, sig, message = (
        _hex(vector, "public_key"),
        _hex(vector, "signature"),
        _hex(vector, "message"),
    )
    assert keys.verify(key, sig, message)
    assert not keys.verify(key, sig, message + b"\x00")
    assert not keys.verify(key, sig[:32] + sig[:32], message)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_keypair_signs_the_rfc_8032_bytes(vector: dict[str, Any]) -> None:
    pair = _keypair(_hex(vector, "secret_key"))
    assert pair.public_key == _hex(vector, "public_key")
    assert pair.sign(_hex(vector, "message")) == _hex(vector, "signature")


@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
@settings(max_examples=60, deadline=None)
def test_what_keypair_signs_verifies_and_nothing_nearby_does(seed: bytes, message: bytes) -> None:
    pair = _keypair(seed)
    sig = pair.sign(message)
    assert keys.verify(pair.public_key, sig, message)
    assert not keys.verify(pair.public_key, sig, message + b"!")
    for i in (0, 31, 32, 63):
        flipped = bytearray(sig)
        flipped[i] ^= 0x01
        assert not keys.verify(pair.public_key, bytes(flipped), message)


@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=100),
    byte=st.integers(0, 63),
    bit=st.integers(0, 7),
)
@settings(max_examples=60, deadline=None)
def test_everything_accepted_is_accepted_by_openssl_too(
    seed: bytes, message: bytes, byte: int, bit: int
) -> None:
    """The strict rule only removes signatures from what OpenSSL accepts (the other
    direction is the attacks of tests/adversarial/test_signature_attacks.py)."""
    pair = _keypair(seed)
    sig = bytearray(pair.sign(message))
    sig[byte] ^= 1 << bit
    for candidate in (pair.sign(message), bytes(sig)):
        if keys.verify(pair.public_key, candidate, message):
            assert edwards.openssl_accepts(pair.public_key, candidate, message)


@given(a=st.integers(1, edwards.L - 1), r=st.integers(1, edwards.L - 1), message=st.binary())
@settings(max_examples=20, deadline=None)
def test_a_signature_built_from_the_equation_verifies(a: int, r: int, message: bytes) -> None:
    """The reference arithmetic the attack tests build on makes signatures ``keys.verify``
    and OpenSSL accept when nothing is out of the ordinary."""
    public = edwards.encode(edwards.mul(a, edwards.B))
    big_r = edwards.encode(edwards.mul(r, edwards.B))
    s = (r + edwards.challenge(big_r, public, message) * a) % edwards.L
    sig = edwards.signature(big_r, s)
    assert keys.verify(public, sig, message)
    assert edwards.openssl_accepts(public, sig, message)


@given(
    public_key=st.binary(max_size=40),
    signature=st.binary(max_size=70),
    message=st.binary(max_size=64),
)
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_are_answered_never_raised(
    public_key: bytes, signature: bytes, message: bytes
) -> None:
    """Random keys, signatures and messages of any length: a bool comes back, and
    anything accepted (practically nothing) OpenSSL accepts too."""
    accepted = keys.verify(public_key, signature, message)
    assert isinstance(accepted, bool)
    if accepted:
        assert edwards.openssl_accepts(public_key, signature, message)
