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

The hashing runs in the native module ``walrus_native``: the batch functions
(:func:`leaf_hashes`, :func:`roots`, :meth:`Tree.proofs`, :func:`verify_many`) hash every
symbol or tree of a blob in one call over all cores, where one Python call per node would
cost ~1 us each (a million of them per encode at ``n = 1000``). Inside, messages of one
length (the leaves of a sliver, the inner nodes of a level, one level of many proofs) go
through BLAKE3 side by side in SIMD lanes, 16 at a time with AVX-512 (``native/src/
batch_hash.rs``; docs/codec.md, "How the hashing is batched").
"""

from __future__ import annotations

from collections.abc import Sequence

import blake3
import walrus_native

from walrus_node.codec._types import Buffer, U8Array

__all__ = [
    "DIGEST_SIZE",
    "EMPTY",
    "LeafHasher",
    "Tree",
    "hash_bytes",
    "inner",
    "leaf",
    "leaf_hashes",
    "root",
    "roots",
    "split",
    "verify",
    "verify_many",
]

DIGEST_SIZE = 32
EMPTY = bytes(DIGEST_SIZE)
_LEAF = b"\x00"
_INNER = b"\x01"


def hash_bytes(data: Buffer) -> bytes:
    """Plain BLAKE3-256 of ``data`` (used for blob IDs)."""
    return walrus_native.hash(data)


def leaf(data: Buffer) -> bytes:
    """Leaf node of a symbol: ``H(data || 0x00)``."""
    return walrus_native.leaf_hashes(data, memoryview(data).nbytes, 1)


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
    return walrus_native.hash(left + right + _INNER)


def leaf_hashes(buf: Buffer | U8Array, s: int, count: int) -> bytes:
    """Leaf nodes of ``count`` back-to-back symbols of ``s`` bytes, concatenated."""
    return walrus_native.leaf_hashes(buf, s, count)


def split(nodes: bytes) -> list[bytes]:
    """Concatenated nodes as a list."""
    return [nodes[i : i + DIGEST_SIZE] for i in range(0, len(nodes), DIGEST_SIZE)]


def roots(leaves: bytes, trees: int, width: int, tree_stride: int, leaf_stride: int) -> list[bytes]:
    """Roots of ``trees`` trees of ``width`` leaves, tree ``t``'s leaf ``w`` being node
    ``t * tree_stride + w * leaf_stride`` of the concatenated ``leaves``."""
    return split(walrus_native.merkle_roots(leaves, trees, width, tree_stride, leaf_stride))


class Tree:
    """A tree kept whole, for producing several proofs from one set of leaves."""

    def __init__(self, leaves: Sequence[bytes] | bytes) -> None:
        flat = leaves if isinstance(leaves, bytes) else b"".join(leaves)
        if not flat:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.size = len(flat) // DIGEST_SIZE
        self._leaves = flat
        self.root = walrus_native.merkle_roots(flat, 1, self.size, 0, 1)

    def proofs(self, indices: Sequence[int]) -> list[list[bytes]]:
        """Sibling paths from each leaf in ``indices`` to the root (one native call)."""
        for index in indices:
            if not 0 <= index < self.size:
                raise IndexError(f"leaf {index} out of range 0..{self.size - 1}")
        return [split(p) for p in walrus_native.merkle_proofs(self._leaves, list(indices))]

    def proof(self, index: int) -> list[bytes]:
        """Sibling path from leaf ``index`` to the root."""
        return self.proofs([index])[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """Root over already-hashed leaves (``leaf(...)`` values); EMPTY for no leaves."""
    if not leaves:
        return EMPTY
    return Tree(leaves).root


def verify(expected_root: bytes, leaf_hash: bytes, index: int, path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves ``leaf_hash`` sits at ``index`` under ``expected_root``."""
    node = leaf_hash
    for sibling in path:
        if len(sibling) != DIGEST_SIZE:
            return False
        node = inner(node, sibling) if index % 2 == 0 else inner(sibling, node)
        index //= 2
    return index == 0 and node == expected_root


def verify_many(
    expected_roots: Sequence[bytes],
    datas: Sequence[Buffer],
    indices: Sequence[int],
    paths: Sequence[Sequence[bytes]],
) -> list[bool]:
    """For each ``i``: whether ``paths[i]`` proves symbol ``datas[i]`` (not yet hashed)
    sits at ``indices[i]`` under ``expected_roots[i]``. One native call for all."""
    flat_paths = []
    for path in paths:
        if any(len(sibling) != DIGEST_SIZE for sibling in path):
            flat_paths.append(b"\x00")  # not a whole node: fails verification
        else:
            flat_paths.append(b"".join(path))
    return walrus_native.verify_proofs(list(expected_roots), list(datas), list(indices), flat_paths)
