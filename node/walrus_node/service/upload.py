"""One ``StoreSlivers`` or ``StoreBlob`` stream on its way into the store, verified sliver
by sliver.

Who calls it: the servicer, through :meth:`walrus_node.service.blobs.BlobData.upload`
(``StoreSlivers``: the metadata is stored already) or
:meth:`~walrus_node.service.blobs.BlobData.upload_blob` (``StoreBlob``: the stream's own
metadata, verified and charged before any sliver is read, is held as
:class:`PendingMetadata` and written in the same transaction as the first slivers, so a
small blob costs one fsync, not two), once per stream: :meth:`Upload.admit` for each
header (before any of the sliver's bytes are read), :meth:`Upload.add` for each complete
sliver, :meth:`Upload.finish` at the end and :meth:`Upload.close` always.

What an upload holds is bounded three ways: a sliver's bytes are reserved in the node's
memory budget at its header (so a stream that cannot get room waits, or fails with
RESOURCE_EXHAUSTED, before reading the bytes); each sliver is verified against the
metadata as soon as it is complete, so a bad one is refused before the next is read;
verified slivers are written to the store whenever they reach ``request_buffer_bytes``,
in the background (each write after the one before, the stream read on meanwhile; the
reservation of their bytes given back once they are durable), and :meth:`Upload.finish`
waits for every write before the node answers or signs anything.
A verified primary sliver's Merkle tree is kept (:mod:`.sliver_trees`) so that ranged
reads of the blob can prove symbols without reading the whole sliver back.
Slivers of a blob that is not certified yet are charged to the uncertified quota.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import slivers
from walrus_node.codec._types import Buffer
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.protocol import errors
from walrus_node.protocol.sliver_buffer import SliverBuffer
from walrus_node.service import basics, sliver_trees
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState, BlobUnavailableError

__all__ = ["INLINE_VERIFY_BYTES", "PendingMetadata", "Upload"]

T = TypeVar("T")


INLINE_VERIFY_BYTES = 512 << 10
"""Slivers up to this size (those of one type that came together: up to this size in
all) are verified on the event loop, bigger ones on a worker thread.
Verifying a 1 MiB blob's slivers at 7 shards (350 and 210 kB) takes 0.15-0.35 ms of CPU,
and the hop to a thread and back ~0.05 ms more (two thread switches, more on a busy
machine), with nothing gained on a machine whose cores the other processes keep busy; a
64 MiB blob's 22 MB sliver would hold the loop for ~20 ms, so it still goes to a thread."""


async def _inline(fn: Callable[..., T], *args: object) -> T:
    return fn(*args)


@dataclasses.dataclass
class PendingMetadata:
    """A StoreBlob stream's metadata: verified against the blob ID, not yet stored."""

    metadata: BlobMetadata
    raw: bytes
    charged: int
    """Bytes charged to the uncertified quota for it (0: certified or stored already)."""
    written: bool = False
    new: bool = False
    """Written by this stream (not stored before)."""


class Checks(Protocol):
    """What an upload needs from :class:`~walrus_node.service.blobs.BlobData`."""

    async def check_sliver_headers(
        self,
        blob_id: bytes,
        headers: Sequence[tuple[SliverType, int, int]],
        metadata: BlobMetadata | None = None,
    ) -> list[int]: ...

    async def require_metadata(self, blob_id: bytes) -> BlobMetadata: ...


class Upload:
    def __init__(
        self,
        ctx: NodeContext,
        blob_id: bytes,
        blobs: Checks,
        pending: PendingMetadata | None = None,
        trees: sliver_trees.TreeCache | None = None,
    ) -> None:
        self.ctx = ctx
        self.blob_id = blob_id
        self._checks = blobs
        self.pending = pending
        self._trees = trees
        """Where a verified primary sliver's Merkle tree is kept for ranged reads."""
        self._reserved = 0
        """Bytes reserved in the memory budget and not yet released."""
        self._held: list[tuple[SliverType, int, bytes | SliverBuffer]] = []
        self._held_bytes = 0
        self._charged: dict[tuple[SliverType, int], int] = {}
        """Slivers charged to the uncertified quota and not stored yet."""
        self._new = 0
        self._writing: asyncio.Task[None] | None = None
        """The last write started (:meth:`_write_behind`); each waits for the one before."""
        self._late: asyncio.Future[None] | None = None
        """The giving back of a close that was cancelled, once the writes are over."""

    async def admit(self, sliver_type: SliverType, index: int, size: int) -> None:
        """Check a sliver's header and reserve room for its bytes before reading them."""
        await self.admit_many([(sliver_type, index, size)])

    async def admit_many(self, headers: Sequence[tuple[SliverType, int, int]]) -> None:
        """:meth:`admit` for the headers of slivers that arrived together, each
        ``(type, index, size)``: the blob's state read once, one reservation for all."""
        ctx = self.ctx
        metadata = self.pending.metadata if self.pending is not None else None
        shards = await self._checks.check_sliver_headers(self.blob_id, headers, metadata)
        info = ctx.lookup(ctx.store.get_blob_info, self.blob_id)
        # Not certified: registered, or (StoreBlob) about to be registered afresh.
        if info is None or info.state is not BlobState.CERTIFIED:
            keys = [(shard, t) for shard, (t, _, _) in zip(shards, headers, strict=True)]
            stored = ctx.lookup(ctx.store.has_slivers, self.blob_id, keys)
            for (sliver_type, index, size), there in zip(headers, stored, strict=True):
                if not there:
                    ctx.uncertified.charge(self.blob_id, size)
                    self._charged[(sliver_type, index)] = size
        size = sum(size for _, _, size in headers)
        if len(headers) == 1:
            sliver_type, index, _ = headers[0]
            what = f"{sliver_type} sliver {index}"
        else:
            what = f"{len(headers)} slivers"
        await ctx.memory.acquire(size, what)
        self._reserved += size

    async def add(self, sliver_type: SliverType, index: int, sliver: bytes | SliverBuffer) -> None:
        """Verify a complete sliver now; write held slivers once they reach the buffer. A
        received sliver comes in a :class:`SliverBuffer`, stored as it is."""
        await self.add_many([(sliver_type, index, sliver)])

    async def add_many(self, items: Sequence[tuple[SliverType, int, bytes | SliverBuffer]]) -> None:
        """:meth:`add` for slivers that arrived together (a small blob's start part): those
        of one type verified in one native call; nothing of them is held unless all are
        the committed slivers."""
        ctx = self.ctx
        if self.pending is not None:
            metadata = self.pending.metadata
        else:
            metadata = await self._checks.require_metadata(self.blob_id)
        primary: list[tuple[int, Buffer]] = []
        secondary: list[tuple[int, Buffer]] = []
        sizes = [0, 0]
        for sliver_type, index, sliver in items:
            data = sliver.data if isinstance(sliver, SliverBuffer) else sliver
            of_primary = sliver_type is SliverType.PRIMARY
            (primary if of_primary else secondary).append((index, data))
            sizes[not of_primary] += len(data)
        # Small slivers are checked right here: the hop to a worker thread and back costs
        # more CPU than the check itself saves the loop (INLINE_VERIFY_BYTES).
        on_loop = [size <= INLINE_VERIFY_BYTES for size in sizes]
        try:
            if primary and self._trees is not None:
                # the same checks as verify_slivers, keeping the trees they compute anyway
                compute = _inline if on_loop[0] else ctx.compute
                kept = await compute(sliver_trees.verified_trees, metadata, primary)
                for (index, _), tree in zip(primary, kept, strict=True):
                    self._trees.put((self.blob_id, index), tree)
            elif primary:
                compute = _inline if on_loop[0] else ctx.compute
                await compute(slivers.verify_slivers, metadata, SliverType.PRIMARY, primary)
            if secondary:
                compute = _inline if on_loop[1] else ctx.compute
                await compute(slivers.verify_slivers, metadata, SliverType.SECONDARY, secondary)
        except codec_errors.InvalidSliverError as e:
            ctx.metrics.rejected_inputs.labels(reason="invalid_sliver").inc()
            raise errors.InvalidRequest(str(e)) from e
        self._held.extend(items)
        self._held_bytes += sum(sizes)
        if self._writing is not None and self._writing.done():
            self._writing.result()  # a write behind failed: stop reading the stream
        if self._held_bytes >= ctx.config.request_buffer_bytes:
            self._write_behind()

    def _write_behind(self) -> None:
        """Start writing what is held, after the write started before it, and go on
        reading the stream meanwhile: the disk writes (and fsyncs) of a big upload's
        first slivers overlap the receipt and verification of the next ones."""
        if not self._held:
            return
        held, self._held = self._held, []
        size, self._held_bytes = self._held_bytes, 0
        self._writing = asyncio.create_task(self._write(held, size, self._writing))

    async def _flush(self) -> None:
        """Write what is held and wait until every write of this upload is durable."""
        self._write_behind()
        if self._writing is not None:
            await self._writing

    async def _write(
        self,
        held: list[tuple[SliverType, int, bytes | SliverBuffer]],
        size: int,
        before: asyncio.Task[None] | None,
    ) -> None:
        if before is not None:
            await before  # in order; a failed write fails every later one
        ctx = self.ctx
        rows = [(ctx.shard_of(self.blob_id, t, i), t, self.blob_id, d) for t, i, d in held]
        pending = self.pending
        try:
            if pending is not None and not pending.written:
                pending.new, new = await ctx.write(
                    ctx.store.put_blob, self.blob_id, pending.raw, self._fresh_info(), rows
                )
                pending.written = True
                self._new += new
                self._metadata_written()
            else:
                self._new += await ctx.write(ctx.store.put_slivers, rows)
        except BlobUnavailableError as e:
            raise errors.FailedPrecondition(f"{e}; store its metadata again") from e
        for sliver_type, index, data in held:
            self._charged.pop((sliver_type, index), None)  # stored: stays charged
            ctx.metrics.slivers_stored.labels(sliver_type=str(sliver_type)).inc()
            ctx.metrics.sliver_bytes_stored.labels(sliver_type=str(sliver_type)).inc(len(data))
        self._reserved -= size
        await ctx.memory.release(size)

    @staticmethod
    def _fresh_info() -> BlobInfo:
        return BlobInfo(BlobState.REGISTERED, basics.now_ms())

    def _metadata_written(self) -> None:
        pending = self.pending
        assert pending is not None
        self.ctx.remember_metadata(self.blob_id, pending.metadata)
        if pending.new:
            self.ctx.metrics.metadata_stored.inc()
        elif pending.charged:  # stored meanwhile by another stream, which paid for it
            self.ctx.uncertified.refund(self.blob_id, pending.charged)
        pending.charged = 0

    async def finish(self) -> tuple[int, int, int]:
        """Write what is held (and the stream's metadata, even without slivers); return
        (newly stored, held, expected) for this node."""
        await self._flush()
        ctx = self.ctx
        pending = self.pending
        if pending is not None and not pending.written:
            pending.new = await ctx.write(
                ctx.store.put_metadata, self.blob_id, pending.raw, self._fresh_info()
            )
            pending.written = True
            self._metadata_written()
        shards = list(ctx.my_shards())
        held = ctx.lookup(ctx.store.count_slivers, self.blob_id, shards)
        return self._new, held, 2 * len(shards)

    async def close(self) -> None:
        """Wait for the writes under way, then give back every reservation, and the
        quota of slivers that were not stored. Cancelled while it waits, it leaves the
        giving back to the end of the last write, so nothing stays reserved."""
        writing = self._writing
        if writing is not None and not writing.done():
            try:
                await asyncio.shield(asyncio.gather(writing, return_exceptions=True))
            except asyncio.CancelledError:
                writing.add_done_callback(self._give_back_later)
                raise
        await self._give_back()

    def _give_back_later(self, _: object) -> None:
        self._late = asyncio.ensure_future(self._give_back())

    async def _give_back(self) -> None:
        reserved, self._reserved = self._reserved, 0
        await self.ctx.memory.release(reserved)
        charged, self._charged = sum(self._charged.values()), {}
        if self.pending is not None and not self.pending.written:
            charged += self.pending.charged  # never stored
            self.pending.charged = 0
        if charged:
            self.ctx.uncertified.refund(self.blob_id, charged)
