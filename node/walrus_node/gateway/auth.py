"""Publisher authentication: JWT bearer tokens with claims that limit an upload.

Who calls it: :mod:`walrus_node.gateway.publisher`, before reading the body.

Like Walrus's publisher (``daemon/auth.rs``), a token is signed by whoever sells uploads
(the key is the gateway's ``jwt_key_file``; the algorithm is fixed by configuration, never
taken from the token) and may carry:

- ``exp`` (required) and ``iat``; with ``jwt_expiring_seconds`` set, ``exp - iat`` must
  equal it;
- ``jti``: a token is used once; IDs are remembered until the token expires;
- ``epochs`` (exactly this many) or ``max_epochs`` (at most), not both;
- ``size`` (exactly this many bytes) or ``max_size`` (at most), not both;
- ``sub``: the tenant whose key owns the deletable blobs stored with this token.

Size claims are checked against ``Content-Length`` before the body is read, and again
against the bytes actually received.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

import jwt

__all__ = ["AuthError", "Claim", "ReplayCache", "Verifier"]


class AuthError(Exception):
    """The token is missing, invalid, or does not allow this upload; ``status`` is 401 or
    403 and ``reason`` a Walrus-style reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Claim:
    exp: int
    jti: str = ""
    iat: int | None = None
    sub: str = ""
    epochs: int | None = None
    max_epochs: int | None = None
    size: int | None = None
    max_size: int | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Claim:
        def integer(name: str) -> int | None:
            value = payload.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AuthError(401, "INVALID_TOKEN", f"claim {name}: not a non-negative integer")
            return value

        exp = integer("exp")
        if exp is None:
            raise AuthError(401, "INVALID_TOKEN", "the token has no exp claim")
        for name in ("jti", "sub"):
            if not isinstance(payload.get(name, ""), str):
                raise AuthError(401, "INVALID_TOKEN", f"claim {name}: not a string")
        claim = cls(
            exp=exp,
            jti=str(payload.get("jti", "")),
            iat=integer("iat"),
            sub=str(payload.get("sub", "")),
            epochs=integer("epochs"),
            max_epochs=integer("max_epochs"),
            size=integer("size"),
            max_size=integer("max_size"),
        )
        if claim.epochs is not None and claim.max_epochs is not None:
            raise AuthError(401, "INVALID_TOKEN", "the token sets both epochs and max_epochs")
        if claim.size is not None and claim.max_size is not None:
            raise AuthError(401, "INVALID_TOKEN", "the token sets both size and max_size")
        return claim

    def check_epochs(self, epochs: int) -> None:
        if self.epochs is not None and epochs != self.epochs:
            raise AuthError(403, "INVALID_EPOCHS", f"the token allows exactly {self.epochs} epochs")
        if self.max_epochs is not None and epochs > self.max_epochs:
            raise AuthError(
                403, "INVALID_EPOCHS", f"the token allows at most {self.max_epochs} epochs"
            )

    def check_size(self, size: int, *, final: bool) -> None:
        """``size`` is the declared length, or (``final``) the bytes received so far."""
        if self.max_size is not None and size > self.max_size:
            raise AuthError(403, "INVALID_SIZE", f"the token allows at most {self.max_size} bytes")
        if self.size is not None and (size > self.size or (final and size != self.size)):
            raise AuthError(403, "INVALID_SIZE", f"the token allows exactly {self.size} bytes")


class ReplayCache:
    """Token IDs seen, each kept until its token expires; at most ``capacity`` of them
    (when full, the oldest-expiring ID is forgotten first, so the bound never blocks)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: collections.OrderedDict[str, int] = collections.OrderedDict()

    def use(self, jti: str, exp: int, now: float) -> bool:
        """Record ``jti``; False if it was already used and has not expired."""
        for key in [k for k, e in self._seen.items() if e <= now][:64]:
            del self._seen[key]
        if jti in self._seen:
            return False
        self._seen[jti] = exp
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, jti: str) -> None:
        self._seen.pop(jti, None)


class Verifier:
    def __init__(
        self, key: bytes, algorithm: str, expiring_seconds: int = 0, replay_capacity: int = 100_000
    ) -> None:
        self._key = key
        self._algorithm = algorithm
        self._expiring = expiring_seconds
        self._replays = ReplayCache(replay_capacity)

    def verify(self, authorization: str | None) -> Claim:
        """The claim of a valid, unused bearer token."""
        if authorization is None:
            raise AuthError(401, "MISSING_TOKEN", "this publisher needs Authorization: Bearer")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "MISSING_TOKEN", "expected Authorization: Bearer <token>")
        required = ["exp", "iat"] if self._expiring else ["exp"]
        try:
            payload = jwt.decode(
                token.strip(),
                self._key,
                algorithms=[self._algorithm],
                options={"require": required, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as e:
            raise AuthError(401, "EXPIRED_TOKEN", "the token has expired") from e
        except jwt.InvalidTokenError as e:
            raise AuthError(401, "INVALID_TOKEN", f"invalid token: {e}") from e
        claim = Claim.from_payload(payload)
        if self._expiring and claim.exp - (claim.iat or 0) != self._expiring:
            raise AuthError(401, "INVALID_TOKEN", f"exp - iat must be {self._expiring} seconds")
        if claim.jti and not self._replays.use(claim.jti, claim.exp, time.time()):
            raise AuthError(401, "TOKEN_REUSED", "this token was already used")
        return claim

    def release(self, claim: Claim) -> None:
        """An upload refused before storing anything does not use up its token."""
        if claim.jti:
            self._replays.forget(claim.jti)
