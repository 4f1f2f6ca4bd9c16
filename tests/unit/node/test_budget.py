"""The node's byte budgets: memory held by requests waits then refuses; the uncertified
quota refuses past its size and forgets a blob once it is certified or collected."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.protocol import errors
from walrus_node.service.budget import MemoryBudget, UncertifiedQuota


def test_a_reservation_larger_than_the_budget_fails_at_once() -> None:
    async def go() -> None:
        budget = MemoryBudget(100, wait_seconds=60)
        with pytest.raises(errors.ResourceExhausted, match="exceed"):
            await budget.acquire(101, "sliver")

    asyncio.run(asyncio.wait_for(go(), 5))


def test_a_request_waits_for_room_then_gets_it_or_gives_up() -> None:
    async def go() -> None:
        budget = MemoryBudget(100, wait_seconds=0.2)
        await budget.acquire(80, "first")
        with pytest.raises(errors.ResourceExhausted, match="in use"):
            await budget.acquire(30, "second")
        waiter = asyncio.create_task(budget.acquire(30, "third"))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await budget.release(80)
        await waiter
        assert budget.used == 30 and budget.peak == 80

    asyncio.run(asyncio.wait_for(go(), 5))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 50)), max_size=30))
def test_the_quota_never_exceeds_its_size_and_settling_frees_a_blob(
    charges: list[tuple[int, int]],
) -> None:
    quota = UncertifiedQuota(100)
    accepted: dict[int, int] = {}
    for blob, n in charges:
        try:
            quota.charge(bytes([blob]), n)
            accepted[blob] = accepted.get(blob, 0) + n
        except errors.ResourceExhausted:
            assert quota.used + n > 100
        assert 0 <= quota.used <= 100
    assert quota.used == sum(accepted.values())
    for blob in list(accepted):
        quota.settle(bytes([blob]))
    assert quota.used == 0


def test_a_restored_quota_counts_what_the_store_held_and_settles_it_per_blob() -> None:
    quota = UncertifiedQuota(100)
    quota.restore({b"a": 60, b"b": 50, b"c": 0})
    assert quota.used == 110  # over full after a restart with a smaller setting
    with pytest.raises(errors.ResourceExhausted):
        quota.charge(b"d", 1)
    quota.settle(b"b")
    assert quota.used == 60
    quota.charge(b"d", 40)
    quota.refund(b"a", 100)  # never below what the blob held
    assert quota.used == 40


def test_a_reservation_with_room_is_taken_without_leaving_the_event_loop() -> None:
    """Room now: granted at once, before anything else the loop has scheduled runs (no
    task, no timer per reservation); no room: the request waits, as before."""

    async def go() -> None:
        budget = MemoryBudget(100, wait_seconds=5)
        ran: list[str] = []
        asyncio.get_running_loop().call_soon(ran.append, "other")
        await budget.acquire(60, "first")
        assert ran == [] and budget.used == 60
        waiter = asyncio.create_task(budget.acquire(50, "second"))
        await asyncio.sleep(0)
        assert ran == ["other"] and not waiter.done()
        await budget.release(60)
        await waiter
        assert budget.used == 50 and budget.grants == 2

    asyncio.run(asyncio.wait_for(go(), 5))
