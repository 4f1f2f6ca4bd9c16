"""Leader election: the pure rule (`leadership.claim`) and rounds against an in-memory API
whose writes check resourceVersion, as the API server's do."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.operator import memory_kube
from walrus_operator import kube, leadership

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LEASE = datetime.timedelta(seconds=15)


def _view(holder: str, age: float) -> leadership.LeaseView:
    return leadership.LeaseView(holder, T0 - datetime.timedelta(seconds=age), LEASE, "1")


def test_claim_rules() -> None:
    assert leadership.claim(None, "a", T0) is leadership.Claim.CREATE
    assert leadership.claim(_view("a", 100), "a", T0) is leadership.Claim.RENEW
    assert leadership.claim(_view("b", 5), "a", T0) is leadership.Claim.FOLLOW
    assert leadership.claim(_view("b", 16), "a", T0) is leadership.Claim.TAKE_OVER
    assert leadership.claim(_view("", 0), "a", T0) is leadership.Claim.TAKE_OVER


@given(holder=st.sampled_from(["", "a", "b"]), age=st.floats(0, 100))
def test_a_live_lease_of_another_is_never_taken(holder: str, age: float) -> None:
    action = leadership.claim(_view(holder, age), "a", T0)
    if holder == "b" and age <= LEASE.total_seconds():
        assert action is leadership.Claim.FOLLOW
    if holder == "a":
        assert action is leadership.Claim.RENEW


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def _replica(api: memory_kube.MemoryKube, name: str, clock: _Clock) -> leadership.Leadership:
    return leadership.Leadership(api, "walrus-system", "walrus-operator", name, LEASE, clock)


@pytest.mark.asyncio
async def test_one_replica_leads_and_the_other_takes_over_when_it_stops_renewing() -> None:
    api, clock = memory_kube.MemoryKube(), _Clock()
    a, b = _replica(api, "a", clock), _replica(api, "b", clock)
    assert await a.step() is leadership.Claim.CREATE
    assert await b.step() is leadership.Claim.FOLLOW
    assert a.leading and not b.leading
    clock.now += datetime.timedelta(seconds=5)
    assert await a.step() is leadership.Claim.RENEW
    assert await b.step() is leadership.Claim.FOLLOW
    # a stops renewing (it died, or cannot reach the API): it steps down on its own before
    # the Lease expires, and b takes over only after it expired.
    clock.now += datetime.timedelta(seconds=11)
    assert not a.leading
    assert await b.step() is leadership.Claim.FOLLOW
    clock.now += datetime.timedelta(seconds=5)
    assert await b.step() is leadership.Claim.TAKE_OVER
    assert b.leading
    lease = api.find(kube.Kind.LEASE, "walrus-operator", "walrus-system")
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    assert await a.step() is leadership.Claim.FOLLOW and not a.leading


@pytest.mark.asyncio
async def test_two_replicas_racing_for_an_expired_lease_cannot_both_win() -> None:
    api, clock = memory_kube.MemoryKube(), _Clock()
    old = _replica(api, "old", clock)
    await old.step()
    clock.now += datetime.timedelta(seconds=60)
    a, b = _replica(api, "a", clock), _replica(api, "b", clock)
    stale = api.find(kube.Kind.LEASE, "walrus-operator", "walrus-system")
    version = stale["metadata"]["resourceVersion"]
    assert await a.step() is leadership.Claim.TAKE_OVER
    # b read the Lease before a's write landed: its take-over carries the old version.
    original_get = api.get

    async def stale_get(kind: kube.Kind, name: str, namespace: str | None = None):  # type: ignore[no-untyped-def]
        body = await original_get(kind, name, namespace)
        if body is not None and kind is kube.Kind.LEASE:
            body["metadata"]["resourceVersion"] = version
            body["spec"]["holderIdentity"] = "old"
        return body

    api.get = stale_get  # type: ignore[method-assign]
    assert await b.step() is leadership.Claim.FOLLOW
    assert a.leading and not b.leading


def test_without_election_a_replica_always_leads() -> None:
    assert leadership.Leadership(None, "ns", "walrus-operator", "a").leading
