"""Edwards25519 arithmetic in plain Python integers: a slow, obviously correct reference
from which tests build Ed25519 signatures no honest signer makes (small-order keys and
R, malleated S, mixed-order keys) to check what ``walrus_node.protocol.keys.verify``
accepts.

Affine coordinates and RFC 8032 section 5.1 formulas; nothing here is constant time and
nothing here may leave the tests.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
"""The prime order of the base point's subgroup."""
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def add(a: Point, b: Point) -> Point:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def neg(a: Point) -> Point:
    return (-a[0]) % P, a[1]


def mul(k: int, a: Point) -> Point:
    """``[k]a`` for any integer ``k >= 0``."""
    out, addend = IDENTITY, a
    while k:
        if k & 1:
            out = add(out, addend)
        addend = add(addend, addend)
        k >>= 1
    return out


def x_of(y: int, sign: int) -> int | None:
    """The x with that sign bit on the curve at ``y``; None if there is none."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def decode(encoding: bytes) -> Point | None:
    """The point of a 32-byte encoding (``y`` may be non-canonical, as ``y + p``);
    None if it is not on the curve."""
    n = int.from_bytes(encoding, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    x = x_of(y, sign)
    return None if x is None else (x, y)


def encode(a: Point) -> bytes:
    x, y = a
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


B: Point = (x_of(4 * pow(5, P - 2, P) % P, 0) or 0, 4 * pow(5, P - 2, P) % P)
"""The base point."""


def order_8_point() -> Point:
    """A point of order 8 (the torsion subgroup is cyclic of order 8)."""
    y = 2
    while True:
        x = x_of(y, 0)
        if x is not None:
            t = mul(L, (x, y))
            if mul(4, t) != IDENTITY:
                return t
        y += 1


def challenge(r: bytes, public_key: bytes, message: bytes) -> int:
    """``k = SHA-512(R || A || M) mod L``."""
    return int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % L


def signature(r: bytes, s: int) -> bytes:
    """``R || S`` with S written as 32 little-endian bytes (not reduced)."""
    return r + s.to_bytes(32, "little")


def openssl_accepts(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether OpenSSL (``cryptography``) verifies the signature: the rule nodes applied
    before, for comparison."""
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
