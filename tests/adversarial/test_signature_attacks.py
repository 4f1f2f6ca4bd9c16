"""Ed25519 signatures no honest signer makes, which OpenSSL's verification accepted
and ``keys.verify`` must refuse (docs/security.md, "Signatures").

Each attack is built from the curve equation (``tests.support.edwards``) and first
checked to be a real one: it satisfies RFC 8032's cofactorless equation ``[S]B = R + [k]A``
and, where OpenSSL accepts it, ``cryptography`` says so, so each test fails against the
verification this project used before. The worst of them: a deletable blob whose owner
key is a small-order point (the identity ``01 00 .. 00``) could be deleted by anyone,
since for such a key ``R = [S]B`` satisfies the equation for every message.
"""

from __future__ import annotations

import pytest

from tests.support import edwards
from walrus_node.protocol import keys, messages

IDENTITY = bytes([1]) + bytes(31)
T8 = edwards.order_8_point()


def _satisfies_equation(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """RFC 8032's cofactorless check on the points, without any other rule."""
    a, r = edwards.decode(public_key), edwards.decode(signature[:32])
    assert a is not None and r is not None
    s = int.from_bytes(signature[32:], "little")
    k = edwards.challenge(signature[:32], public_key, message)
    return edwards.mul(s, edwards.B) == edwards.add(r, edwards.mul(k, a))


def _forge_for_small_order_key(public_key: bytes, message: bytes) -> bytes:
    """A signature of ``message`` by a small-order key that needs no secret: with
    ``R = [s]B`` the equation holds whenever ``[k]A`` is the identity."""
    a = edwards.decode(public_key)
    assert a is not None
    for s in range(1, 1000):
        r = edwards.encode(edwards.mul(s, edwards.B))
        if edwards.mul(edwards.challenge(r, public_key, message), a) == edwards.IDENTITY:
            return edwards.signature(r, s)
    raise AssertionError("no forgery found")


def test_the_identity_key_signs_nothing() -> None:
    for message in (b"", b"delete blob 1", b"delete blob 2"):
        forged = _forge_for_small_order_key(IDENTITY, message)
        assert _satisfies_equation(IDENTITY, forged, message)
        assert edwards.openssl_accepts(IDENTITY, forged, message)
        assert not keys.verify(IDENTITY, forged, message)


@pytest.mark.parametrize("multiple", range(8))
def test_no_small_order_key_signs_anything(multiple: int) -> None:
    """All eight points of order dividing 8, and the identity with ``y`` written as
    ``p + 1`` (a non-canonical encoding)."""
    key = edwards.encode(edwards.mul(multiple, T8))
    forged = _forge_for_small_order_key(key, b"message")
    assert edwards.openssl_accepts(key, forged, b"message")
    assert not keys.verify(key, forged, b"message")


def test_a_non_canonical_identity_key_signs_nothing() -> None:
    key = (edwards.P + 1).to_bytes(32, "little")
    forged = _forge_for_small_order_key(key, b"message")
    assert edwards.openssl_accepts(key, forged, b"message")
    assert not keys.verify(key, forged, b"message")


def test_a_small_order_r_is_refused() -> None:
    """A key with a torsion component (``[a]B + T8``, whose owner knows ``a``) and
    ``R = T8``: the equation holds when ``[k]T8 = -T8``, i.e. ``k = 7 (mod 8)``."""
    a = 987_654_321
    key = edwards.encode(edwards.add(edwards.mul(a, edwards.B), T8))
    r = edwards.encode(T8)
    message = next(
        m for m in (b"m%d" % i for i in range(1000)) if edwards.challenge(r, key, m) % 8 == 7
    )
    sig = edwards.signature(r, edwards.challenge(r, key, message) * a % edwards.L)
    assert _satisfies_equation(key, sig, message)
    assert edwards.openssl_accepts(key, sig, message)
    assert not keys.verify(key, sig, message)


def test_a_mixed_order_key_still_verifies_its_own_signatures() -> None:
    """What the rule does not refuse: a key with a torsion component, R of full
    order. The equation holds only for the messages with ``k = 0 (mod 8)``, and no
    one but the key's owner can make them; OpenSSL agrees."""
    a, r_scalar = 987_654_321, 55_555
    key = edwards.encode(edwards.add(edwards.mul(a, edwards.B), T8))
    r = edwards.encode(edwards.mul(r_scalar, edwards.B))
    message = next(
        m for m in (b"m%d" % i for i in range(1000)) if edwards.challenge(r, key, m) % 8 == 0
    )
    sig = edwards.signature(r, (r_scalar + edwards.challenge(r, key, message) * a) % edwards.L)
    assert keys.verify(key, sig, message)
    assert edwards.openssl_accepts(key, sig, message)


def test_a_malleated_s_is_refused() -> None:
    pair = keys.KeyPair.generate()
    sig = pair.sign(b"message")
    s = int.from_bytes(sig[32:], "little")
    malleated = edwards.signature(sig[:32], s + edwards.L)
    assert _satisfies_equation(pair.public_key, malleated, b"message")
    assert not keys.verify(pair.public_key, malleated, b"message")
    for bad_s in (edwards.L, 2**253 - 1, 2**256 - 1):
        assert not keys.verify(pair.public_key, edwards.signature(sig[:32], bad_s), b"message")


def test_wrong_keys_messages_and_lengths_are_refused() -> None:
    pair, other = keys.KeyPair.generate(), keys.KeyPair.generate()
    sig = pair.sign(b"message")
    assert keys.verify(pair.public_key, sig, b"message")
    assert not keys.verify(other.public_key, sig, b"message")
    assert not keys.verify(pair.public_key, sig, b"messagE")
    assert not keys.verify(pair.public_key, other.sign(b"message"), b"message")
    for n in (0, 31, 33, 64):
        assert not keys.verify(pair.public_key[:n].ljust(n, b"\x00"), sig, b"message")
    for n in (0, 32, 63, 65, 128):
        assert not keys.verify(pair.public_key, (sig * 2)[:n], b"message")
    assert not keys.verify(pair.public_key, sig + b"\x00", b"message")


def test_a_key_off_the_curve_is_refused() -> None:
    y = next(y for y in range(2, 100) if edwards.x_of(y, 0) is None)
    off = y.to_bytes(32, "little")
    assert edwards.decode(off) is None
    assert not keys.verify(off, keys.KeyPair.generate().sign(b"m"), b"m")


def test_anyone_could_delete_a_blob_owned_by_the_identity_key() -> None:
    """The attack through the protocol: a deletion "signed" by a stranger for a blob
    whose deletable registration names the identity as owner."""
    deletion_message = messages.deletion_message("net", 3, b"\x07" * 32, IDENTITY)
    forged = _forge_for_small_order_key(IDENTITY, deletion_message)
    deletion = messages.Deletion(3, b"\x07" * 32, IDENTITY, forged)
    assert edwards.openssl_accepts(IDENTITY, forged, deletion.message("net"))
    assert not deletion.is_valid("net")


def test_a_small_order_member_key_confirms_nothing() -> None:
    """A committee member whose key were small-order could confirm any blob without
    its slivers; neither its confirmations count."""
    registration = messages.BlobRegistration(5, False, b"", 1000)
    statement = messages.confirmation_message(2, b"\x09" * 32, registration)
    forged = _forge_for_small_order_key(IDENTITY, statement)
    confirmation = messages.Confirmation(2, b"\x09" * 32, registration, IDENTITY, forged)
    assert edwards.openssl_accepts(IDENTITY, forged, statement)
    assert not confirmation.is_valid()
