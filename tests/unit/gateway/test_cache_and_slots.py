"""The read cache's byte bound and the upload slots' queue."""

from __future__ import annotations

import asyncio

import pytest

from walrus_node.gateway.cache import BlobCache
from walrus_node.gateway.slots import Busy, UploadSlots


def test_cache_keeps_within_its_byte_bound_evicting_least_recently_used() -> None:
    cache = BlobCache(capacity=10, max_item=6)
    cache.put(b"a", b"1234")
    cache.put(b"b", b"1234")
    assert cache.get(b"a") == b"1234"  # a is now the most recent
    cache.put(b"c", b"1234")
    assert cache.size <= 10
    assert cache.get(b"b") is None
    assert cache.get(b"a") == b"1234"
    cache.put(b"big", b"1234567")  # over max_item: not kept
    assert cache.get(b"big") is None
    cache.put(b"a", b"12")  # replacing updates the size
    assert cache.size == 6


def test_slots_queue_then_refuse() -> None:
    async def go() -> None:
        slots = UploadSlots(1, queue=1, timeout=0.2)
        held = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with slots.slot():
                held.set()
                await release.wait()

        task = asyncio.create_task(holder())
        await held.wait()
        waiter = asyncio.create_task(_enter(slots))
        await asyncio.sleep(0)  # the waiter takes the one queue place
        with pytest.raises(Busy) as full:
            await _enter(slots)
        assert full.value.status == 429
        with pytest.raises(Busy) as late:
            await waiter
        assert late.value.status == 503
        release.set()
        await task
        await _enter(slots)  # free again

    asyncio.run(go())


async def _enter(slots: UploadSlots) -> None:
    async with slots.slot():
        pass
