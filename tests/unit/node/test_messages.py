"""Signed messages: domain separation, round trips, certificate verification."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.protocol import keys, messages

BLOB = bytes(range(32))


class Weights:
    """A committee as far as certificate verification sees it: key -> shards."""

    def __init__(self, shards: dict[bytes, int]) -> None:
        self.shards = shards
        self.n_shards = sum(shards.values())

    def shard_count_of(self, public_key: bytes) -> int:
        return self.shards.get(public_key, 0)


def _certificate(signers: list[keys.KeyPair], registration: messages.BlobRegistration):  # type: ignore[no-untyped-def]
    message = messages.confirmation_message(3, BLOB, registration)
    return messages.Certificate(
        3, BLOB, registration, tuple((k.public_key, k.sign(message)) for k in signers)
    )


@given(
    end=st.integers(0, 2**64 - 1),
    length=st.integers(0, 2**64 - 1),
    owner=st.one_of(st.just(b""), st.binary(min_size=32, max_size=32)),
)
def test_registrations_and_certificates_round_trip(end: int, length: int, owner: bytes) -> None:
    reg = messages.BlobRegistration(end, bool(owner), owner, length)
    parsed, used = messages.BlobRegistration.from_bytes(reg.to_bytes())
    assert parsed == reg and used == len(reg.to_bytes())
    cert = messages.Certificate(7, BLOB, reg, ((bytes(32), bytes(64)),))
    assert messages.Certificate.from_bytes(cert.to_bytes()) == cert


def test_signatures_are_bound_to_their_purpose() -> None:
    key = keys.KeyPair.generate()
    reg = messages.BlobRegistration(5)
    confirmation = messages.confirmation_message(1, BLOB, reg)
    deletion = messages.deletion_message("", 1, BLOB, key.public_key)
    signature = key.sign(confirmation)
    assert keys.verify(key.public_key, signature, confirmation)
    assert not keys.verify(key.public_key, signature, deletion)
    assert not keys.verify(key.public_key, signature, messages.confirmation_message(2, BLOB, reg))


def test_a_quorum_of_valid_signatures_verifies_and_returns_its_weight() -> None:
    signers = [keys.KeyPair.generate() for _ in range(7)]
    weights = Weights({k.public_key: 1 for k in signers})
    reg = messages.BlobRegistration(5)
    assert messages.verify_certificate(_certificate(signers[:5], reg), weights) == 5


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda c, s: dataclasses.replace(c, signatures=c.signatures[:4]), "needs 5"),
        (lambda c, s: dataclasses.replace(c, signatures=c.signatures + c.signatures[:1]), "twice"),
        (lambda c, s: dataclasses.replace(c, epoch=4), "does not verify"),
        (
            lambda c, s: dataclasses.replace(
                c, signatures=((keys.KeyPair.generate().public_key, bytes(64)), *c.signatures)
            ),
            "not in the committee",
        ),
    ],
)
def test_bad_certificates_are_refused_with_the_reason(tamper, reason) -> None:  # type: ignore[no-untyped-def]
    signers = [keys.KeyPair.generate() for _ in range(7)]
    weights = Weights({k.public_key: 1 for k in signers})
    cert = tamper(_certificate(signers[:5], messages.BlobRegistration(5)), signers)
    with pytest.raises(messages.CertificateError, match=reason):
        messages.verify_certificate(cert, weights)


def test_registration_problems_name_the_field() -> None:
    assert messages.BlobRegistration(5, deletable=True).problems() == [
        "owner_public_key: a deletable blob needs a 32-byte Ed25519 owner key"
    ]
    assert messages.BlobRegistration(5, owner_public_key=bytes(32)).problems()


def _counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    checked: list[bytes] = []
    real = keys.verify

    def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
        checked.append(public_key)
        return real(public_key, signature, message)

    monkeypatch.setattr(keys, "verify", verify)
    return checked


def test_the_signature_a_node_made_itself_is_not_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signers = [keys.KeyPair.generate() for _ in range(7)]
    weights = Weights({k.public_key: 1 for k in signers})
    reg = messages.BlobRegistration(5)
    cert = _certificate(signers[:5], reg)
    own_signer, own_signature = cert.signatures[2]
    made_here = messages.Confirmation(3, BLOB, reg, own_signer, own_signature)
    checked = _counting_verify(monkeypatch)
    assert messages.verify_certificate(cert, weights, made_here) == 5
    assert len(checked) == 4 and own_signer not in checked


def test_a_forged_signature_in_a_node_s_own_slot_is_still_refused() -> None:
    signers = [keys.KeyPair.generate() for _ in range(7)]
    weights = Weights({k.public_key: 1 for k in signers})
    reg = messages.BlobRegistration(5)
    cert = _certificate(signers[:5], reg)
    signer, real = cert.signatures[2]
    forged = bytes(64)
    signatures = list(cert.signatures)
    signatures[2] = (signer, forged)
    cert = dataclasses.replace(cert, signatures=tuple(signatures))
    for made_here in (
        messages.Confirmation(3, BLOB, reg, signer, real),  # what the node really signed
        messages.Confirmation(2, BLOB, reg, signer, forged),  # "signed" for another statement
    ):
        with pytest.raises(messages.CertificateError, match="does not verify"):
            messages.verify_certificate(cert, weights, made_here)
