"""The node's two byte budgets: memory held by requests, and data of uncertified blobs.

Who calls it: :mod:`.upload` (slivers on their way in), the servicer (slivers and symbols
on their way out) and :mod:`.blobs`/:mod:`.registrations`/:mod:`.lifetime` (uncertified
data in and out), and :mod:`.node` at start-up (the quota's tally from the store). Both
are counted in memory, per process; the metrics gauges ``walrus_memory_budget_used_bytes``,
``walrus_memory_budget_peak_bytes`` and ``walrus_uncertified_bytes`` show them.

:class:`MemoryBudget` (``memory_budget_bytes``): every request reserves the bytes it is
about to hold *before* it holds them, and gives them back when they are written or sent.
A request that does not fit waits (the gRPC stream is not read meanwhile, so flow
control pushes back on the sender) for at most ``memory_wait_seconds``, then fails with
RESOURCE_EXHAUSTED; a reservation larger than the whole budget fails at once.

:class:`UncertifiedQuota` (``uncertified_quota_bytes``): bytes of metadata and slivers
stored for blobs that are not certified yet. Anyone may upload such data, so it is capped
and (``uncertified_ttl_seconds``) short-lived. A blob's charge is released when it is
certified or collected. The tally is rebuilt from the store when the node starts
(:meth:`UncertifiedQuota.restore` with ``Store.uncertified_usage``), so a restart does
not forget data stored before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from walrus_node.protocol import errors

__all__ = ["MemoryBudget", "UncertifiedQuota"]


class MemoryBudget:
    def __init__(self, total_bytes: int, wait_seconds: float) -> None:
        self.total = total_bytes
        self.wait_seconds = wait_seconds
        self.used = 0
        self.peak = 0
        self.grants = 0
        """Reservations granted so far (the idle trim watches it for activity)."""
        self._changed = asyncio.Condition()

    async def acquire(self, n: int, what: str) -> None:
        if n > self.total:
            raise errors.ResourceExhausted(
                f"{what}: {n} bytes exceed the node's memory budget of {self.total} bytes"
            )
        async with self._changed:
            # With room now, the request takes it at once: the wait below costs a task,
            # a timer and a turn of the event loop (a reservation and its release took
            # 14.5 us of CPU with it, 1.7 without), and every sliver of an upload and
            # every read of one reserves room.
            if self.used + n > self.total:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.used + n <= self.total),
                        self.wait_seconds,
                    )
                except TimeoutError:
                    raise errors.ResourceExhausted(
                        f"{what}: the node's memory budget ({self.total} bytes) is in use; "
                        "retry later"
                    ) from None
            self.used += n
            self.grants += 1
            self.peak = max(self.peak, self.used)

    async def release(self, n: int) -> None:
        if n <= 0:
            return
        async with self._changed:
            self.used -= n
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def hold(self, n: int, what: str) -> AsyncIterator[None]:
        await self.acquire(n, what)
        try:
            yield
        finally:
            await self.release(n)


class UncertifiedQuota:
    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self.used = 0
        self._by_blob: dict[bytes, int] = {}

    def restore(self, usage: Mapping[bytes, int]) -> None:
        """Start from what the store holds for uncertified blobs (bytes per blob ID).

        The quota may then be over full (a node restarted with a smaller setting): new
        uploads are refused until enough of that data is certified or collected."""
        self._by_blob = {blob_id: n for blob_id, n in usage.items() if n > 0}
        self.used = sum(self._by_blob.values())

    def charge(self, blob_id: bytes, n: int) -> None:
        if self.used + n > self.total:
            raise errors.ResourceExhausted(
                f"the node's quota for data of uncertified blobs ({self.total} bytes) is "
                "full; certify stored blobs or wait for uncertified ones to expire"
            )
        self.used += n
        self._by_blob[blob_id] = self._by_blob.get(blob_id, 0) + n

    def refund(self, blob_id: bytes, n: int) -> None:
        held = self._by_blob.get(blob_id, 0)
        n = min(n, held)
        self.used -= n
        if held - n:
            self._by_blob[blob_id] = held - n
        else:
            self._by_blob.pop(blob_id, None)

    def settle(self, blob_id: bytes) -> None:
        """The blob was certified or its data removed: it no longer counts."""
        self.used -= self._by_blob.pop(blob_id, 0)
