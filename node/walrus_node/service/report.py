"""What a node reports about itself: node info, shard-sync status, the status gauges.

Who calls it: the servicer (``GetNodeInfo``, ``GetCommittee``, ``Admin/GetSyncStatus``)
through :class:`walrus_node.service.node.NodeService`, and the committee watch, which
refreshes the gauges whenever a committee is applied.
"""

from __future__ import annotations

import functools
import importlib.metadata
import time

from walrus_node.protocol.views import NodeInfo, NodeStatus, SyncStatus
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.context import NodeContext
from walrus_node.service.shard_sync import ShardSync

__all__ = ["NodeReport", "version"]


@functools.cache
def version() -> str:
    """The installed package's version, looked up once: the lookup scans the package
    metadata on disk, and every peer's certificate catch-up asks for node info."""
    try:
        return importlib.metadata.version("walrus-k8s")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class NodeReport:
    def __init__(self, ctx: NodeContext, shard_sync: ShardSync, blob_sync: BlobSync) -> None:
        self.ctx = ctx
        self._shard_sync = shard_sync
        self._blob_sync = blob_sync
        self._started = time.monotonic()

    def status(self) -> NodeStatus:
        if self.ctx.committees is None or not self.ctx.my_shards():
            return NodeStatus.STANDBY
        if self.ctx.shards_in_transfer:
            return NodeStatus.SYNCING
        if self._blob_sync.backlog:
            return NodeStatus.RECOVERING
        return NodeStatus.ACTIVE

    def update_gauges(self) -> None:
        m = self.ctx.metrics
        m.set_status(self.status().value, tuple(s.value for s in NodeStatus))
        if self.ctx.committees is not None:
            m.epoch.set(self.ctx.committees.epoch)
            m.shards_owned.set(len(self.ctx.my_shards()))

    def committee_json(self) -> bytes:
        return self.ctx.require_committees().to_json()

    async def node_info(self) -> NodeInfo:
        ctx = self.ctx
        c = ctx.committees
        shards = ctx.my_shards() if c is not None else ()
        blobs = await ctx.read(ctx.store.blob_count)
        logged = await ctx.read(ctx.store.certificate_count)
        deletions = await ctx.read(ctx.store.deletion_count)
        self.update_gauges()
        ctx.metrics.blobs_stored.set(blobs)
        return NodeInfo(
            name=ctx.config.name,
            public_key=ctx.keypair.public_key,
            epoch=c.epoch if c is not None else 0,
            n_shards=c.n_shards if c is not None else 0,
            shards=shards,
            status=self.status(),
            shard_states=self._shard_states(),
            version=version(),
            uptime_seconds=int(time.monotonic() - self._started),
            blobs_stored=blobs,
            recovery_backlog=self._blob_sync.backlog,
            phase=c.phase if c is not None else "",
            certificates_logged=logged,
            deletions_logged=deletions,
        )

    def _shard_states(self) -> tuple[tuple[int, str], ...]:
        ctx = self.ctx
        if ctx.committees is None:
            return ()
        states = dict.fromkeys(ctx.my_shards(), "active")
        for shard, progress in self._shard_sync.progress.items():
            if progress.state != "done":
                states[shard] = progress.state
        for shard in ctx.readable_shards() - set(states):
            states[shard] = "read-only"
        return tuple(sorted(states.items()))

    def sync_status(self) -> SyncStatus:
        ctx = self.ctx
        c = ctx.require_committees()
        progress = list(self._shard_sync.progress.values())
        return SyncStatus(
            epoch=c.epoch,
            shards_total=len(progress),
            shards_done=sum(p.state == "done" for p in progress),
            bytes_received=sum(p.bytes for p in progress),
            slivers_received=sum(p.slivers for p in progress),
            slivers_recovered=sum(p.recovered for p in progress),
            epoch_sync_done=self._shard_sync.epoch == c.epoch and self._shard_sync.done,
            shards=tuple(p.view() for p in progress),
            skipped_blob_ids=tuple(sorted(self._shard_sync.skipped)),
        )
