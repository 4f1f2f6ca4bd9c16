"""The roller's decisions (which node pod restarts next) and the shard budget: examples
and Hypothesis properties. Pure; no I/O."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_operator import roller, shard_budget

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
TIMEOUT = datetime.timedelta(minutes=5)
F = 5  # 16 shards


def _member(
    name: str,
    shards: int = 2,
    *,
    updated: bool = False,
    serving: bool = True,
    pod: roller.Pod = roller.Pod.RUNNING,
    age: float = 3600.0,
    paused: bool = False,
) -> roller.Member:
    return roller.Member(
        name=name,
        shards=shards,
        pod=pod,
        updated=updated,
        serving=serving,
        since=NOW - datetime.timedelta(seconds=age),
        paused=paused,
    )


def _decide(members: list[roller.Member], **kwargs: object) -> roller.Decision:
    options: dict[str, object] = {"f": F, "epoch_change": False, "now": NOW, "timeout": TIMEOUT}
    options.update(kwargs)
    return roller.decide(members, **options)  # type: ignore[arg-type]


def test_nothing_outdated_is_done() -> None:
    decision = _decide([_member(f"n{i}", updated=True) for i in range(7)])
    assert decision.restart == () and decision.done and decision.progress == "7/7"


def test_one_pod_at_a_time_in_name_order() -> None:
    members = [_member(f"n{i}") for i in range(7)]
    assert _decide(members).restart == ("n0",)


def test_waits_while_a_restarted_pod_does_not_serve_yet() -> None:
    members = [_member("n0", updated=True, serving=False, age=10)] + [
        _member(f"n{i}") for i in range(1, 7)
    ]
    decision = _decide(members)
    assert decision.restart == () and decision.halted_by is None
    assert "in flight" in decision.waiting


def test_terminating_and_missing_pods_are_in_flight() -> None:
    for pod in (roller.Pod.TERMINATING, roller.Pod.MISSING):
        members = [_member("n0", pod=pod, serving=False)] + [_member(f"n{i}") for i in range(1, 7)]
        assert _decide(members).restart == ()


def test_moves_on_once_the_restarted_node_serves() -> None:
    members = [_member("n0", updated=True)] + [_member(f"n{i}") for i in range(1, 7)]
    decision = _decide(members)
    assert decision.restart == ("n1",) and decision.progress == "1/7"


def test_a_node_back_for_less_than_the_settle_time_is_still_in_flight() -> None:
    settle = datetime.timedelta(seconds=30)
    for back, restart in ((29, ()), (30, ("n1",))):
        n0 = roller.Member(
            "n0",
            2,
            roller.Pod.RUNNING,
            updated=True,
            serving=True,
            ready_since=NOW - datetime.timedelta(seconds=back),
        )
        members = [n0] + [_member(f"n{i}") for i in range(1, 7)]
        decision = _decide(members, settle=settle)
        assert decision.restart == restart
        assert decision.progress == "1/7"
    # Without a settle time (the default) it moves on at once.
    assert _decide(members).restart == ("n1",)


def test_never_during_an_epoch_change() -> None:
    decision = _decide([_member(f"n{i}") for i in range(7)], epoch_change=True)
    assert decision.restart == () and "epoch change" in decision.waiting


def test_counts_shards_of_nodes_already_down() -> None:
    # n6 is down with 4 shards; restarting n0 (2 shards) would make 6 > f = 5.
    members = [_member(f"n{i}") for i in range(6)] + [
        _member("n6", shards=4, updated=True, serving=False, age=10, pod=roller.Pod.RUNNING)
    ]
    decision = _decide(members, max_in_flight=3)
    assert decision.restart == ()
    assert "more than f" in decision.waiting and decision.shards_offline == 4


def test_a_node_that_does_not_come_back_halts_the_rollout() -> None:
    members = [_member("n0", updated=True, serving=False, age=600)] + [
        _member(f"n{i}") for i in range(1, 7)
    ]
    decision = _decide(members, max_in_flight=2)
    assert decision.halted_by == "n0" and decision.restart == ()
    assert not decision.done


def test_a_new_template_restarts_the_failed_node_first() -> None:
    # n0 failed on the previous template; a fixed template makes it outdated again.
    members = [_member("n0", updated=False, serving=False, age=600)] + [
        _member(f"n{i}", updated=False) for i in range(1, 7)
    ]
    decision = _decide(members)
    assert decision.restart == ("n0",) and decision.halted_by is None


def test_down_nodes_go_first_and_cost_nothing() -> None:
    members = [_member(f"n{i}") for i in range(6)] + [_member("n6", shards=5, serving=False)]
    assert _decide(members).restart == ("n6",)


def test_paused_members_are_left_alone() -> None:
    members = [_member("n0", paused=True)] + [_member(f"n{i}", updated=True) for i in range(1, 4)]
    decision = _decide(members)
    assert decision.restart == () and decision.done and decision.total == 3


# --------------------------------------------------------------------------- properties

members_strategy = st.lists(
    st.builds(
        roller.Member,
        name=st.text("abcdefgh", min_size=1, max_size=3),
        shards=st.integers(0, 8),
        pod=st.sampled_from(list(roller.Pod)),
        updated=st.booleans(),
        serving=st.booleans(),
        since=st.one_of(
            st.none(), st.integers(0, 1200).map(lambda s: NOW - datetime.timedelta(seconds=s))
        ),
        paused=st.booleans(),
        ready_since=st.one_of(
            st.none(), st.integers(0, 120).map(lambda s: NOW - datetime.timedelta(seconds=s))
        ),
    ),
    max_size=12,
    unique_by=lambda m: m.name,
)


@settings(max_examples=400)
@given(
    members=members_strategy,
    f=st.integers(0, 10),
    epoch_change=st.booleans(),
    max_in_flight=st.integers(1, 4),
    settle=st.integers(0, 60).map(lambda s: datetime.timedelta(seconds=s)),
)
def test_decisions_keep_every_rule(
    members: list[roller.Member],
    f: int,
    epoch_change: bool,
    max_in_flight: int,
    settle: datetime.timedelta,
) -> None:
    decision = roller.decide(
        members,
        f=f,
        epoch_change=epoch_change,
        now=NOW,
        timeout=TIMEOUT,
        max_in_flight=max_in_flight,
        settle=settle,
    )
    by_name = {m.name: m for m in members}
    chosen = [by_name[name] for name in decision.restart]
    # Only outdated, running, not paused members restart; none during an epoch change.
    assert all(not m.updated and m.pod is roller.Pod.RUNNING and not m.paused for m in chosen)
    if epoch_change:
        assert decision.restart == ()
    # Never more than max_in_flight restarts at once, counting those already in flight
    # and those back for less than the settle time.
    active = [m for m in members if not m.paused]
    in_flight = sum(
        1
        for m in active
        if m.pod is not roller.Pod.RUNNING
        or (m.updated and not m.serving)
        or (m.serving and m.ready_since is not None and NOW - m.ready_since < settle)
    )
    assert in_flight + len(chosen) <= max(max_in_flight, in_flight)
    # Shards offline after the restarts stay within f, unless they already exceeded it
    # (then only members already down restart).
    before = sum(m.shards for m in active if not m.serving)
    after = before + sum(m.shards for m in chosen if m.serving)
    assert after <= max(f, before)
    if before > f:
        assert all(not m.serving for m in chosen)
    # A halted rollout restarts no serving member.
    if decision.halted_by is not None:
        assert all(not m.serving for m in chosen)
        assert by_name[decision.halted_by].updated
    assert 0 <= decision.updated <= decision.total == len(active)


@given(members=members_strategy)
def test_the_same_observations_give_the_same_decision(members: list[roller.Member]) -> None:
    first = roller.decide(members, f=3, epoch_change=False, now=NOW, timeout=TIMEOUT)
    again = roller.decide(
        list(reversed(members)), f=3, epoch_change=False, now=NOW, timeout=TIMEOUT
    )
    assert first == again


# --------------------------------------------------------------------------- shard budget


def test_sample_pool_allows_one_pod_down() -> None:
    # 16 shards over 7 nodes (3,3,2,2,2,2,2), f = 5: two nodes could hold 6 > 5.
    assert shard_budget.pods_allowed_down([3, 3, 2, 2, 2, 2, 2], f=5, hand_off=False) == 1
    assert shard_budget.min_available([3, 3, 2, 2, 2, 2, 2], f=5, hand_off=False) == 6


def test_no_eviction_during_a_hand_off() -> None:
    assert shard_budget.min_available([1, 1, 1], f=5, hand_off=True) == 3


@given(st.lists(st.integers(0, 20), max_size=20), st.integers(0, 30))
def test_any_pods_allowed_down_hold_at_most_f_shards(holdings: list[int], f: int) -> None:
    allowed = shard_budget.pods_allowed_down(holdings, f=f, hand_off=False)
    # Whichever `allowed` pods are down, their shards stay within f...
    assert sum(sorted(holdings, reverse=True)[:allowed]) <= f
    # ... and one more could exceed it (the budget is not stricter than it must be).
    if allowed < len(holdings):
        assert sum(sorted(holdings, reverse=True)[: allowed + 1]) > f


def test_a_replacement_pod_churning_past_the_deadline_halts_too() -> None:
    # A pod that fails outright is re-created again and again: missing half the time.
    members = [_member("n0", updated=True, serving=False, pod=roller.Pod.MISSING, age=600)] + [
        _member(f"n{i}") for i in range(1, 7)
    ]
    assert _decide(members).halted_by == "n0"
