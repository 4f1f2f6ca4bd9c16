"""The blobs' data on this node: metadata and slivers in, slivers and recovery symbols out.

Who calls it: the servicer (``StoreMetadata``, ``GetMetadata``, ``StoreSlivers``,
``StoreBlob``, ``GetSliver``, ``GetRecoverySymbols``, ``GetRecoverySymbolsBatch``,
``GetBlobStatus``) through
:class:`walrus_node.service.node.NodeService`, and :mod:`.registrations` (a confirmation
needs the metadata). Nothing is stored unverified: metadata must hash to its blob ID and
slivers must match the metadata. A sliver that rotted on disk is dropped and handed to
blob sync to be rebuilt.

Reads hold no whole sliver: ``GetSliver`` checks the stored checksum where the sliver
lies in the store's map, then copies it out ``read_buffer_bytes`` at a time
(:meth:`BlobData.open_sliver`, :meth:`BlobData.sliver_piece`); ``GetRecoverySymbols``
cuts each symbol from a sliver where it lies, computing the parity in bands
(:func:`walrus_node.codec.recovery.cut_symbols`), and ``GetRecoverySymbolsBatch`` cuts
the symbols of several target slivers from each stored sliver in one such pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import structlog

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec import recovery
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.protocol import errors
from walrus_node.protocol.views import BlobStatus, BlobStatusState
from walrus_node.service import basics, sliver_trees
from walrus_node.service import upload as upload_mod
from walrus_node.service.blob_sync import (
    BlobSync,
    Cut,
    Target,
    cut_stored,
    local_recovery_symbols,
    symbol_band_bytes,
)
from walrus_node.service.context import NodeContext
from walrus_node.service.invalid_blobs import InvalidBlobs
from walrus_node.store.store import BlobInfo, BlobState, CorruptSliverError

__all__ = ["INLINE_METADATA_BYTES", "BlobData", "StoredSliver"]

log = structlog.get_logger("walrus.node")

INLINE_METADATA_BYTES = 20 << 10
"""Metadata up to this size is verified on the event loop, bigger metadata on a worker
thread (as :data:`.upload.INLINE_VERIFY_BYTES` does for slivers). Metadata takes about 64
bytes per shard: checking it took 0.10 ms of CPU at 7 shards (459 bytes), 0.20 ms at 256
(16 kB), and the hop to a thread and back 0.05 ms more (on an idle machine; more on a
busy one, where the thread and then the loop wait for the interpreter lock); at 1000
shards (64 kB) a check takes ~1 ms, too long to hold the loop."""


def check_not_gone(bid: BlobId, info: BlobInfo | None) -> None:
    """Raise :class:`errors.Gone` if the blob's data is gone for good (its lifetime ended,
    or it was proven invalid: :class:`errors.InvalidBlob`)."""
    if info is not None and info.state is BlobState.INVALID:
        raise errors.InvalidBlob(str(bid))
    if info is not None and info.state in (BlobState.DELETED, BlobState.EXPIRED):
        raise errors.Gone(str(bid), info.state.value)


@dataclasses.dataclass(frozen=True)
class StoredSliver:
    """A sliver being read: where it is stored and its length (its checksum checked)."""

    blob_id: bytes
    shard: int
    sliver_type: SliverType
    index: int
    size: int


class BlobData:
    def __init__(
        self,
        ctx: NodeContext,
        blob_sync: BlobSync,
        invalid: InvalidBlobs,
        trees: sliver_trees.TreeCache | None = None,
    ) -> None:
        self.ctx = ctx
        self._blob_sync = blob_sync
        self._invalid = invalid
        self.trees = (
            trees
            if trees is not None
            else sliver_trees.TreeCache(ctx.config.symbol_tree_cache_bytes)
        )
        """Primary slivers' Merkle trees: uploads leave them, ranged reads use them."""

    # --- metadata ----------------------------------------------------------------------------

    async def verify_metadata(self, blob_id: bytes, data: bytes) -> BlobMetadata:
        """Metadata from the wire, checked against its blob ID (INVALID_ARGUMENT if not)."""
        ctx = self.ctx
        bid = basics.parse_blob_id(blob_id)
        n = ctx.require_committees().n_shards
        try:
            metadata: BlobMetadata
            if len(data) > INLINE_METADATA_BYTES:
                metadata = await ctx.compute(metadata_mod.verify_metadata, bid, data, n)
            else:
                metadata = metadata_mod.verify_metadata(bid, data, n)
        except codec_errors.InvalidMetadataError as e:
            ctx.metrics.rejected_inputs.labels(reason="invalid_metadata").inc()
            raise errors.InvalidRequest(str(e)) from e
        return metadata

    async def charge_metadata(self, blob_id: bytes, data: bytes) -> int:
        """Charge metadata about to be stored to the uncertified quota unless the blob is
        certified or its metadata stored already; returns the bytes charged."""
        ctx = self.ctx
        info = ctx.lookup(ctx.store.get_blob_info, blob_id)
        uncertified = info is None or info.state is not BlobState.CERTIFIED
        if uncertified and ctx.lookup(ctx.store.get_metadata, blob_id) is None:
            ctx.uncertified.charge(blob_id, len(data))  # RESOURCE_EXHAUSTED when full
            return len(data)
        return 0

    async def store_metadata(self, blob_id: bytes, data: bytes) -> bool:
        ctx = self.ctx
        await self.verify_metadata(blob_id, data)
        charge = await self.charge_metadata(blob_id, data)
        new = False
        try:
            new = await ctx.write(
                ctx.store.put_metadata,
                blob_id,
                data,
                BlobInfo(BlobState.REGISTERED, basics.now_ms()),
            )
        finally:
            if not new and charge:
                ctx.uncertified.refund(blob_id, charge)
        if new:
            ctx.metrics.metadata_stored.inc()
        return new

    async def get_metadata(self, blob_id: bytes) -> bytes:
        bid = basics.parse_blob_id(blob_id)
        info = self.ctx.lookup(self.ctx.store.get_blob_info, blob_id)
        check_not_gone(bid, info)
        data = self.ctx.lookup(self.ctx.store.get_metadata, blob_id)
        if data is None:
            raise errors.NotFound(f"no metadata for blob {bid}")
        return data

    async def require_metadata(self, blob_id: bytes, *, reading: bool = False) -> BlobMetadata:
        """The blob's metadata; its absence is NOT_FOUND for reads and out of order for writes."""
        info = self.ctx.lookup(self.ctx.store.get_blob_info, blob_id)
        return await self.metadata_of(blob_id, info, reading=reading)

    async def metadata_of(
        self, blob_id: bytes, info: BlobInfo | None, *, reading: bool = False
    ) -> BlobMetadata:
        """:meth:`require_metadata` for a caller that has just read the blob's ``info``."""
        bid = basics.parse_blob_id(blob_id)
        check_not_gone(bid, info)
        metadata = await self.ctx.metadata(blob_id)
        if metadata is None:
            if reading:
                raise errors.NotFound(f"blob {bid} is not known to this node")
            raise errors.FailedPrecondition(f"metadata of blob {bid} must be stored first")
        return metadata

    # --- slivers -----------------------------------------------------------------------------

    async def check_sliver_headers(
        self,
        blob_id: bytes,
        headers: Sequence[tuple[SliverType, int, int]],
        metadata: BlobMetadata | None = None,
    ) -> list[int]:
        """Validate sliver uploads, each ``(type, index, size)``, before their bytes
        arrive (against ``metadata`` when the upload carries it, verified, else against
        the stored metadata); returns the shard each one belongs to."""
        metadata = metadata or await self.require_metadata(blob_id)
        params = metadata.params
        mine = set(self.ctx.my_shards())
        placing = self.ctx.params()  # where slivers go: the committee's shards (ctx.shard_of)
        shards = []
        for sliver_type, index, size in headers:
            if not 0 <= index < params.n_shards:
                raise errors.InvalidRequest(
                    f"{sliver_type} sliver index {index} out of range 0..{params.n_shards - 1}"
                )
            expected = params.symbols_in(sliver_type) * metadata.symbol_size
            if size != expected:
                raise errors.InvalidRequest(
                    f"{sliver_type} sliver {index} declares {size} bytes, expected {expected}"
                )
            shard = placing.shard_of_pair(blob_id, placing.pair_of(sliver_type, index))
            if shard not in mine:
                raise errors.FailedPrecondition(
                    f"{sliver_type} sliver {index} of blob {BlobId(blob_id)} belongs to shard "
                    f"{shard}, which this node does not own in epoch "
                    f"{self.ctx.require_committees().epoch}"
                )
            shards.append(shard)
        return shards

    def upload(self, blob_id: bytes) -> upload_mod.Upload:
        """A StoreSlivers stream's way into the store (see :mod:`.upload`)."""
        return upload_mod.Upload(self.ctx, blob_id, self, trees=self.trees)

    async def upload_blob(self, blob_id: bytes, data: bytes) -> upload_mod.Upload:
        """A StoreBlob stream's way into the store: its metadata verified now and charged
        to the uncertified quota, and written with the stream's first slivers, in their
        transaction (see :mod:`.upload`)."""
        metadata = await self.verify_metadata(blob_id, data)
        charged = await self.charge_metadata(blob_id, data)
        pending = upload_mod.PendingMetadata(metadata, data, charged)
        return upload_mod.Upload(self.ctx, blob_id, self, pending=pending, trees=self.trees)

    async def sliver_size(self, blob_id: bytes, sliver_type: SliverType) -> int:
        """Bytes of one stored sliver of this type."""
        metadata = await self.require_metadata(blob_id, reading=True)
        return metadata.params.symbols_in(sliver_type) * metadata.symbol_size

    async def recovery_symbols_size(
        self, blob_id: bytes, target_type: SliverType, targets: int = 1
    ) -> int:
        """Bytes a RecoverySymbols answer holds at most: one symbol per target per readable
        shard's sliver, plus the parity band of the sliver being cut (``read_buffer_bytes``)."""
        metadata = await self.require_metadata(blob_id, reading=True)
        n = metadata.n_shards
        band = symbol_band_bytes(self.ctx.config.read_buffer_bytes, n)
        return targets * len(self.ctx.readable_shards()) * metadata.symbol_size + n * band

    def _readable_shard(
        self, blob_id: bytes, metadata: BlobMetadata, sliver_type: SliverType, index: int
    ) -> int:
        """The shard of a sliver a caller asks to read, if this node serves it."""
        ctx = self.ctx
        if not 0 <= index < metadata.n_shards:
            raise errors.InvalidRequest(
                f"{sliver_type} sliver index {index} out of range 0..{metadata.n_shards - 1}"
            )
        shard = ctx.shard_of(blob_id, sliver_type, index)
        if shard not in ctx.readable_shards():
            raise errors.FailedPrecondition(
                f"{sliver_type} sliver {index} belongs to shard {shard}, not held by this node"
            )
        return shard

    async def whole_slivers(
        self, blob_id: bytes, sliver_type: SliverType, indices: Sequence[int]
    ) -> tuple[list[tuple[int, bytes]], errors.NodeError | None]:
        """Slivers ``indices`` whole, each checked against its stored checksum, read in
        one trip to a worker thread (for small slivers: a read buffer's piece holds
        them all); stops at the first it cannot give, returning those before it and
        that sliver's error."""
        ctx = self.ctx
        metadata = await self.require_metadata(blob_id, reading=True)
        store = ctx.store

        def read(shards: list[tuple[int, int]]) -> tuple[list[tuple[int, bytes]], object]:
            got: list[tuple[int, bytes]] = []
            for index, shard in shards:
                try:
                    data = store.get_sliver(shard, sliver_type, blob_id)
                except CorruptSliverError as e:
                    return got, e
                if data is None:
                    return got, index
                got.append((index, data))
            return got, None

        shards: list[tuple[int, int]] = []
        refused: errors.NodeError | None = None
        for index in indices:
            try:
                shards.append((index, self._readable_shard(blob_id, metadata, sliver_type, index)))
            except errors.NodeError as e:
                refused = e
                break
        got, failed = await ctx.read(read, shards)
        served = sum(len(data) for _, data in got)
        ctx.metrics.slivers_served.labels(sliver_type=str(sliver_type)).inc(len(got))
        ctx.metrics.sliver_bytes_served.labels(sliver_type=str(sliver_type)).inc(served)
        if isinstance(failed, CorruptSliverError):
            return got, await self.discard_corrupt(failed.shard, failed.sliver_type, blob_id)
        if isinstance(failed, int):
            return got, errors.NotFound(
                f"{sliver_type} sliver {failed} of blob {BlobId(blob_id)} not stored"
            )
        return got, refused

    async def open_sliver(
        self, blob_id: bytes, sliver_type: SliverType, index: int
    ) -> StoredSliver:
        """Check a read of a sliver and its stored checksum (the sliver is not copied);
        its bytes are then read piece by piece with :meth:`sliver_piece`."""
        ctx = self.ctx
        metadata = await self.require_metadata(blob_id, reading=True)
        shard = self._readable_shard(blob_id, metadata, sliver_type, index)
        try:
            size = await ctx.read(ctx.store.check_sliver, shard, sliver_type, blob_id)
        except CorruptSliverError as e:
            raise await self.discard_corrupt(e.shard, e.sliver_type, e.blob_id) from e
        if size is None:
            raise errors.NotFound(
                f"{sliver_type} sliver {index} of blob {BlobId(blob_id)} not stored"
            )
        ctx.metrics.slivers_served.labels(sliver_type=str(sliver_type)).inc()
        ctx.metrics.sliver_bytes_served.labels(sliver_type=str(sliver_type)).inc(size)
        return StoredSliver(blob_id, shard, sliver_type, index, size)

    async def sliver_piece(self, sliver: StoredSliver, offset: int, length: int) -> bytes:
        """Bytes ``offset..offset+length`` of a sliver opened with :meth:`open_sliver`
        (fewer at its end), each piece from its own short read transaction."""
        ctx = self.ctx
        data = await ctx.read(
            ctx.store.read_sliver_range,
            sliver.shard,
            sliver.sliver_type,
            sliver.blob_id,
            offset,
            length,
        )
        if data is None or len(data) != min(length, sliver.size - offset):
            raise errors.NotFound(
                f"{sliver.sliver_type} sliver {sliver.index} of blob {BlobId(sliver.blob_id)} "
                "was removed while being read"
            )
        return data

    async def _cut_symbols(
        self, blob_id: bytes, cuts: Sequence[Cut]
    ) -> list[recovery.RecoverySymbol]:
        ctx = self.ctx
        try:
            return await ctx.compute(cut_stored, ctx.store, blob_id, cuts)
        except CorruptSliverError as e:
            raise await self.discard_corrupt(e.shard, e.sliver_type, e.blob_id) from e

    async def discard_corrupt(
        self, shard: int, sliver_type: SliverType, blob_id: bytes
    ) -> errors.DataLoss:
        """Drop a stored sliver found corrupt and have blob sync rebuild it; returns the
        error to raise to the caller."""
        ctx = self.ctx
        ctx.metrics.corrupt_slivers.inc()
        log.error(
            "corrupt_sliver",
            shard=shard,
            sliver_type=str(sliver_type),
            blob_id=str(BlobId(blob_id)),
        )
        await ctx.write(ctx.store.delete_sliver, shard, sliver_type, blob_id)
        self._blob_sync.enqueue(blob_id)
        return errors.DataLoss(
            f"stored {sliver_type} sliver of shard {shard} is corrupt; it is being recovered"
        )

    async def recovery_symbols(
        self, blob_id: bytes, target_type: SliverType, target_index: int
    ) -> list[recovery.RecoverySymbol]:
        """Symbols of every sliver this node holds that helps rebuild the target sliver."""
        return await self.recovery_symbols_batch(blob_id, [(target_type, target_index)])

    def check_targets(self, targets: Sequence[Target]) -> list[Target]:
        """The targets of a batched recovery-symbol request, each once; refused if there
        are none or more than ``max_recovery_targets``."""
        limit = self.ctx.config.max_recovery_targets
        if not targets:
            raise errors.InvalidRequest("no target sliver named")
        if len(targets) > limit:
            raise errors.ResourceExhausted(
                f"{len(targets)} target slivers asked for, max_recovery_targets is {limit}"
            )
        return list(dict.fromkeys(targets))

    async def recovery_symbols_batch(
        self, blob_id: bytes, targets: Sequence[Target]
    ) -> list[recovery.RecoverySymbol]:
        """Symbols of every sliver this node holds that helps rebuild any of the target
        slivers: each stored sliver read and expanded once for all of them."""
        ctx = self.ctx
        metadata = await self.require_metadata(blob_id, reading=True)
        for target_type, target_index in targets:
            if not 0 <= target_index < metadata.n_shards:
                raise errors.InvalidRequest(
                    f"{target_type} target index {target_index} out of range "
                    f"0..{metadata.n_shards - 1}"
                )
        out = await local_recovery_symbols(
            ctx,
            blob_id,
            metadata,
            targets,
            sorted(ctx.readable_shards()),
            self._cut_symbols,
        )
        if not out:
            raise errors.NotFound(f"holds no sliver of blob {BlobId(blob_id)} to cut symbols from")
        return out

    # --- status ------------------------------------------------------------------------------

    async def blob_status(self, blob_id: bytes, *, with_proof: bool = False) -> BlobStatus:
        ctx = self.ctx
        basics.parse_blob_id(blob_id)
        info = ctx.lookup(ctx.store.get_blob_info, blob_id)
        if info is None:
            return BlobStatus(BlobStatusState.NONEXISTENT)
        if info.state is BlobState.INVALID and with_proof:
            proof = await self._invalid.proof_of(blob_id)
            metadata = ctx.lookup(ctx.store.get_metadata, blob_id)
            return BlobStatus(
                BlobStatusState.INVALID,
                metadata is not None,
                certified_epoch=info.certified_epoch or 0,
                inconsistency_proof=proof or b"",
                metadata=metadata or b"",
            )
        shards = list(ctx.my_shards()) if ctx.committees is not None else []
        held = ctx.lookup(ctx.store.count_slivers, blob_id, shards)
        has_metadata = ctx.lookup(ctx.store.get_metadata, blob_id) is not None
        return BlobStatus(
            BlobStatusState(info.state.value),
            has_metadata,
            held,
            2 * len(shards),
            info.certified_epoch or 0,
            info.registrations if info.state is BlobState.CERTIFIED else (),
        )
