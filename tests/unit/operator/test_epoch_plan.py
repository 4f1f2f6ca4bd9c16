"""The epoch planner: what the controller does next, from observations alone (no I/O)."""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest

from tests.unit.operator import records
from walrus_node.committee import epoch as epoch_mod
from walrus_operator import epoch_plan, epoch_record, models, naming, reports

T0 = records.START
HOUR = datetime.timedelta(hours=1)


def _network(annotations: dict[str, str] | None = None, **spec: typing.Any) -> models.WalrusNetwork:
    return models.parse_network(
        {
            "metadata": {"name": "devnet", "namespace": "ns", "annotations": annotations or {}},
            "spec": {"shardCount": 10, "epochDurationSeconds": 3600, **spec},
        }
    )


def _view(
    name: str,
    stake: int = 1000,
    *,
    reachable: bool = True,
    serving: bool = True,
    reported_key: str | None = None,
    endpoint: str | None = None,
    excluded: bool = False,
    deleting: bool = False,
    sync: reports.SyncReport | None = None,
    **staking: int,
) -> epoch_plan.NodeView:
    key = records.key_text(name)
    report = (
        reports.NodeReport(
            reachable=True,
            serving=serving,
            public_key=reported_key or key,
            sync=sync,
        )
        if reachable
        else reports.unreachable("UNAVAILABLE: connection refused")
    )
    return epoch_plan.NodeView(
        name=name,
        staking=models.Staking(stake=stake, **staking),
        public_key=key,
        endpoint=endpoint or f"{name}.example:9185",
        excluded=excluded,
        deleting=deleting,
        report=report,
    )


def _done(epoch: int) -> reports.SyncReport:
    return reports.SyncReport(epoch, 1, 1, 100, done=True)


# --------------------------------------------------------------------------- genesis


def test_no_candidates_means_waiting_and_names_the_minimum_stake() -> None:
    plan = epoch_plan.decide(None, _network(minimumStake=500), [_view("a", 100)], T0)
    assert plan.record is None and not plan.changed
    assert "spec.minimumStake (500)" in plan.waiting


def test_genesis_waits_for_every_candidate_to_serve_with_its_own_key() -> None:
    views = [
        _view("a"),
        _view("b", reachable=False),
        _view("c", reported_key=records.key_text("x")),
        _view("d", serving=False),
    ]
    plan = epoch_plan.decide(None, _network(), views, T0)
    assert plan.record is None
    for expected in ("b (UNAVAILABLE", "c (reports a key other", "d (not SERVING"):
        assert expected in plan.waiting
    assert "a (" not in plan.waiting


def test_genesis_selects_by_stake_and_ignores_nodes_that_leave_or_lack_stake() -> None:
    views = [
        _view("a", 3000),
        _view("b", 1000),
        _view("gone", 5000, deleting=True),
        _view("out", 5000, excluded=True, reachable=False),
        _view("poor", 10, reachable=False),
    ]
    plan = epoch_plan.decide(None, _network(minimumStake=100), views, T0)
    assert plan.changed and plan.record is not None
    state = plan.record.state
    assert (plan.record.epoch, state.phase) == (1, epoch_mod.Phase.STABLE)
    assert state.current.names == ("a", "b")
    assert len(state.current.shards_of("a")) > len(state.current.shards_of("b"))
    assert plan.record.started == T0
    assert [e.reason for e in plan.events] == ["CommitteeFormed"]


def test_a_pending_advance_request_is_consumed_by_genesis() -> None:
    network = _network({naming.ANNOTATION_ADVANCE_EPOCH: "1"})
    plan = epoch_plan.decide(None, network, [_view("a")], T0)
    assert plan.record is not None and plan.record.advance_handled == "1"
    again = epoch_plan.decide(plan.record, network, [_view("a")], T0)
    assert not again.changed


# --------------------------------------------------------------------------- advancing


def _genesis(*views: epoch_plan.NodeView) -> epoch_record.EpochRecord:
    plan = epoch_plan.decide(None, _network(), list(views), T0)
    assert plan.record is not None
    return plan.record


def test_nothing_happens_before_the_epoch_is_due() -> None:
    record = _genesis(_view("a"), _view("b"))
    plan = epoch_plan.decide(record, _network(), [_view("a"), _view("b")], T0 + HOUR / 2)
    assert (plan.record, plan.changed, plan.events) == (record, False, ())


def test_a_due_epoch_pays_rewards_and_starts_the_next_committee() -> None:
    record = _genesis(_view("a"), _view("b"))
    views = [_view("a"), _view("b"), _view("c", 9000)]
    plan = epoch_plan.decide(record, _network(epochRewardPool=1000), views, T0 + HOUR)
    assert plan.changed and plan.record is not None
    new = plan.record
    assert new.epoch == 2 and new.started == T0 + HOUR
    assert new.state.current.names == ("a", "b", "c")
    assert new.state.phase is epoch_mod.Phase.EPOCH_CHANGE
    assert new.last_rewards is not None and new.last_rewards.epoch == 1
    assert sum(r.reward for r in new.last_rewards.nodes) == 1000
    assert new.ledger.total_of("a").total + new.ledger.total_of("b").total == 1000
    started = [e for e in plan.events if e.reason == "EpochChangeStarted"]
    assert "scheduled every 3600 s" in started[0].message
    assert "joining c" in started[0].message


def test_an_advance_request_is_acted_on_once() -> None:
    record = _genesis(_view("a"), _view("b"))
    network = _network({naming.ANNOTATION_ADVANCE_EPOCH: "go"})
    plan = epoch_plan.decide(record, network, [_view("a"), _view("b")], T0)
    assert plan.record is not None and plan.record.epoch == 2
    assert plan.record.advance_handled == "go"
    # Nobody moved, so the change completed at once; the same value asks for nothing more.
    assert plan.record.state.phase is epoch_mod.Phase.STABLE
    assert [e.reason for e in plan.events] == ["EpochChangeStarted", "EpochChangeCompleted"]
    assert not epoch_plan.decide(plan.record, network, [_view("a"), _view("b")], T0).changed


def test_a_requested_change_waits_while_the_epoch_is_still_changing() -> None:
    record = _genesis(_view("a"), _view("b"))
    grown = epoch_plan.decide(
        record, _network(), [_view("a"), _view("b"), _view("c", 9000)], T0 + HOUR
    )
    assert grown.record is not None
    changing = grown.record
    assert changing.state.phase is epoch_mod.Phase.EPOCH_CHANGE
    network = _network({naming.ANNOTATION_ADVANCE_EPOCH: "again"})
    views = [_view("a"), _view("b"), _view("c", 9000)]
    plan = epoch_plan.decide(changing, network, views, T0 + HOUR)
    assert not plan.changed
    assert "waits until epoch 2 is Stable" in plan.waiting
    # c reports done (for this epoch): Stable, and the pending request goes ahead.
    views[2] = _view("c", 9000, sync=_done(2))
    plan = epoch_plan.decide(changing, network, views, T0 + HOUR)
    assert plan.record is not None and plan.record.epoch == 3
    reasons = [e.reason for e in plan.events]
    assert reasons[:2] == ["EpochChangeCompleted", "HandOffCompleted"]
    assert "EpochChangeStarted" in reasons


def test_sync_reports_of_another_epoch_or_unfinished_are_not_recorded() -> None:
    record = _genesis(_view("a"), _view("b"))
    grown = epoch_plan.decide(
        record, _network(), [_view("a"), _view("b"), _view("c", 9000)], T0 + HOUR
    )
    assert grown.record is not None
    unfinished = reports.SyncReport(2, 5, 3, 10, done=False)
    for sync in (_done(1), unfinished):
        views = [_view("a"), _view("b"), _view("c", 9000, sync=sync)]
        plan = epoch_plan.decide(grown.record, _network(), views, T0 + HOUR)
        assert "c" not in plan.record.state.sync_done  # type: ignore[union-attr]
        assert not plan.changed


def test_leaving_and_unreachable_members_at_the_next_change() -> None:
    record = _genesis(_view("a"), _view("b"), _view("c"), _view("d"))
    views = [
        _view("a", excluded=True),
        _view("b", deleting=True),
        _view("c", reachable=False),  # a member that is briefly down keeps its place
        _view("d"),
        _view("e", reachable=False),  # a newcomer must serve before it joins
    ]
    plan = epoch_plan.decide(record, _network(), views, T0 + HOUR)
    assert plan.record is not None
    assert plan.record.state.current.names == ("c", "d")
    assert "leaving a, b" in plan.events[0].message


def test_a_refused_change_is_a_failure_and_changes_nothing() -> None:
    record = _genesis(_view("a"))
    plan = epoch_plan.decide(record, _network(), [_view("a", excluded=True)], T0 + HOUR)
    assert (plan.record, plan.changed) == (record, False)
    assert plan.failure.startswith("cannot start epoch 2 (scheduled every 3600 s)")


def test_a_member_at_a_new_address_is_updated_in_the_same_epoch() -> None:
    record = _genesis(_view("a"), _view("b"))
    moved = _view("a", endpoint="10.0.0.9:9185")
    impostor = _view("b", endpoint="10.6.6.6:9185", reported_key=records.key_text("x"))
    plan = epoch_plan.decide(record, _network(), [moved, impostor], T0)
    assert plan.changed and plan.record is not None
    assert plan.record.epoch == 1
    assert plan.record.state.current.by_name("a").endpoint == "10.0.0.9:9185"
    assert plan.record.state.current.by_name("b").endpoint == "b.example:9185"
    assert plan.record.state.current.assignment() == record.state.current.assignment()
    assert [e.reason for e in plan.events] == ["EndpointChanged"]


# --------------------------------------------------------------------------- prices


def _priced(pricing: dict[str, int], votes: list[tuple[int, int]]) -> tuple[int, int]:
    views = [
        _view(f"n{i}", stake, storagePriceVote=vote, writePriceVote=vote)
        for i, (vote, stake) in enumerate(votes)
    ]
    plan = epoch_plan.decide(None, _network(pricing=pricing), views, T0)
    assert plan.record is not None
    params = plan.record.committees.params
    return params.storage_price, params.write_price


@pytest.mark.parametrize(
    ("pricing", "votes", "expected"),
    [
        ({}, [(10, 1), (20, 1), (30, 1)], (20, 20)),  # two thirds, the protocol's rule
        ({}, [(10, 2), (20, 1)], (10, 10)),  # exactly two thirds is enough
        ({"quantileBps": 5000}, [(10, 1), (20, 1), (30, 1), (40, 1)], (20, 20)),  # median
        ({"quantileBps": 10000}, [(10, 5), (90, 1)], (90, 90)),  # the highest vote
        ({"minStoragePrice": 25, "minWritePrice": 5}, [(10, 1), (20, 1)], (25, 20)),
    ],
)
def test_prices_are_the_stake_weighted_quantile_of_votes_above_the_floors(
    pricing: dict[str, int], votes: list[tuple[int, int]], expected: tuple[int, int]
) -> None:
    assert _priced(pricing, votes) == expected


def test_shard_ranges_are_inclusive_runs() -> None:
    assert epoch_plan.shard_ranges([5, 0, 1, 2, 7, 8]) == [(0, 2), (5, 5), (7, 8)]
    assert epoch_plan.shard_ranges([]) == []


def test_views_carry_the_nodes_spec_and_annotations() -> None:
    node = models.parse_node(
        {
            "metadata": {
                "name": "a",
                "namespace": "ns",
                "annotations": {naming.ANNOTATION_EXCLUDE: "true"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {
                "networkRef": {"name": "devnet"},
                "storage": {"size": "1Gi"},
                "staking": {"stake": 7},
            },
            "status": {"publicKey": "k"},
        }
    )
    view = epoch_plan.NodeView.of(node, "h:1", reports.unreachable("x"))
    assert dataclasses.astuple(view)[:1] == ("a",)
    assert (view.excluded, view.deleting, view.public_key, view.staking.stake) == (
        True,
        True,
        "k",
        7,
    )
    assert view.leaving and not view.joinable


# --------------------------------------------------------------------------- deadlines

LIMITS = epoch_plan.Limits(
    epoch_change_deadline=datetime.timedelta(minutes=30),
    member_unreachable=datetime.timedelta(minutes=10),
)


def _changing_with_c_gaining() -> epoch_record.EpochRecord:
    """Epoch 2 in EpochChange: c (large stake) joins and gains most shards."""
    record = _genesis(_view("a"), _view("b"))
    grown = epoch_plan.decide(
        record, _network(), [_view("a"), _view("b"), _view("c", 9000)], T0 + HOUR
    )
    assert grown.record is not None
    assert grown.record.state.phase is epoch_mod.Phase.EPOCH_CHANGE
    return grown.record


def test_a_lost_gaining_node_holds_the_change_until_the_deadline() -> None:
    changing = _changing_with_c_gaining()
    views = [_view("a"), _view("b")]  # c's WalrusNode was deleted
    early = epoch_plan.decide(changing, _network(), views, T0 + HOUR + HOUR / 4, LIMITS)
    assert not early.changed


def test_after_the_deadline_a_lost_gaining_node_is_dropped_and_the_change_replanned() -> None:
    changing = _changing_with_c_gaining()
    views = [_view("a"), _view("b")]  # c's WalrusNode was deleted
    late = T0 + HOUR + datetime.timedelta(minutes=31)
    plan = epoch_plan.decide(changing, _network(), views, late, LIMITS)
    assert plan.changed and plan.record is not None
    assert plan.record.epoch == 3
    assert plan.record.state.current.names == ("a", "b")
    reasons = [e.reason for e in plan.events]
    assert reasons[:2] == ["EpochChangeDeadline", "EpochChangeCompleted"]
    assert "EpochChangeStarted" in reasons
    deadline = next(e for e in plan.events if e.reason == "EpochChangeDeadline")
    assert deadline.warning and "c did not finish" in deadline.message
    started = next(e for e in plan.events if e.reason == "EpochChangeStarted")
    assert "re-planned without c" in started.message


def test_an_annotation_naming_the_epoch_replans_before_the_deadline() -> None:
    changing = _changing_with_c_gaining()
    views = [_view("a"), _view("b"), _view("c", 9000, reachable=False)]
    network = _network({naming.ANNOTATION_REPLAN_EPOCH: "2"})
    # A node down for a moment is not dropped from the next committee...
    plan = epoch_plan.decide(changing, network, views, T0 + HOUR, LIMITS)
    assert plan.record is not None and "c" in plan.record.state.sync_done
    assert plan.record.epoch == 2  # recorded done, no new committee yet
    # ... one silent for longer than the limit is.
    since = T0 + HOUR - datetime.timedelta(minutes=11)
    views[2] = dataclasses.replace(views[2], unreachable_since=since)
    plan = epoch_plan.decide(changing, network, views, T0 + HOUR, LIMITS)
    assert plan.record is not None and plan.record.epoch == 3
    assert plan.record.state.current.names == ("a", "b")
    # The annotation names epoch 2: at epoch 3 it asks for nothing.
    again = epoch_plan.decide(plan.record, network, [_view("a"), _view("b")], T0 + HOUR, LIMITS)
    assert not again.changed


def test_members_unreachable_for_long_leave_the_candidates() -> None:
    record = _genesis(_view("a"), _view("b"), _view("c"), _view("d"))
    down_since = T0 + HOUR - datetime.timedelta(minutes=20)
    views = [
        _view("a"),
        _view("b"),
        dataclasses.replace(_view("c", reachable=False), unreachable_since=down_since),
        dataclasses.replace(_view("d", reachable=False), unreachable_since=T0 + HOUR),
    ]
    plan = epoch_plan.decide(record, _network(), views, T0 + HOUR, LIMITS)
    assert plan.record is not None
    # c has been silent for 20 minutes (> 10): out; d only just went quiet: kept.
    assert plan.record.state.current.names == ("a", "b", "d")


def test_views_read_unreachable_since_from_the_status() -> None:
    node = models.parse_node(
        {
            "metadata": {"name": "a"},
            "spec": {"networkRef": {"name": "devnet"}, "storage": {"size": "1Gi"}},
        }
    )
    view = epoch_plan.NodeView.of(
        node, None, reports.unreachable("x"), {"unreachableSince": "2026-01-01T00:00:00Z"}
    )
    assert view.unreachable_since == datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
