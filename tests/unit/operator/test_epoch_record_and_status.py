"""The persisted epoch record, and the statuses and events computed from it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from tests.unit.operator import records
from walrus_node.committee import epoch as epoch_mod
from walrus_node.committee import reward
from walrus_node.protocol import committee_file
from walrus_operator import (
    epoch_plan,
    epoch_record,
    epoch_status,
    errors,
    models,
    outcome,
    reports,
)

NETWORK = models.parse_network(
    {"metadata": {"name": "devnet", "namespace": "ns", "generation": 3}, "spec": {"shardCount": 10}}
)


def _changing() -> epoch_record.EpochRecord:
    """Epoch 2 of a, b (5 shards each) → a, b, c: c receives shards from a and b."""
    record = records.genesis(10, {"a": 1000, "b": 1000})
    state = record.state.select_next(
        [records.candidate(n, s) for n, s in {"a": 1000, "b": 1000, "c": 4000}.items()]
    ).start_epoch_change()
    paid = reward.split_rewards(100, record.state.current)
    return dataclasses.replace(
        record,
        committees=committee_file.ActiveCommittees(state),
        ledger=record.ledger.record(paid),
        last_rewards=paid,
        advance_handled="x",
    )


# --------------------------------------------------------------------------- record


def test_record_round_trips_through_its_status_text() -> None:
    record = _changing()
    assert epoch_record.EpochRecord.from_text(record.to_text()) == record
    assert epoch_record.load(None) is None and epoch_record.load("") is None


@given(strategies.committees(), st.integers(0, 10**12))
@strategies.no_deadline
def test_any_committee_and_payout_round_trip(committee, pool: int) -> None:  # type: ignore[no-untyped-def]
    paid = reward.split_rewards(pool, committee)
    record = epoch_record.EpochRecord(
        committee_file.ActiveCommittees(epoch_mod.EpochState.genesis(committee)),
        started=records.START,
        ledger=reward.RewardLedger().record(paid),
        last_rewards=paid,
    )
    assert epoch_record.EpochRecord.from_text(record.to_text()) == record


def _broken(**changes: object) -> str:
    raw = _changing().to_dict()
    raw.update(changes)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        (_broken(version=2), "status.epochState.version"),
        (_broken(started="yesterday"), "status.epochState.started"),
        (_broken(extra=1), "unknown keys ['extra']"),
        (_broken(advanceHandled=5), "advanceHandled"),
        (_broken(committees={"version": 1}), "status.epochState"),
        (_broken(lastRewards={"epoch": 1, "pool": -1, "nodes": []}), "lastRewards.pool"),
    ],
)
def test_a_damaged_record_is_refused_naming_what_is_wrong(text: str, names: str) -> None:
    with pytest.raises(errors.StateInvalid) as caught:
        epoch_record.EpochRecord.from_text(text)
    assert names in str(caught.value)
    assert caught.value.field.startswith("status.epochState")


def test_shards_held_counts_what_the_network_still_needs_from_a_node() -> None:
    record = _changing()
    state = record.state
    a_now = len(state.current.shards_of("a"))
    a_out = len(epoch_record.outgoing(record, "a"))
    assert a_out > 0
    assert epoch_record.shards_held(record, "a") == a_now + a_out
    assert epoch_record.shards_held(record, "nobody") == 0
    assert epoch_record.shards_held(None, "a") == 0
    done = dataclasses.replace(
        record,
        committees=committee_file.ActiveCommittees(state.record_sync_done("c", state.epoch)),
    )
    assert epoch_record.shards_held(done, "a") == a_now
    assert not epoch_record.in_hand_off(done, "a")


# --------------------------------------------------------------------------- status


def _view(name: str, report: reports.NodeReport, stake: int = 1000) -> epoch_plan.NodeView:
    return epoch_plan.NodeView(
        name=name,
        staking=models.Staking(stake=stake, commission_bps=1000),
        public_key=records.key_text(name),
        endpoint=f"{name}:1",
        excluded=False,
        deleting=False,
        report=report,
    )


def _conditions(status: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in status["conditions"]}  # type: ignore[attr-defined, index]


def test_pending_network_status_says_why() -> None:
    plan = epoch_plan.Plan(None, waiting="waiting for nodes to serve: a (down)")
    status = epoch_status.network_status(NETWORK, plan, [], delivery={}, now="t")
    assert (status["phase"], status["currentEpoch"], status["observedGeneration"]) == (
        "Pending",
        0,
        3,
    )
    assert "epochState" not in status and "committee" not in status
    ready = _conditions(status)["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "WaitingForNodes",
        "waiting for nodes to serve: a (down)",
    )


def test_network_status_during_a_change() -> None:
    record = _changing()
    views = [
        _view("a", reports.NodeReport(reachable=True)),
        _view("b", reports.unreachable("DEADLINE_EXCEEDED")),
        _view(
            "c", reports.NodeReport(reachable=True, sync=reports.SyncReport(2, 6, 2, 500, False))
        ),
    ]
    status = epoch_status.network_status(
        NETWORK, epoch_plan.Plan(record), views, delivery={}, now="t"
    )
    assert (status["phase"], status["currentEpoch"]) == ("EpochChange", 2)
    assert epoch_record.EpochRecord.from_text(status["epochState"]) == record
    members = {m["name"]: m for m in status["committee"]["members"]}
    for name in "abc":
        shards = record.state.current.shards_of(name)
        ranges = members[name]["shards"]
        assert [s for r in ranges for s in range(r["start"], r["end"] + 1)] == list(shards)
        assert members[name]["shardCount"] == len(shards)
    progress = status["syncProgress"]
    moving = len(record.state.moves)
    assert progress["nodes"] == [
        {"name": "c", "shardsTotal": moving, "shardsDone": 2, "bytesReceived": 500, "done": False}
    ]
    assert (progress["shardsTotal"], progress["shardsSynced"]) == (moving, 2)
    conditions = _conditions(status)
    assert conditions["Progressing"]["reason"] == "EpochChange"
    assert (
        f"0 of {moving} moved shards received; waiting for c"
        in conditions["Progressing"]["message"]
    )
    degraded = conditions["Degraded"]
    assert (degraded["reason"], degraded["message"]) == (
        "MembersUnreachable",
        "b: DEADLINE_EXCEEDED",
    )
    failing = epoch_status.network_status(
        NETWORK, epoch_plan.Plan(record), views, delivery={"a": "PERMISSION_DENIED"}, now="t"
    )
    assert _conditions(failing)["Degraded"]["reason"] == "CommitteeNotDelivered"


def test_node_status_counts_shards_still_needed_and_rewards() -> None:
    record = _changing()
    a_needed = epoch_record.shards_held(record, "a")
    down = epoch_status.node_status(record, _view("a", reports.unreachable("x")))
    assert down["shardsOwned"] == a_needed
    assert "epoch" not in down and "shardsSyncing" not in down
    lagging = reports.NodeReport(
        reachable=True,
        epoch=1,
        shards=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),  # it still runs a committee where it owned all
        shard_states=((0, "active"), (9, "syncing")),
    )
    up = epoch_status.node_status(record, _view("a", lagging))
    assert (up["shardsOwned"], up["epoch"], up["shardsSyncing"]) == (10, 1, 1)
    staking = up["staking"]
    paid = record.last_rewards.of("a")  # type: ignore[union-attr]
    assert (staking["rewards"], staking["rewardsLastEpoch"]) == (paid.reward, paid.reward)
    assert staking["commission"] == paid.commission
    assert staking["shards"] == len(record.state.current.shards_of("a"))
    outsider = epoch_status.node_status(record, _view("z", reports.NodeReport(reachable=True)))
    assert (outsider["shardsOwned"], outsider["staking"]["shards"]) == (0, 0)


def test_condition_changes_become_events_once() -> None:
    def condition(kind: str, status: str, reason: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "message": reason.lower()}

    healthy = [
        condition("Ready", "True", "CommitteeActive"),
        condition("Degraded", "False", "Healthy"),
    ]
    sick = [
        condition("Ready", "True", "CommitteeActive"),
        condition("Degraded", "True", "MembersUnreachable"),
    ]
    waiting = [condition("Ready", "False", "WaitingForNodes")]
    assert epoch_status.condition_events(healthy, healthy) == ()
    assert epoch_status.condition_events(healthy, sick) == (
        outcome.Event("MembersUnreachable", "membersunreachable", warning=True),
    )
    assert epoch_status.condition_events(sick, sick) == ()
    assert [e.reason for e in epoch_status.condition_events(sick, healthy)] == ["Recovered"]
    assert [e.reason for e in epoch_status.condition_events([], waiting)] == ["Waiting"]
    assert epoch_status.condition_events(waiting, waiting) == ()
