"""The storage node's behaviour, independent of the transport: the parts, wired together.

Who calls it: :mod:`walrus_node.transport.server` builds one :class:`NodeService`; the
servicers (:mod:`walrus_node.transport.servicer`) call its parts, one per concern:

- :attr:`NodeService.blobs` (:mod:`.blobs`): metadata, slivers, recovery symbols, status;
- :attr:`NodeService.sliver_symbols` (:mod:`.sliver_symbols`): runs of symbols with proofs,
  for ranged reads;
- :attr:`NodeService.registrations` (:mod:`.registrations`): confirmations, certificates;
- :attr:`NodeService.lifetime` (:mod:`.lifetime`): deletion, expiry, garbage collection;
- :attr:`NodeService.admin` (:mod:`.admin`): admin requests (committee push);
- :attr:`NodeService.report` (:mod:`.report`): node info, sync status, gauges;
- :attr:`NodeService.shard_sync` (:mod:`.shard_sync`): serving shards to their new owner.

Every part validates its input completely before touching the store, raises only
:mod:`walrus_node.protocol.errors` (third-party errors are wrapped), and stores nothing
unverified.

Background work started by :meth:`NodeService.start`: watching the committee file
(:mod:`.committees`), blob sync (:mod:`.blob_sync`), certificate catch-up
(:mod:`.certificate_sync`), the removal of data of blobs that were never certified
(every ``gc_interval_seconds``), giving freed memory back to the kernel when idle
(:mod:`.idle_trim`), and dropping the store file's pages from the resident memory
(:mod:`.map_release`). Before any of it, the uncertified quota is rebuilt from the store.
"""

from __future__ import annotations

import asyncio
import contextlib

from walrus_node.codec.params import MAX_SHARDS
from walrus_node.service import idle_trim, map_release
from walrus_node.service.admin import Admin
from walrus_node.service.archive import CommitteeArchive
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.blobs import BlobData
from walrus_node.service.certificate_sync import CertificateSync
from walrus_node.service.committees import CommitteeWatch
from walrus_node.service.context import NodeContext
from walrus_node.service.invalid_blobs import InvalidBlobs
from walrus_node.service.lifetime import Lifetime
from walrus_node.service.registrations import Registrations
from walrus_node.service.replay import ReplayGuard
from walrus_node.service.report import NodeReport
from walrus_node.service.shard_sync import ShardSync
from walrus_node.service.sliver_symbols import SliverSymbols

__all__ = ["NodeService"]


class NodeService:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.replay_guard = ReplayGuard(ctx.config.control_nonce_cache_size)
        self.invalid = InvalidBlobs(ctx)
        self.blob_sync = BlobSync(ctx, self.invalid)
        self.blobs = BlobData(ctx, self.blob_sync, self.invalid)
        self.sliver_symbols = SliverSymbols(ctx, self.blobs)
        self.archive = CommitteeArchive()
        self.registrations = Registrations(ctx, self.blobs, self.blob_sync, self.archive)
        self.lifetime = Lifetime(ctx)
        self.certificate_sync = CertificateSync(ctx, self.registrations, self.lifetime)
        self.shard_sync = ShardSync(
            ctx,
            self.blob_sync,
            self.certificate_sync.catch_up,
            self.blob_sync.resume,
            self.registrations,
            self.replay_guard,
        )
        self.report = NodeReport(ctx, self.shard_sync, self.blob_sync)
        self.committees = CommitteeWatch(
            ctx,
            self.shard_sync,
            self.lifetime,
            self.blob_sync,
            self.certificate_sync,
            self.archive,
            self.report.update_gauges,
        )
        self.admin = Admin(ctx, self.committees, self.replay_guard)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.committees.start()
        ctx = self.ctx
        n_shards = MAX_SHARDS if ctx.committees is None else ctx.committees.n_shards
        ctx.uncertified.restore(await ctx.read(ctx.store.uncertified_usage, n_shards))
        self._tasks = [
            asyncio.create_task(self.blob_sync.run(), name="blob-sync"),
            asyncio.create_task(self.certificate_sync.run(), name="certificate-sync"),
            asyncio.create_task(self.committees.run(), name="committee-watch"),
            asyncio.create_task(self.lifetime.collect_garbage(), name="gc"),
            asyncio.create_task(idle_trim.run(self.ctx), name="idle-trim"),
            asyncio.create_task(map_release.run(self.ctx), name="map-release"),
        ]
        self.report.update_gauges()

    async def stop(self) -> None:
        await self.shard_sync.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.ctx.peers.close()
        await asyncio.to_thread(self.ctx.shutdown)
        self.ctx.store.close()
