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

Producing proofs needs the leaf hashes of the parity symbols, which are not stored. The
node keeps recent slivers' trees (:mod:`.sliver_trees`, ``symbol_tree_cache_bytes``):
an upload leaves the tree its verification computed anyway, and a read of a sliver
whose tree is not kept reads it whole (its checksum checked), expands it, hashes every
symbol, checks the root against the metadata, and keeps the tree. With the tree kept, a
read copies only the asked symbols out of the store and checks each against its kept
leaf hash, so a rotted byte is caught here (the sliver is dropped and rebuilt by blob
sync, and the caller gets DATA_LOSS) rather than served.

Limits (node settings, docs/security.md): ``max_symbols_per_read`` symbols and
``max_symbol_read_bytes`` bytes per call, refused with RESOURCE_EXHAUSTED naming the
limit; the answer's bytes (and, on a first read, the whole sliver) are held in the
node's memory budget while the call runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from walrus_node.codec import errors as codec_errors
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol import errors
from walrus_node.service import sliver_trees
from walrus_node.service.blobs import BlobData
from walrus_node.service.context import NodeContext
from walrus_node.store.store import CorruptSliverError

__all__ = ["SliverSymbols"]


class SliverSymbols:
    def __init__(self, ctx: NodeContext, blobs: BlobData) -> None:
        self.ctx = ctx
        self._blobs = blobs
        self.trees = blobs.trees

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
    ) -> tuple[sliver_trees.KeptTree, list[bytes]]:
        """Build and check the whole sliver's tree where it lies in the store, keep it, and
        copy out the symbols."""
        ctx = self.ctx
        metadata = await self._blobs.require_metadata(blob_id, reading=True)
        params, s = metadata.params, metadata.symbol_size
        size = params.symbols_in(SliverType.PRIMARY) * s

        def build(data: memoryview) -> tuple[sliver_trees.KeptTree, list[bytes]]:
            kept = sliver_trees.verified_tree(metadata, index, data)
            return kept, [bytes(data[j * s : (j + 1) * s]) for j in range(first, first + count)]

        async with ctx.memory.hold(size, f"primary sliver {index}"):
            try:
                built = await ctx.compute(
                    ctx.store.with_sliver, shard, SliverType.PRIMARY, blob_id, build
                )
            except (CorruptSliverError, codec_errors.InvalidSliverError) as e:
                # failed its checksum, or checksummed yet not what the metadata commits to
                raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id) from e
            if built is None:
                raise errors.NotFound(
                    f"primary sliver {index} of blob {BlobId(blob_id)} not stored"
                )
            kept, parts = built
            self.trees.put((blob_id, index), kept)
            return kept, parts

    async def _part(
        self,
        kept: sliver_trees.KeptTree,
        blob_id: bytes,
        shard: int,
        first: int,
        count: int,
        s: int,
    ) -> list[bytes]:
        """The symbols alone out of the store, each checked against its kept leaf."""
        ctx = self.ctx
        raw = await ctx.read(
            ctx.store.read_sliver_range, shard, SliverType.PRIMARY, blob_id, first * s, count * s
        )
        if raw is None:
            raise errors.NotFound(
                f"primary sliver of shard {shard} of blob {BlobId(blob_id)} not stored"
            )
        if len(raw) != count * s:  # shorter than its metadata says: rotted
            raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id)
        parts = [raw] if count == 1 else [raw[i * s : (i + 1) * s] for i in range(count)]
        if not await ctx.compute(kept.matches, first, parts):
            raise await self._blobs.discard_corrupt(shard, SliverType.PRIMARY, blob_id)
        return parts
