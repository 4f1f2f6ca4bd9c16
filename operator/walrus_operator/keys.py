"""Storage-node identity keys: Ed25519, PKCS#8 PEM, as `walrus-node keygen` writes them.

The node reconciler makes a key only when the node's Secret does not exist yet, and never
replaces one (`walrus_operator.nodes`). `public_key` reads a stored key back so the
public half can be shown in `status.publicKey` (standard base64 of the raw 32 bytes, the
format of `admin_public_keys` in docs/node-runtime.md).
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from walrus_operator import errors

__all__ = ["generate_private_key_pem", "public_key"]


def generate_private_key_pem() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def public_key(private_key_pem: bytes) -> str:
    """Base64 of the raw Ed25519 public key; `errors.SpecInvalid` if the PEM is not one."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise errors.SpecInvalid("node.key", f"not a PKCS#8 PEM private key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise errors.SpecInvalid("node.key", "not an Ed25519 key")
    raw = key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()
