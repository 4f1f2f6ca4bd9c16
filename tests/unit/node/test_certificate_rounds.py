"""Certificate catch-ups are shared: callers at the same time share one round (one
question to every peer), and each caller still waits for a round that started after its
call, so it sees every certificate its peers had logged when it asked."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from walrus_node.service.certificate_sync import CertificateSync


def _sync() -> tuple[CertificateSync, list[tuple[int, float]]]:
    ctx: Any = types.SimpleNamespace(committees=object())
    sync = CertificateSync(ctx, None, None)  # type: ignore[arg-type]  # not used by a round
    asked: list[tuple[int, float]] = []  # (round, when each peer was asked)

    async def from_peer(member: object) -> None:
        asked.append((sync.rounds, asyncio.get_running_loop().time()))
        await asyncio.sleep(0.05)

    sync._peers = lambda: ["a", "b", "c"]  # type: ignore[method-assign,assignment,return-value]
    sync._from_peer = from_peer  # type: ignore[method-assign,assignment]
    return sync, asked


def test_callers_at_the_same_time_share_one_round() -> None:
    async def go() -> None:
        sync, asked = _sync()
        await asyncio.gather(*(sync.catch_up() for _ in range(91)))
        assert sync.rounds == 1
        assert len(asked) == 3  # every peer asked once, not 91 times

    asyncio.run(asyncio.wait_for(go(), 10))


def test_a_caller_during_a_round_waits_for_one_that_starts_after_its_call() -> None:
    async def go() -> None:
        sync, asked = _sync()
        first = asyncio.create_task(sync.catch_up())
        await asyncio.sleep(0.02)  # the first round is asking its peers
        called_at = asyncio.get_running_loop().time()
        await asyncio.gather(sync.catch_up(), sync.catch_up())
        await first
        assert sync.rounds == 2
        second = [t for r, t in asked if r == 2]
        assert len(second) == 3 and min(second) >= called_at

    asyncio.run(asyncio.wait_for(go(), 10))


def test_a_cancelled_caller_does_not_cancel_the_round_of_others() -> None:
    async def go() -> None:
        sync, asked = _sync()
        quitter = asyncio.create_task(sync.catch_up())
        stayer = asyncio.create_task(sync.catch_up())
        await asyncio.sleep(0.01)
        quitter.cancel()
        await stayer
        assert len(asked) == 3 and sync.rounds == 1

    asyncio.run(asyncio.wait_for(go(), 10))
