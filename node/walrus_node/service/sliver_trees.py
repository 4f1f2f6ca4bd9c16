"""Merkle trees of primary slivers kept in memory, so that symbols can be proven without
reading, expanding and hashing their whole sliver again.

Who calls it: :mod:`.upload` keeps the tree each verified primary sliver yields;
:mod:`.sliver_symbols` reads trees (and keeps the ones it had to build) to prove the
symbols of ranged reads. The cache is created once per node (:class:`NodeService`) and
bounded by ``symbol_tree_cache_bytes``.

A tree depends only on the blob ID and the sliver index: the blob ID commits to the
metadata, which commits to the sliver's root; a tree is kept only once its root matched
the metadata. So a kept tree never goes stale, and needs no invalidation when a sliver
is deleted or rebuilt.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import merkle, slivers
from walrus_node.codec._types import Buffer
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType

__all__ = ["KeptTree", "TreeCache", "leaves", "tree_bytes", "verified_tree"]


def tree_bytes(n_shards: int) -> int:
    """What one kept tree costs in memory, about: its ``n`` leaves, 32 bytes each, in one
    ``bytes`` object, and the objects around them."""
    return merkle.DIGEST_SIZE * n_shards + 300


class KeptTree:
    """One primary sliver's leaf hashes (concatenated) and the tree over them."""

    __slots__ = ("leaves", "size", "tree")

    def __init__(self, leaves: bytes) -> None:
        self.leaves = leaves
        self.tree = merkle.Tree(leaves)
        self.size = tree_bytes(self.tree.size)

    def matches(self, first: int, parts: Sequence[bytes]) -> bool:
        """Whether ``parts`` are symbols ``first, first + 1, ...`` of the sliver."""
        d = merkle.DIGEST_SIZE
        if first < 0 or first + len(parts) > self.tree.size:
            return False
        return all(
            merkle.leaf(p) == self.leaves[(first + i) * d : (first + i + 1) * d]
            for i, p in enumerate(parts)
        )


class TreeCache:
    """Kept trees by ``(blob ID, primary sliver index)``, least recently used out first,
    within ``limit`` bytes (0 keeps nothing)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._items: collections.OrderedDict[tuple[bytes, int], KeptTree] = (
            collections.OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[bytes, int]) -> KeptTree | None:
        kept = self._items.get(key)
        if kept is not None:
            self._items.move_to_end(key)
        return kept

    def put(self, key: tuple[bytes, int], kept: KeptTree) -> None:
        if kept.size > self.limit:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.used -= old.size
        self._items[key] = kept
        self.used += kept.size
        while self.used > self.limit:
            _, out = self._items.popitem(last=False)
            self.used -= out.size


def leaves(params: EncodingParams, data: Buffer, symbol_size: int) -> bytes:
    """Leaf hashes of a primary sliver's ``n`` expanded symbols, concatenated (one 1-D
    encode, ``n`` hashes; the sliver is not copied into an expanded row)."""
    return slivers.sliver_leaves(params, SliverType.PRIMARY, data, symbol_size)


def verified_tree(metadata: BlobMetadata, index: int, data: Buffer) -> KeptTree:
    """The tree of primary sliver ``index``; raises
    :class:`~walrus_node.codec.errors.InvalidSliverError` unless ``data`` is the sliver
    the metadata commits to (the same checks as ``slivers.verify_sliver``)."""
    return verified_trees(metadata, [(index, data)])[0]


def verified_trees(metadata: BlobMetadata, items: Sequence[tuple[int, Buffer]]) -> list[KeptTree]:
    """:func:`verified_tree` of each ``(index, data)``, their expansions and hashes in one
    native call (spread over the codec's threads when there is enough work). Raises for
    the first one, in order, that is not the sliver the metadata commits to."""
    for index, data in items:
        slivers.check_shape(metadata, SliverType.PRIMARY, index, data)
    params = metadata.params
    flat = slivers.sliver_leaves_many(
        params, SliverType.PRIMARY, [data for _, data in items], metadata.symbol_size
    )
    kept = []
    for (index, _), leaves_of in zip(items, flat, strict=True):
        tree = KeptTree(leaves_of)
        if tree.tree.root != metadata.sliver_hash(SliverType.PRIMARY, index):
            raise codec_errors.InvalidSliverError(
                str(SliverType.PRIMARY), index, "Merkle root does not match the metadata"
            )
        kept.append(tree)
    return kept
