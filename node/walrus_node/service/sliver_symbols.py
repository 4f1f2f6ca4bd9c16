"""Runs of source symbols of a stored primary sliver, each with its Merkle proof: the
node's side of a ranged read.

Who calls it: the servicer's ``GetSliverSymbols`` through
:attr:`walrus_node.service.node.NodeService.sliver_symbols`.

A blob fills its ``rows x columns`` source matrix row-major, so a byte range of the blob
is a run of symbols inside one or a few primary slivers. A primary sliver's commitment in
the metadata is the Merkle root over the leaf hashes of its ``n`` expanded symbols, the
first ``columns`` of which are its own bytes; leaf ``j`` therefore proves symbol ``j``
with ``ceil(log2 n)`` sibling hashes, and the reader checks each symbol against the
metadata without the rest of the sliver.

Producing proofs needs the leaf hashes of the parity symbols, which are not stored: the
first read of a sliver reads it whole (its checksum checked), expands it, hashes every
symbol, checks the root against the metadata, and keeps the tree in a byte-bounded LRU
(``symbol_tree_cache_bytes``). Later reads of that sliver copy only the asked symbols out
of the store and check each against its kept leaf hash, so a rotted byte is caught here
(the sliver is dropped and rebuilt by blob sync, and the caller gets DATA_LOSS) rather
than served. A tree depends only on the blob ID and the sliver index (the blob ID
commits to the metadata, which commits to the sliver), so kept trees never go stale.

Limits (node settings, docs/security.md): ``max_symbols_per_read`` symbols and
``max_symbol_read_bytes`` bytes per call, refused with RESOURCE_EXHAUSTED naming the
limit; the answer's bytes (and, on a first read, the whole sliver) are held in the
node's memory budget while the call runs.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Sequence

from walrus_node.codec import merkle, slivers
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol import errors
from walrus_node.service.blobs import BlobData
from walrus_node.service.context import NodeContext
from walrus_node.store.store import StoreError

__all__ = ["SliverSymbols", "TreeCache", "tree_bytes"]


def tree_bytes(n_shards: int) -> int:
    """What one kept tree costs in memory, about: ``2n`` nodes in the tree plus ``n``
    leaves, each a 32-byte ``bytes`` object (65 bytes) in a list slot (8 bytes)."""
    return 3 * 73 * n_shards + 200


class _Kept:
    __slots__ = ("leaves", "size", "tree")

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.tree = merkle.Tree(leaves)
        self.size = tree_bytes(len(leaves))


class TreeCache:
    """Merkle trees of primary slivers, least recently used out first, within ``limit``
    bytes (0 keeps nothing)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._items: collections.OrderedDict[tuple[bytes, int], _Kept] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[bytes, int]) -> _Kept | None:
        kept = self._items.get(key)
        if kept is not None:
            self._items.move_to_end(key)
        return kept

    def put(self, key: tuple[bytes, int], kept: _Kept) -> None:
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


def _leaves(params: EncodingParams, data: bytes, symbol_size: int) -> list[bytes]:
    """Leaf hashes of a primary sliver's ``n`` expanded symbols (one 1-D encode, ``n``
    hashes)."""
    source = slivers.source_symbols(params, SliverType.PRIMARY, data, symbol_size)
    parity = slivers.parity_symbols(params, SliverType.PRIMARY, source)
    return slivers.leaf_hashes(source) + slivers.leaf_hashes(parity)


def _matching(parts: Sequence[bytes], leaves: Sequence[bytes]) -> bool:
    return all(merkle.leaf(p) == leaf for p, leaf in zip(parts, leaves, strict=True))


class SliverSymbols:
    def __init__(self, ctx: NodeContext, blobs: BlobData) -> None:
        self.ctx = ctx
        self._blobs = blobs
        self.trees = TreeCache(ctx.config.symbol_tree_cache_bytes)

    @contextlib.asynccontextmanager
    async def read(
        self, blob_id: bytes, index: int, first: int, count: int
    ) -> AsyncIterator[list[RecoverySymbol]]:
        """Symbols ``first .. first + count - 1`` of primary sliver ``index``, with proofs;
        their bytes are held in the memory budget until the block ends."""
        ctx, config = self.ctx, self.ctx.config
        metadata = await self._blobs.require_metadata(blob_id, reading=True)
        params, s = metadata.params, metadata.symbol_size
        if not 0 <= index < params.n_shards:
            raise errors.InvalidRequest(
                f"primary sliver index {index} out of range 0..{params.n_shards - 1}"
            )
        cols = params.columns
        if count < 1 or not 0 <= first < cols or first + count > cols:
            raise errors.InvalidRequest(
                f"symbols {first}..{first + count - 1} are not within the {cols} source "
                f"symbols of a primary sliver"
            )
        if count > config.max_symbols_per_read:
            raise errors.ResourceExhausted(
                f"{count} symbols asked for, max_symbols_per_read is {config.max_symbols_per_read}"
            )
        if count * s > config.max_symbol_read_bytes:
            raise errors.ResourceExhausted(
                f"{count} symbols of {s} bytes asked for, max_symbol_read_bytes is "
                f"{config.max_symbol_read_bytes}"
            )
        shard = ctx.shard_of(blob_id, SliverType.PRIMARY, index)
        if shard not in ctx.readable_shards():
            raise errors.FailedPrecondition(
                f"primary sliver {index} belongs to shard {shard}, not held by this node"
            )
        key = (blob_id, index)
        kept = self.trees.get(key)
        async with ctx.memory.hold(count * s, f"symbols of primary sliver {index}"):
            if kept is None:
                kept, parts = await self._first_read(blob_id, index, shard, first, count)
                ctx.metrics.symbol_bytes_served.labels(tree="built").inc(count * s)
            else:
                parts = await self._part(kept, blob_id, shard, first, count, s)
                ctx.metrics.symbol_bytes_served.labels(tree="kept").inc(count * s)
            yield [
                RecoverySymbol(
                    SliverType.PRIMARY, index, first + i, part, tuple(kept.tree.proof(first + i))
                )
                for i, part in enumerate(parts)
            ]

    async def _first_read(
        self, blob_id: bytes, index: int, shard: int, first: int, count: int
    ) -> tuple[_Kept, list[bytes]]:
        """Read the whole sliver, build and check its tree, keep it, cut the symbols."""
        ctx = self.ctx
        metadata = await self._blobs.require_metadata(blob_id, reading=True)
        params, s = metadata.params, metadata.symbol_size
        size = params.symbols_in(SliverType.PRIMARY) * s
        async with ctx.memory.hold(size, f"primary sliver {index}"):
            data = await self._blobs.read_sliver(shard, SliverType.PRIMARY, blob_id)
            if data is None:
                raise errors.NotFound(
                    f"primary sliver {index} of blob {BlobId(blob_id)} not stored"
                )
            if len(data) != size:
                raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id)
            leaves = await ctx.compute(_leaves, params, data, s)
            kept = await ctx.compute(_Kept, leaves)
            if kept.tree.root != metadata.sliver_hash(SliverType.PRIMARY, index):
                raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id)
            self.trees.put((blob_id, index), kept)
            return kept, [data[j * s : (j + 1) * s] for j in range(first, first + count)]

    async def _part(
        self, kept: _Kept, blob_id: bytes, shard: int, first: int, count: int, s: int
    ) -> list[bytes]:
        """The symbols alone out of the store, each checked against its kept leaf."""
        ctx = self.ctx
        try:
            raw = await ctx.read(
                ctx.store.get_sliver_part, shard, SliverType.PRIMARY, blob_id, first * s, count * s
            )
        except StoreError as e:  # shorter than its metadata says: rotted
            raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id) from e
        if raw is None:
            raise errors.NotFound(
                f"primary sliver of shard {shard} of blob {BlobId(blob_id)} not stored"
            )
        parts = [raw] if count == 1 else [raw[i * s : (i + 1) * s] for i in range(count)]
        if not await ctx.compute(_matching, parts, kept.leaves[first : first + count]):
            raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id)
        return parts
