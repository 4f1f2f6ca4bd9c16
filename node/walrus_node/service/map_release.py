"""Map release: the node drops the store file's pages from its resident memory, often.

Who calls it: :meth:`walrus_node.service.node.NodeService.start` runs :func:`run` as a
background task.

Why: reads of the store go through LMDB's memory map, and every page touched there stays
in the node's RSS, so without this the RSS grows with the blobs stored and served, busy
or idle (:mod:`walrus_node.store.mapped` says why that is safe and costs only minor
faults). Every ``store_map_release_seconds`` the mapped pages are released, so what the
map adds to the RSS is bounded by what the node touches in that period.
"""

from __future__ import annotations

import asyncio

import structlog

from walrus_node.service.context import NodeContext

__all__ = ["run"]

log = structlog.get_logger("walrus.node")


async def run(ctx: NodeContext) -> None:
    """Release the store's mapped pages every ``store_map_release_seconds`` (0: never)."""
    every = ctx.config.store_map_release_seconds
    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        released = await asyncio.to_thread(ctx.store.release_mapped)
        log.debug("map_release", mappings=released)
