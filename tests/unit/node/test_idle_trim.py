"""The idle trim: freed memory goes back to the kernel once after each busy spell, never
while a request holds memory, never on a node that stays idle."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from walrus_node.service import idle_trim
from walrus_node.service.budget import MemoryBudget


@dataclasses.dataclass
class _Config:
    idle_trim_seconds: float


@dataclasses.dataclass
class _Ctx:
    config: _Config
    memory: MemoryBudget


def test_one_trim_per_quiet_spell_after_activity(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[float] = []
    monkeypatch.setattr(idle_trim.allocator, "trim", lambda: trims.append(0) or True)

    async def go() -> None:
        ctx: Any = _Ctx(_Config(0.02), MemoryBudget(1000, 1.0))
        task = asyncio.create_task(idle_trim.run(ctx))
        await asyncio.sleep(0.15)
        assert trims == []  # idle from the start: nothing to give back
        await ctx.memory.acquire(100, "sliver")
        await asyncio.sleep(0.15)
        assert trims == []  # memory still held: busy
        await ctx.memory.release(100)
        await asyncio.sleep(0.15)
        assert len(trims) == 1  # one quiet spell after activity: one trim
        await asyncio.sleep(0.15)
        assert len(trims) == 1  # still idle: no second trim
        async with ctx.memory.hold(10, "again"):
            pass
        await asyncio.sleep(0.15)
        assert len(trims) == 2
        task.cancel()

    asyncio.run(asyncio.wait_for(go(), 10))


def test_zero_seconds_turns_it_off() -> None:
    ctx: Any = _Ctx(_Config(0), MemoryBudget(1000, 1.0))
    asyncio.run(asyncio.wait_for(idle_trim.run(ctx), 5))  # returns at once
