"""A limit on concurrent uploads, with a bounded queue: 429 when the queue is full, 503
when a queued upload waited too long.

Who calls it: :mod:`walrus_node.gateway.publisher`, before reading a body, so waiting
uploads hold no memory (TCP flow control holds their bytes back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["Busy", "UploadSlots"]


class Busy(Exception):
    """No slot: ``status`` is 429 (queue full) or 503 (waited ``timeout`` seconds)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UploadSlots:
    def __init__(self, slots: int, queue: int, timeout: float) -> None:
        self.slots = slots
        self.queue = queue
        self.timeout = timeout
        self.active = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._free.locked() and self.waiting >= self.queue:
            raise Busy(429, f"{self.active} uploads running and {self.waiting} waiting")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._free.acquire(), self.timeout)
        except TimeoutError:
            raise Busy(503, f"no upload slot free within {self.timeout:g} s") from None
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._free.release()
