"""The keys that own deletable blobs stored through the publisher, one per tenant.

Who calls it: :mod:`walrus_node.gateway.publisher`. A tenant's Ed25519 key is derived
from the publisher's secret and the tenant's name (HMAC-SHA256), so keys need no storage
and survive restarts as long as the secret does; the tenant is the token's ``sub`` claim,
or ``default`` without authentication. Whoever holds the secret can derive every tenant's
key: keep it in a Secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pathlib

from cryptography.hazmat.primitives.asymmetric import ed25519

from walrus_node.protocol import keys

__all__ = ["DEFAULT_TENANT", "TenantKeys"]

DEFAULT_TENANT = "default"


class TenantKeys:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the owner secret must have at least 16 bytes")
        self._secret = secret
        self._keys: dict[str, keys.KeyPair] = {}

    @classmethod
    def load(cls, path: pathlib.Path | None) -> TenantKeys:
        """From a secret file, or a random secret (keys then last until restart)."""
        return cls(path.read_bytes().strip() if path is not None else os.urandom(32))

    def key(self, tenant: str) -> keys.KeyPair:
        name = tenant or DEFAULT_TENANT
        pair = self._keys.get(name)
        if pair is None:
            seed = hmac.new(self._secret, b"walrus-tenant:" + name.encode(), hashlib.sha256)
            private = ed25519.Ed25519PrivateKey.from_private_bytes(seed.digest())
            pair = self._keys[name] = keys.KeyPair(private)
            while len(self._keys) > 10_000:
                self._keys.pop(next(iter(self._keys)))
        return pair
