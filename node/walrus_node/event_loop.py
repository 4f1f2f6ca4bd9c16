"""The event loop the project's processes run on: uvloop by default, asyncio's own on
request.

Who calls it: the command-line entry points (``walrus-node`` with its ``event_loop``
setting, ``walrus``, ``walrus gateway``, ``walrus-bench``), once, to run their main
coroutine. Library code (:class:`walrus_node.client.api.WalrusClient` above all) runs on
whatever loop its caller runs: choosing the loop is process-wide policy, like
:mod:`walrus_node.allocator`.

Why uvloop: a node and a client spend much of a small blob's CPU in the event loop's own
work (waking up, running callbacks, moving futures between gRPC's threads and the loop),
not in their handlers. uvloop, the libuv-based drop-in for asyncio's loop, does that work
in C: measured on the 7-node testbed, 1 MiB stores took 8-13% less CPU in the nodes and
the client, and their p50 fell by about as much (BENCHMARKS.md, "uvloop"). gRPC's asyncio
API and uvicorn run on it unchanged; the whole test suite runs its nodes on it.

``asyncio`` stays selectable (the node's ``event_loop: asyncio``) for platforms without a
uvloop wheel and to rule the loop out when chasing a problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["DEFAULT", "LOOPS", "run"]

T = TypeVar("T")

LOOPS = ("uvloop", "asyncio")
"""The event loops a process can run on."""

DEFAULT = "uvloop"


def run(main: Coroutine[Any, Any, T], loop: str = DEFAULT) -> T:
    """Run ``main`` to its end on a new loop of kind ``loop`` (one of :data:`LOOPS`), as
    :func:`asyncio.run` does (the loop closed, its async generators and default executor
    shut down, afterwards)."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415  (only the processes that choose it load it)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    if loop == "asyncio":
        return asyncio.run(main)
    main.close()
    raise ValueError(f"event loop: {loop!r} is not one of {', '.join(LOOPS)}")
