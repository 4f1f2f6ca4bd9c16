"""Deletion and lifetime: when a blob's data leaves this node.

Who calls it: the servicer (``DeleteBlob``) through
:class:`walrus_node.service.node.NodeService`, the committee watch (expiry and handed-over
shards at every new committee) and the garbage collector it runs in the background.

Data leaves when a blob's end epoch comes (expired), when its owner deletes a deletable
blob (deleted), when it was never certified within ``uncertified_ttl_seconds``, or when
the shard it lives on was handed over to another node that now holds it. Expired and
deleted blobs keep a tombstone so that reads say why the data is gone.
"""

from __future__ import annotations

import asyncio
import dataclasses

import structlog

from walrus_node.protocol import errors, keys, messages
from walrus_node.service import basics
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobState

__all__ = ["Lifetime"]

log = structlog.get_logger("walrus.node")

GC_INTERVAL = 60.0
"""Seconds between two passes of the collector of uncertified data."""


class Lifetime:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def expire_blobs(self) -> int:
        """Remove the data of blobs whose end epoch has come; reads then answer "expired"."""
        ctx = self.ctx
        c = ctx.require_committees()
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        expired = 0
        for blob_id, info in infos:
            reg = info.registration
            if info.state is BlobState.CERTIFIED and reg is not None and reg.end_epoch <= c.epoch:
                tombstone = dataclasses.replace(info, state=BlobState.EXPIRED)
                await ctx.write(ctx.store.drop_blob_data, blob_id, tombstone, c.n_shards)
                ctx.forget_metadata(blob_id)
                expired += 1
        if expired:
            ctx.metrics.blobs_expired.inc(expired)
            log.info("blobs_expired", count=expired, epoch=c.epoch)
        return expired

    async def delete_blob(self, blob_id: bytes, epoch: int, signature: bytes) -> bool:
        """Delete a deletable blob at its owner's request; True if it was not deleted yet."""
        ctx = self.ctx
        bid = basics.parse_blob_id(blob_id)
        c = ctx.require_committees()
        info = await ctx.read(ctx.store.get_blob_info, blob_id)
        if info is None:
            raise errors.NotFound(f"blob {bid} is not known to this node")
        if info.state is BlobState.DELETED:
            return False
        if info.state is BlobState.EXPIRED:
            raise errors.Gone(str(bid), "expired")
        reg = info.registration
        if info.state is not BlobState.CERTIFIED or reg is None:
            raise errors.FailedPrecondition(f"blob {bid} is not certified")
        if not reg.deletable:
            raise errors.FailedPrecondition(f"blob {bid} is permanent; it cannot be deleted")
        if epoch not in (c.epoch, c.epoch - 1):
            raise errors.StaleEpoch(f"deletion signed for epoch {epoch}; the epoch is {c.epoch}")
        message = messages.deletion_message(epoch, blob_id)
        if not keys.verify(reg.owner_public_key, signature, message):
            raise errors.PermissionDenied(f"deletion of blob {bid} is not signed by its owner")
        tombstone = dataclasses.replace(info, state=BlobState.DELETED)
        await ctx.write(ctx.store.drop_blob_data, blob_id, tombstone, c.n_shards)
        ctx.forget_metadata(blob_id)
        ctx.metrics.blobs_deleted.inc()
        log.info("blob_deleted", blob_id=str(bid))
        return True

    async def drop_lost_shards(self) -> None:
        """Delete shards handed over to another node, once that node holds them.

        A shard this node owned in the previous epoch stays (read-only, and the source of
        shard sync) until its new owner has reported done; older ones go at once.
        """
        ctx = self.ctx
        c = ctx.require_committees()
        me = ctx.keypair.public_key
        mine = set(ctx.my_shards())
        previous = c.state.previous
        held = await ctx.read(ctx.store.shards_with_data, c.n_shards)
        for shard in held:
            if shard in mine:
                continue
            handed_over_now = previous is not None and previous.owner(shard).public_key == me
            if handed_over_now and c.current.owner(shard).name not in c.state.sync_done:
                continue
            await ctx.write(ctx.store.drop_shard, shard)
            log.info("shard_dropped", shard=shard, epoch=c.epoch)

    async def collect_garbage(self) -> None:
        """Run :meth:`collect_uncertified` every :data:`GC_INTERVAL` seconds, forever."""
        while True:
            await asyncio.sleep(GC_INTERVAL)
            try:
                await self.collect_uncertified()
            except Exception:
                log.exception("gc_failed")

    async def collect_uncertified(self) -> int:
        """Delete data of blobs never certified within ``uncertified_ttl_seconds``."""
        ctx = self.ctx
        if ctx.committees is None:
            return 0
        cutoff = basics.now_ms() - int(ctx.config.uncertified_ttl_seconds * 1000)
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        removed = 0
        n_shards = ctx.require_committees().n_shards
        for blob_id, info in infos:
            if info.state is not BlobState.REGISTERED or info.created_ms >= cutoff:
                continue
            # Re-checked inside the removing transaction: a certificate recorded since the
            # snapshot above keeps the blob.
            if await ctx.write(ctx.store.remove_uncertified, blob_id, cutoff, n_shards):
                ctx.forget_metadata(blob_id)
                ctx.uncertified.settle(blob_id)
                removed += 1
        if removed:
            log.info("uncertified_blobs_removed", count=removed)
        return removed
