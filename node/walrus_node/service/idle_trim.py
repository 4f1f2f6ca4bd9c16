"""Idle trim: the node gives freed heap memory back to the kernel once it is idle.

Who calls it: :meth:`walrus_node.service.node.NodeService.start` runs :func:`run` as a
background task.

Why: a node handles blob-sized buffers, and the tuned allocator keeps freed ones in the
process so that the next request reuses mapped pages (:mod:`walrus_node.allocator`). Left
at that, the node's RSS stays at the peak of its busiest moment for good. So once no
request has reserved memory (:class:`.budget.MemoryBudget`) for ``idle_trim_seconds``,
and some did since the last trim, the free memory of every arena is given back
(``malloc_trim``). A busy node never trims; an idle one trims once.
"""

from __future__ import annotations

import asyncio

import structlog

from walrus_node import allocator
from walrus_node.service.context import NodeContext

__all__ = ["run"]

log = structlog.get_logger("walrus.node")


async def run(ctx: NodeContext) -> None:
    """Trim once ``idle_trim_seconds`` have passed with no reservation granted or held,
    if any was since the last trim (checked four times per period)."""
    every = ctx.config.idle_trim_seconds
    if every <= 0:
        return
    loop = asyncio.get_running_loop()
    seen = ctx.memory.grants
    quiet_since = loop.time()
    trimmed = True
    while True:
        await asyncio.sleep(every / 4)
        now = loop.time()
        if ctx.memory.grants != seen or ctx.memory.used:  # busy
            seen, quiet_since, trimmed = ctx.memory.grants, now, False
        elif not trimmed and now - quiet_since >= every:
            released = await asyncio.to_thread(allocator.trim)
            trimmed = True
            log.debug("idle_trim", released=released)
