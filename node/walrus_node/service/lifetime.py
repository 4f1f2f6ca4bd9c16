"""Deletion and lifetime: when a blob's data leaves this node.

Who calls it: the servicer (``DeleteBlob``) through
:class:`walrus_node.service.node.NodeService`, the committee watch (expiry and handed-over
shards at every new committee) and the garbage collector it runs in the background.

A blob's data leaves when its last registration ends (expired) or is deleted by its
owner (deleted) -- each owner deletes only its own deletable registration
(:mod:`.ownership`) --, when it was never certified within ``uncertified_ttl_seconds``,
or when the shard it lives on was handed over to another node that now holds it.
Expired and deleted blobs keep a tombstone so that reads say why the data is gone. Every
change of a blob's registrations and the removal of its data happen in one store
transaction (``Store.update_blob``).
"""

from __future__ import annotations

import asyncio

import structlog

from walrus_node.protocol import errors, keys, messages
from walrus_node.protocol.messages import BlobRegistration
from walrus_node.service import basics, ownership
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["Lifetime"]

log = structlog.get_logger("walrus.node")


class Lifetime:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def expire_blobs(self) -> int:
        """Drop registrations whose end epoch has come; remove the data of blobs left with
        none (reads then answer "expired"). Returns the number of blobs expired."""
        ctx = self.ctx
        c = ctx.require_committees()
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        expired = 0
        for blob_id, info in infos:
            if ownership.expire(info, c.epoch) is None:
                continue

            def update(info: BlobInfo | None) -> BlobInfo | None:
                return None if info is None else ownership.expire(info, c.epoch)

            updated = await ctx.write(ctx.store.update_blob, blob_id, update, c.n_shards)
            if updated is not None and updated.state is BlobState.EXPIRED:
                ctx.forget_metadata(blob_id)
                expired += 1
        if expired:
            ctx.metrics.blobs_expired.inc(expired)
            log.info("blobs_expired", count=expired, epoch=c.epoch)
        return expired

    async def delete_blob(self, blob_id: bytes, epoch: int, signature: bytes) -> bool:
        """Delete the signer's deletable registration of a blob; the data goes when it was
        the last registration. True if it was not deleted yet."""
        ctx = self.ctx
        bid = basics.parse_blob_id(blob_id)
        c = ctx.require_committees()
        info = await ctx.read(ctx.store.get_blob_info, blob_id)
        if info is None:
            raise errors.NotFound(f"blob {bid} is not known to this node")
        if info.state is BlobState.INVALID:
            raise errors.InvalidBlob(str(bid))
        if epoch not in (c.epoch, c.epoch - 1):
            raise errors.StaleEpoch(f"deletion signed for epoch {epoch}; the epoch is {c.epoch}")
        message = messages.deletion_message(epoch, blob_id)

        def signed_by_owner(reg: BlobRegistration) -> bool:
            return reg.deletable and keys.verify(reg.owner_public_key, signature, message)

        if any(signed_by_owner(r) for r in info.deleted) and not any(
            signed_by_owner(r) for r in info.registrations
        ):
            return False  # this owner's registration is already deleted
        if info.state is BlobState.EXPIRED:
            raise errors.Gone(str(bid), "expired")
        if info.state is not BlobState.CERTIFIED:
            raise errors.FailedPrecondition(f"blob {bid} is not certified")
        if not any(r.deletable for r in info.registrations):
            raise errors.FailedPrecondition(f"blob {bid} is permanent; it cannot be deleted")
        if not any(signed_by_owner(r) for r in info.registrations):
            raise errors.PermissionDenied(
                f"deletion of blob {bid} is not signed by its owner (the owner of one of "
                "its deletable registrations)"
            )

        def update(info: BlobInfo | None) -> BlobInfo | None:
            if info is None or info.state is not BlobState.CERTIFIED:
                return None
            owned = [r for r in info.registrations if signed_by_owner(r)]
            return ownership.delete(info, owned[0]) if owned else None

        updated = await ctx.write(ctx.store.update_blob, blob_id, update, c.n_shards)
        if updated is None:
            return False
        if updated.state is BlobState.DELETED:
            ctx.forget_metadata(blob_id)
            ctx.metrics.blobs_deleted.inc()
            log.info("blob_deleted", blob_id=str(bid))
        else:
            log.info("registration_deleted", blob_id=str(bid), remaining=len(updated.registrations))
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
        """Run :meth:`collect_uncertified` every ``gc_interval_seconds``, forever."""
        while True:
            await asyncio.sleep(self.ctx.config.gc_interval_seconds)
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
