"""Ed25519 identities: generating, saving, loading, signing and verifying.

Who calls it: the node (its identity signs confirmations and shard-sync requests), the
testbed and operator (admin keys), the client (owner keys of deletable blobs).
The rest of the code deals in raw 32-byte public keys and 64-byte signatures.

Keys and signing are ``cryptography``'s (OpenSSL; keys are PKCS#8 PEM files).
Verification is ``walrus_native.verify_ed25519`` (``ed25519-dalek``'s ``verify_strict``
with canonical keys: no malleated ``S``, no small-order keys or ``R``), about 2.5 times
cheaper than OpenSSL's and strict where OpenSSL is not, so that every node accepts
exactly the same signatures (docs/security.md, "Signatures").
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = ["KeyPair", "PublicOwner", "encode_public_key", "parse_public_key", "verify"]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class KeyPair:
    """An Ed25519 private key and its raw public key."""

    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = private.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> KeyPair:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError("the key is not an Ed25519 private key")
        return cls(key)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyPair:
        try:
            return cls.from_pem(pathlib.Path(path).read_bytes())
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a PKCS#8 PEM Ed25519 private key ({e})") from e

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key readable by its owner only, atomically."""
        target = pathlib.Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_pem())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message`` under
    the strict rule of docs/security.md ("Signatures"); False for anything else,
    including inputs of the wrong length."""
    # Imported here: the operator signs with this module's keys but never verifies, and
    # its image carries no native module (docs/images.md).
    import walrus_native  # noqa: PLC0415

    return walrus_native.verify_ed25519(public_key, signature, message)


@dataclasses.dataclass(frozen=True)
class PublicOwner:
    """The public half of someone else's owner key: enough to register a deletable blob
    owned by it (the gateway does this for callers who prove they hold the key); deleting
    the blob needs the :class:`KeyPair`."""

    public_key: bytes


def encode_public_key(public_key: bytes) -> str:
    """Printable form of a public key (standard base64)."""
    return base64.b64encode(public_key).decode()


def parse_public_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as e:
        raise ValueError(f"public key {text!r} is not base64") from e
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"public key {text!r} decodes to {len(raw)} bytes, expected 32")
    return raw
