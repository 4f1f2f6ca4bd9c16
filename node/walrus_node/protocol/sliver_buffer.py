"""A received sliver's bytes laid out as the store keeps them: free room, then the bytes.

Who uses it: the node's upload path. :class:`walrus_node.transport.framing.SliverFrames`
fills one per sliver, chunk by chunk, as the sliver arrives (``fill``);
:mod:`walrus_node.service.upload` verifies its :attr:`SliverBuffer.data`; the store
(:mod:`walrus_node.store.store`) writes its checksum into the room and stores
:attr:`SliverBuffer.value` as it is.

Why: the store keeps a sliver as ``checksum || bytes``. Joining a sliver's received
chunks and then prepending the checksum copied every stored byte twice, the second time
long after the bytes had left the CPU's caches; copying each chunk into place as it
arrives (still cached: it was just received) and writing the checksum into the room
left for it copies each byte once. It also halves what a sliver holds at its end: the
chunks are let go as they are copied, not after a join that needs both at once.
"""

from __future__ import annotations

from typing_extensions import Buffer

__all__ = ["ROOM", "SliverBuffer"]

ROOM = 16
"""Bytes in front of a sliver's bytes: the store's checksum (``store._CHECKSUM``)."""


class SliverBuffer:
    """``size`` bytes to fill in order, with :data:`ROOM` free bytes in front of them."""

    __slots__ = ("data", "filled", "value")

    def __init__(self, size: int) -> None:
        self.value = bytearray(ROOM + size)
        """The room and the bytes: what the store writes, once it filled the room."""
        self.data = memoryview(self.value)[ROOM:]
        """The sliver's bytes (a view, not a copy)."""
        self.filled = 0
        """Bytes of :attr:`data` written so far."""

    def __len__(self) -> int:
        return self.data.nbytes

    def append(self, chunk: Buffer) -> None:
        """Copy ``chunk`` in after the bytes filled so far; it must fit."""
        view = memoryview(chunk).cast("B")
        end = self.filled + view.nbytes
        if end > self.data.nbytes:
            raise ValueError(f"{end} bytes into a sliver buffer of {self.data.nbytes}")
        self.data[self.filled : end] = view
        self.filled = end
