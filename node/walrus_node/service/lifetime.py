"""Deletion and lifetime: when a blob's data leaves this node.

Who calls it: the servicer (``DeleteBlob``, ``ListDeletions``) through
:class:`walrus_node.service.node.NodeService`, certificate catch-up (deletions listed by
peers, :mod:`.certificate_sync`), the committee watch (expiry, the deletion log's pruning
and handed-over shards at every new committee) and the garbage collector it runs in the
background.

A blob's data leaves when its last registration ends (expired) or is deleted by its
owner (deleted) -- each owner deletes only its own deletable registration
(:mod:`.ownership`) --, when it was never certified within ``uncertified_ttl_seconds``,
or when the shard it lives on was handed over to another node that now holds it.
Expired and deleted blobs keep a tombstone so that reads say why the data is gone. Every
change of a blob's registrations and the removal of its data happen in one store
transaction (``Store.update_blob``).

Every deletion that changed something here is logged (``Store.record_deletion``, in the
same transaction) as the owner signed it, with the owner key, so that peers that missed
it (down, partitioned, cut off) learn it from deletion catch-up
(:mod:`.certificate_sync`, :meth:`Lifetime.accept_relayed`) and check it themselves. The
log is pruned at every new committee of the deletions that can no longer remove anything
(:meth:`Lifetime.obsolete`: signed ``max_epochs_ahead`` epochs ago or more).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import structlog

from walrus_node.codec.metadata import BlobId
from walrus_node.protocol import errors, keys, messages
from walrus_node.service import basics, ownership
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["MAX_DELETIONS_LISTED", "Lifetime"]

log = structlog.get_logger("walrus.node")

MAX_DELETIONS_LISTED = 1024
"""Most deletions one ``ListDeletions`` answer carries (136 bytes each)."""


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
        horizon = c.max_epochs_ahead
        for blob_id, info in infos:
            if ownership.expire(info, c.epoch, horizon) is None:
                continue

            def update(info: BlobInfo | None) -> BlobInfo | None:
                return None if info is None else ownership.expire(info, c.epoch, horizon)

            updated = await ctx.write(ctx.store.update_blob, blob_id, update, c.n_shards)
            if (
                info.state is BlobState.CERTIFIED
                and updated is not None
                and updated.state is BlobState.EXPIRED
            ):
                ctx.forget_metadata(blob_id)
                expired += 1
        if expired:
            ctx.metrics.blobs_expired.inc(expired)
            log.info("blobs_expired", count=expired, epoch=c.epoch)
        pruned = await ctx.write(ctx.store.prune_deletions, self.obsolete)
        if pruned:
            log.info("deletion_log_pruned", count=pruned, epoch=c.epoch)
        return expired

    async def delete_blob(self, blob_id: bytes, epoch: int, signature: bytes) -> bool:
        """Delete the signer's deletable registration of a blob (``DeleteBlob``); the data
        goes when it was the last registration. True if a registration was removed."""
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
        network = c.network_id

        def signer(candidates: list[bytes]) -> bytes | None:
            return next(
                (
                    k
                    for k in candidates
                    if keys.verify(
                        k, signature, messages.deletion_message(network, epoch, blob_id, k)
                    )
                ),
                None,
            )

        live = info.registrations if info.state is BlobState.CERTIFIED else ()
        owner = signer([r.owner_public_key for r in live if r.deletable])
        if owner is None:
            gone = [r.owner_public_key for r in info.deleted if r.deletable]
            if signer([o for o, _ in info.deletions] + gone) is not None:
                return False  # this owner's registration is already deleted
        if info.state is BlobState.EXPIRED:
            raise errors.Gone(str(bid), "expired")
        if info.state is not BlobState.CERTIFIED:
            raise errors.FailedPrecondition(f"blob {bid} is not certified")
        if not any(r.deletable for r in info.registrations):
            raise errors.FailedPrecondition(f"blob {bid} is permanent; it cannot be deleted")
        if owner is None:
            raise errors.PermissionDenied(
                f"deletion of blob {bid} is not signed by its owner (the owner of one of "
                f"its deletable registrations) for this network ({network!r})"
            )
        return await self._apply(messages.Deletion(epoch, blob_id, owner, signature), "owner")

    def obsolete(self, deletion: messages.Deletion) -> bool:
        """True once every registration ``deletion`` could remove has ended: those it
        covers were certified in its epoch or before, so they end within
        ``max_epochs_ahead`` epochs of it."""
        c = self.ctx.require_committees()
        return deletion.epoch + c.max_epochs_ahead <= c.epoch

    async def deletes_nothing(self, deletion: messages.Deletion) -> bool:
        """True if applying ``deletion`` here would change nothing (already applied, or
        nothing it covers is live or still to come), so that deletion catch-up need not
        check its signature: a read, without a write transaction. False for a blob this
        node does not know, and for a deletion the blob has no room to remember
        (:func:`.ownership.lacks_room`): that one is not known here, and must be checked
        and kept waiting."""
        if self.obsolete(deletion):
            return True
        info = self.ctx.lookup(self.ctx.store.get_blob_info, deletion.blob_id)
        if info is None:
            return False
        owner, epoch = deletion.owner_public_key, deletion.epoch
        if ownership.lacks_room(info, owner, epoch):
            return False
        return ownership.delete(info, owner, epoch) is None

    def must_wait(self, deletions: Iterable[messages.Deletion]) -> set[messages.Deletion]:
        """Those of ``deletions`` that cannot be applied here yet: their blob is not
        known, or has no room to remember them (:func:`.ownership.lacks_room`; the
        owner's certificate is still to come). Signatures are not checked; each blob's
        info is read once, however many deletions of it wait."""
        checks: dict[bytes, Callable[[bytes, int], bool] | None] = {}
        waiting: set[messages.Deletion] = set()
        for deletion in deletions:
            blob_id = deletion.blob_id
            if blob_id not in checks:
                info = self.ctx.lookup(self.ctx.store.get_blob_info, blob_id)
                checks[blob_id] = None if info is None else ownership.room_check(info)
            lacks = checks[blob_id]
            if lacks is None or lacks(deletion.owner_public_key, deletion.epoch):
                waiting.add(deletion)
        return waiting

    async def accept_relayed(self, deletion: messages.Deletion) -> bool:
        """Check a deletion a peer listed from its log and apply it as ``DeleteBlob``
        would; True if a registration was removed.

        The peer is not trusted: the owner's signature over this node's network, the
        epoch, the blob ID and the owner key is checked here (a deletion signed for
        another network fails), and the deletion covers only that owner's registrations certified
        up to its epoch (:func:`.ownership.delete`). A deletion signed in any epoch up to
        the next one is accepted (the peer may be ahead at an epoch change; one older
        than the ``DeleteBlob`` window was accepted by the peer in time). Raises
        ``PermissionDenied`` for a bad signature, ``StaleEpoch`` for a later epoch,
        ``NotFound`` for a blob this node does not know (yet) and ``NoRoomForDeletion``
        for one the blob has no room to remember (its owner's certificate is not here
        yet)."""
        ctx = self.ctx
        bid = basics.parse_blob_id(deletion.blob_id)
        c = ctx.require_committees()
        if deletion.epoch > c.epoch + 1:
            raise errors.StaleEpoch(
                f"deletion signed for epoch {deletion.epoch}; the epoch is {c.epoch}"
            )
        if not deletion.is_valid(c.network_id):
            ctx.metrics.rejected_inputs.labels(reason="invalid_deletion").inc()
            raise errors.PermissionDenied(
                f"deletion of blob {bid} is not signed by the owner key it names for this "
                f"network ({c.network_id!r})"
            )
        info = await ctx.read(ctx.store.get_blob_info, deletion.blob_id)
        if info is None:
            raise errors.NotFound(f"blob {bid} is not known to this node")
        if ownership.lacks_room(info, deletion.owner_public_key, deletion.epoch):
            raise _no_room(bid, deletion)  # seen on a read: no write transaction for it
        return await self._apply(deletion, "peer")

    async def _apply(self, deletion: messages.Deletion, source: str) -> bool:
        """Apply a checked deletion and log it, in one transaction; True if a
        registration was removed. Raises ``NoRoomForDeletion`` if the blob has no room
        to remember it (nothing is written then)."""
        ctx = self.ctx
        bid = basics.parse_blob_id(deletion.blob_id)
        c = ctx.require_committees()
        before: list[BlobInfo] = []
        full: list[bool] = []

        def update(info: BlobInfo | None) -> BlobInfo | None:
            before[:] = [] if info is None else [info]
            owner, epoch = deletion.owner_public_key, deletion.epoch
            full[:] = [ownership.lacks_room(info, owner, epoch)]
            return ownership.delete(info, owner, epoch)

        updated = await ctx.write(ctx.store.record_deletion, deletion, update, c.n_shards)
        if full and full[0]:
            raise _no_room(bid, deletion)
        if updated is None or not before:
            return False
        old = before[0]
        removed = old.state is BlobState.CERTIFIED and (
            updated.state is not BlobState.CERTIFIED or updated.registrations != old.registrations
        )
        if not removed:
            log.info("deletion_remembered", blob_id=str(bid), epoch=deletion.epoch, source=source)
            return False
        if updated.state is BlobState.DELETED:
            ctx.forget_metadata(deletion.blob_id)
            ctx.metrics.blobs_deleted.inc()
            log.info("blob_deleted", blob_id=str(bid), source=source)
        else:
            log.info(
                "registration_deleted",
                blob_id=str(bid),
                remaining=len(updated.registrations),
                source=source,
            )
        return True

    async def deletions_after(
        self, sequence: int, limit: int
    ) -> list[tuple[int, messages.Deletion]]:
        """``ListDeletions``: this node's deletion log after ``sequence``, at most
        :data:`MAX_DELETIONS_LISTED` entries (fewer if ``limit`` asks)."""
        limit = max(1, min(limit or MAX_DELETIONS_LISTED, MAX_DELETIONS_LISTED))
        return await self.ctx.read(self.ctx.store.deletions_after, sequence, limit)

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


def _no_room(bid: BlobId, deletion: messages.Deletion) -> errors.NoRoomForDeletion:
    return errors.NoRoomForDeletion(
        f"blob {bid} already remembers the most deletions "
        f"({ownership.MAX_EARLY_DELETIONS}) of owners without a registration on it "
        f"here, and this deletion (signed in epoch {deletion.epoch}) removes none; "
        "retry, with a deletion signed in the current epoch, once the owner's "
        "certificate has reached this node"
    )
