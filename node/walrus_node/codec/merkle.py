"""Binary Merkle trees with domain-separated BLAKE3-256 nodes.

Who calls it: the encoder (sliver and blob commitments), sliver verification, recovery
symbols (proofs) and metadata (blob root).

``leaf = H(data || 0x00)``, ``inner = H(left || right || 0x01)``; a level of odd size is
padded with the 32-byte all-zero *empty* node. A proof is the list of sibling nodes from
the leaf up to the root. The tag bytes keep a leaf from ever being read as an inner node:
the two kinds of input end in different bytes.

The tag goes at the end rather than the start so that a symbol is hashed from its first
byte without a copy: BLAKE3 hashes 1 KiB chunks in SIMD batches whose size grows with the
chunk counter's alignment, and feeding a one-byte prefix first makes the symbol's bytes
start mid-chunk, which shrinks those batches. A prefix measured 30% slower for the 4-100
KiB symbols of megabyte blobs (a prefix by concatenation pays a copy instead; see
BENCHMARKS.md, "Choosing the hash").

Why BLAKE3 and not the Blake2b of the original Walrus: the 2D commitments hash every
symbol of the ``n x n`` expanded matrix, 3.3-4.5x the blob's size. On this project's
2-core machines blake2b runs at 0.69 GB/s and BLAKE3 at 5.2 GB/s (one thread): for a
64 MiB blob at n=10 hashing takes 49 ms of a 128 ms encode with BLAKE3 and would take
350 ms with blake2b (BENCHMARKS.md, "Choosing the hash"). Only for tiny symbols at large
n, where the ~1 us per call of any Python hash binding dominates, is blake2b a little
faster.
"""

from __future__ import annotations

from collections.abc import Sequence

import blake3

from walrus_node.codec._types import Buffer

__all__ = [
    "DIGEST_SIZE",
    "EMPTY",
    "LeafHasher",
    "Tree",
    "hash_bytes",
    "inner",
    "leaf",
    "root",
    "verify",
]

DIGEST_SIZE = 32
EMPTY = bytes(DIGEST_SIZE)
_LEAF = b"\x00"
_INNER = b"\x01"


def hash_bytes(data: Buffer) -> bytes:
    """Plain BLAKE3-256 of ``data`` (used for blob IDs)."""
    return blake3.blake3(data).digest()


def leaf(data: Buffer) -> bytes:
    """Leaf node of a symbol: ``H(data || 0x00)``."""
    hasher = blake3.blake3(data)
    hasher.update(_LEAF)
    return hasher.digest()


class LeafHasher:
    """A symbol's leaf hash fed piece by piece: ``update`` each part in order, then
    ``digest`` equals :func:`leaf` of the parts joined."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3()

    def update(self, data: Buffer) -> None:
        self._hasher.update(data)

    def digest(self) -> bytes:
        self._hasher.update(_LEAF)
        return self._hasher.digest()


def inner(left: bytes, right: bytes) -> bytes:
    """Inner node over two children: ``H(left || right || 0x01)``."""
    return blake3.blake3(left + right + _INNER).digest()


class Tree:
    """A tree kept whole, for producing several proofs from one set of leaves."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = list(leaves)
        self.size = len(level)
        self._levels = [level]
        while len(level) > 1:
            if len(level) % 2:
                level.append(EMPTY)
            level = [inner(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self._levels.append(level)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """Sibling path from leaf ``index`` to the root."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} out of range 0..{self.size - 1}")
        path = []
        for level in self._levels[:-1]:
            path.append(level[index ^ 1])
            index //= 2
        return path


def root(leaves: Sequence[bytes]) -> bytes:
    """Root over already-hashed leaves (``leaf(...)`` values); EMPTY for no leaves."""
    if not leaves:
        return EMPTY
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(EMPTY)
        level = [inner(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def verify(expected_root: bytes, leaf_hash: bytes, index: int, path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves ``leaf_hash`` sits at ``index`` under ``expected_root``."""
    node = leaf_hash
    for sibling in path:
        if len(sibling) != DIGEST_SIZE:
            return False
        node = inner(node, sibling) if index % 2 == 0 else inner(sibling, node)
        index //= 2
    return index == 0 and node == expected_root
