"""The committee watch: which committee this node follows, and what it does when it changes.

Who calls it: :class:`walrus_node.service.node.NodeService` (at start-up and in the
background, polling the committee file) and :mod:`.admin` (committees pushed through
``Admin/SetCommittee``). The committee file (a ConfigMap in Kubernetes, read-only and
updated with a delay) and pushed committees (kept in the store) are two routes for the
same information; whichever is newer wins (:func:`freshness`). A committee of another
network (a different ``network_id`` once one is set) is refused.

On a new committee: plan shard sync for gained shards, expire blobs whose end epoch has
come, drop shards handed over, resume blob sync and poke certificate catch-up.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import structlog

from walrus_node.protocol import committee_file
from walrus_node.service import archive
from walrus_node.service.archive import CommitteeArchive
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.certificate_sync import CertificateSync
from walrus_node.service.context import NodeContext
from walrus_node.service.lifetime import Lifetime
from walrus_node.service.shard_sync import ShardSync

__all__ = ["CommitteeWatch", "freshness"]

log = structlog.get_logger("walrus.node")

PUSHED_COMMITTEE = "committee"
"""Store state key of the last committee pushed through ``Admin/SetCommittee``."""


def freshness(c: committee_file.ActiveCommittees) -> tuple[int, int, int]:
    """Orders versions of the committee file: a later epoch, then more members done
    syncing, then a chosen next committee, are newer."""
    return (c.epoch, len(c.state.sync_done), int(c.state.next is not None))


class CommitteeWatch:
    def __init__(
        self,
        ctx: NodeContext,
        shard_sync: ShardSync,
        lifetime: Lifetime,
        blob_sync: BlobSync,
        certificate_sync: CertificateSync,
        archive: CommitteeArchive,
        on_applied: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self._archive = archive
        self._archive_dirty = False
        self._shard_sync = shard_sync
        self._lifetime = lifetime
        self._blob_sync = blob_sync
        self._certificate_sync = certificate_sync
        self._on_applied = on_applied
        self._stamp: tuple[float, int, int] | None = None

    async def start(self) -> None:
        """At start-up: the last pushed committee, then the file; act on what was adopted."""
        archived = self.ctx.store.get_state(archive.STATE_KEY)
        if archived is not None:
            self._archive.load(archived)
        raw = self.ctx.store.get_state(PUSHED_COMMITTEE)
        if raw is not None:
            self.apply(committee_file.parse(raw))
        self.reload()
        if self.ctx.committees is not None:
            await self.changed()

    def reload(self) -> bool:
        """Re-read the committee file if it changed; True if a newer committee was applied."""
        path = self.ctx.config.committee_file
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            parsed = committee_file.parse(path.read_bytes())
        except (OSError, committee_file.CommitteeFileError) as e:
            log.error("committee_file_invalid", path=str(path), error=str(e))
            return False
        return self.apply(parsed)

    def apply(self, committees: committee_file.ActiveCommittees) -> bool:
        """Adopt a committee unless the one in use is newer; True if adopted and different."""
        old = self.ctx.committees
        if old is not None and (
            freshness(committees) < freshness(old) or committees.to_dict() == old.to_dict()
        ):
            return False
        if old is not None and old.network_id and committees.network_id != old.network_id:
            log.error(
                "committee_network_changed",
                network_id=old.network_id,
                refused=committees.network_id,
            )
            return False
        self.ctx.committees = committees
        self._archive_dirty |= self._archive.record(committees)
        if old is None or old.epoch != committees.epoch or old.current != committees.current:
            log.info(
                "committee_applied",
                epoch=committees.epoch,
                phase=committees.phase,
                shards=list(self.ctx.my_shards()),
            )
            self._certificate_sync.poke()
        self._on_applied()
        return True

    async def run(self) -> None:
        """Poll the committee file forever."""
        while True:
            await asyncio.sleep(self.ctx.config.committee_poll_seconds)
            if self.reload():
                await self.changed()

    async def changed(self) -> None:
        """Act on a newly applied committee: sync gained shards, expire blobs whose end
        epoch has come, drop shards handed over once the change is done, catch up."""
        if self._archive_dirty:
            self._archive_dirty = False
            await self.ctx.write(
                self.ctx.store.put_state, archive.STATE_KEY, self._archive.to_bytes()
            )
        await self._shard_sync.plan()
        await self._lifetime.expire_blobs()
        await self._lifetime.drop_lost_shards()
        await self._blob_sync.resume()
        self._certificate_sync.poke()
        self._on_applied()
