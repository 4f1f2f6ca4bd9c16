"""The caller's own owner key for deletable blobs: two request headers, checked. Pure.

Who calls it: :mod:`walrus_node.gateway.publisher`.

A ``PUT`` that carries ``X-Walrus-Owner: <base64 Ed25519 public key>`` and
``X-Walrus-Owner-Proof: <base64 signature>`` stores its deletable blob owned by that key,
so the caller (not the publisher) can delete it with ``walrus delete``; without them the
tenant's key owns it (tenants.py). The signature is the key's over
:func:`message` (a fixed prefix and the public key): a proof that the caller holds the
private key, so a mistyped key cannot leave a blob nobody can delete. It is not bound to
one upload: whoever has seen a proof can make more blobs owned by that key, which only
gives its holder blobs it may delete. (Walrus's publisher hands the new Blob object to a
Sui address, ``send_object_to``, without any proof; there are no Sui objects here.)

Either header alone, a key that is not 32 bytes of base64, a signature that does not
verify, or an owner key on a permanent blob is a 400 ``INVALID_OWNER``.
"""

from __future__ import annotations

import base64
import binascii

from walrus_node.protocol import keys

__all__ = ["OWNER_HEADER", "PROOF_HEADER", "OwnerError", "message", "parse"]

OWNER_HEADER = "x-walrus-owner"
PROOF_HEADER = "x-walrus-owner-proof"
_PREFIX = b"walrus-gateway-owner-proof:v1:"
_MAX_HEADER = 200  # base64 of 64 bytes is 88 characters; keeps decoding hostile input cheap


class OwnerError(ValueError):
    """The owner headers are unusable (400 ``INVALID_OWNER``); the message says why."""


def message(public_key: bytes) -> bytes:
    """What the owner key signs: ``walrus-gateway-owner-proof:v1:`` then the raw key."""
    return _PREFIX + public_key


def parse(owner: str | None, proof: str | None) -> bytes | None:
    """The proven raw public key, or None when neither header is present."""
    if owner is None and proof is None:
        return None
    if owner is None or proof is None:
        raise OwnerError(f"{OWNER_HEADER} and {PROOF_HEADER} go together")
    if len(owner) > _MAX_HEADER or len(proof) > _MAX_HEADER:
        raise OwnerError("owner header too long")
    try:
        public_key = keys.parse_public_key(owner.strip())
    except ValueError as e:
        raise OwnerError(f"{OWNER_HEADER}: {e}") from e
    try:
        signature = base64.b64decode(proof.strip(), validate=True)
    except (ValueError, binascii.Error) as e:
        raise OwnerError(f"{PROOF_HEADER}: not base64") from e
    if not keys.verify(public_key, signature, message(public_key)):
        raise OwnerError(f"{PROOF_HEADER}: not the owner key's signature of the proof message")
    return public_key
