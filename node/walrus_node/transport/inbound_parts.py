"""The messages of a client's upload stream, each awaited at most ``stream_idle_seconds``.

Who calls it: :class:`.servicer.StorageNodeServicer`, around the request stream of
``StoreSlivers``, ``StoreBlob`` and the upload of ``StoreAndCertify``.

A caller that opens an upload and then sends nothing would otherwise hold the call (one
of the server's concurrent RPCs), what its upload reserved in the memory budget and its
buffers for ever. The bound is per message, checked between messages: an upload that
keeps sending, however slowly, is never cut; one silent for longer than the bound ends
with ``FAILED_PRECONDITION`` naming the setting, and the servicer then gives back what
the upload held. Time the node itself spends on a message (verifying it, waiting for
room in the memory budget) is not counted: only the wait for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Generic, TypeVar

from walrus_node.protocol import errors

__all__ = ["InboundParts"]

T = TypeVar("T")


class InboundParts(Generic[T]):
    def __init__(self, parts: AsyncIterable[T], idle_seconds: float, what: str) -> None:
        self.raw: AsyncIterator[T] = aiter(parts)
        """The stream without the bound, for a wait bounded otherwise."""
        self._idle = idle_seconds
        self._what = what

    def __aiter__(self) -> InboundParts[T]:
        return self

    async def __anext__(self) -> T:
        try:
            async with asyncio.timeout(self._idle):
                return await anext(self.raw)
        except TimeoutError:
            raise errors.FailedPrecondition(
                f"{self._what}: no message for {self._idle:g} s (stream_idle_seconds)"
            ) from None
