"""The map release: the store's mapped pages are dropped every period, busy or idle, and
never with a period of 0."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from walrus_node.service import map_release


@dataclasses.dataclass
class _Config:
    store_map_release_seconds: float


class _Store:
    def __init__(self) -> None:
        self.releases = 0

    def release_mapped(self) -> int:
        self.releases += 1
        return 1


@dataclasses.dataclass
class _Ctx:
    config: _Config
    store: _Store


def test_released_every_period() -> None:
    async def go() -> None:
        ctx: Any = _Ctx(_Config(0.02), _Store())
        task = asyncio.create_task(map_release.run(ctx))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while ctx.store.releases < 3:
            assert loop.time() < deadline, "no release"
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(go(), 20))


def test_zero_seconds_turns_it_off() -> None:
    ctx: Any = _Ctx(_Config(0), _Store())
    asyncio.run(asyncio.wait_for(map_release.run(ctx), 5))  # returns at once
    assert ctx.store.releases == 0
