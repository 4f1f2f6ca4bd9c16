"""The reward split, commission, running totals and staking summaries."""

from __future__ import annotations

import fractions

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.committee import committee, errors, reward


def example() -> committee.Committee:
    """7 shards held 3/2/2 by a, b, c; commissions 10 %, 0 %, 100 %."""
    a = strategies.candidate("node-00", 30, commission_bps=1000).with_shards([0, 1, 2])
    b = strategies.candidate("node-01", 20).with_shards([3, 4])
    c = strategies.candidate("node-02", 20, commission_bps=10_000).with_shards([5, 6])
    return committee.Committee(4, 7, (a, b, c))


def test_split_by_hand() -> None:
    # Exact shares 42.86, 28.57, 28.57: floors 42, 28, 28; the 2 units left go to the
    # largest fractions, a (6/7) then b (4/7, ahead of c by name).
    paid = reward.split_rewards(100, example())
    assert [(r.name, r.reward, r.commission, r.stakers) for r in paid.nodes] == [
        ("node-00", 43, 4, 39),
        ("node-01", 29, 0, 29),
        ("node-02", 28, 28, 0),
    ]
    assert paid.epoch == 4 and paid.pool == 100
    assert paid.of("node-01") == paid.nodes[1]
    assert paid.of("nobody") is None
    assert paid.to_dict()["nodes"][0] == {
        "name": "node-00",
        "shards": 3,
        "commission_bps": 1000,
        "reward": 43,
        "commission": 4,
        "stakers": 39,
    }


def test_ledger_accumulates_and_refuses_replays() -> None:
    c = example()
    ledger = reward.RewardLedger().record(reward.split_rewards(100, c))
    later = committee.Committee(5, 7, c.members)
    ledger = ledger.record(reward.split_rewards(70, later))
    assert ledger.last_epoch == 5
    assert ledger.total_of("node-00") == reward.RewardTotals(commission=4 + 3, stakers=39 + 27)
    assert ledger.total_of("nobody").total == 0
    with pytest.raises(errors.InvalidFieldError, match="already recorded"):
        ledger.record(reward.split_rewards(1, later))
    assert reward.RewardLedger.from_dict(ledger.to_dict()) == ledger
    assert ledger.to_dict()["nodes"]["node-02"] == {"commission": 48, "stakers": 0}


def test_ledger_parse_errors_name_the_field() -> None:
    d = reward.RewardLedger().record(reward.split_rewards(100, example())).to_dict()
    d["nodes"]["node-01"]["stakers"] = -3
    with pytest.raises(errors.InvalidFieldError) as caught:
        reward.RewardLedger.from_dict(d, "status.rewards")
    assert caught.value.field == "status.rewards.nodes.node-01.stakers"


def test_staking_summary() -> None:
    c = example()
    paid = reward.split_rewards(100, c)
    ledger = reward.RewardLedger().record(paid)
    waiting = strategies.candidate("node-03", 5)
    rows = reward.summarise(c, paid, ledger, [waiting, c.members[0].candidate])
    assert [r.name for r in rows] == ["node-00", "node-01", "node-02", "node-03"]
    first = rows[0]
    assert first.weight == fractions.Fraction(3, 7)
    assert first.to_dict() == {
        "name": "node-00",
        "stake": 30,
        "shards": 3,
        "weight_bps": 4285,
        "commission_bps": 1000,
        "rewards_epoch": 4,
        "rewards_this_epoch": 43,
        "commission_this_epoch": 4,
        "rewards_total": 43,
        "commission_total": 4,
    }
    assert rows[3].shards == 0 and rows[3].rewards_total == 0
    assert reward.summarise(c, None, reward.RewardLedger())[0].rewards_epoch is None


@strategies.no_deadline
@given(strategies.committees(), st.integers(0, 10**15))
def test_the_whole_pool_is_paid_fairly(c: committee.Committee, pool: int) -> None:
    paid = reward.split_rewards(pool, c)
    assert sum(r.reward for r in paid.nodes) == pool
    for r in paid.nodes:
        exact = fractions.Fraction(pool * r.shards, c.n_shards)
        assert exact - 1 < r.reward < exact + 1
        assert r.commission + r.stakers == r.reward
        assert 0 <= r.commission <= r.reward
        assert r.commission == r.reward * r.commission_bps // 10_000
    assert reward.split_rewards(pool, c) == paid


@strategies.no_deadline
@given(strategies.committees(), st.lists(st.integers(0, 10**12), max_size=5))
def test_ledger_totals_are_the_sum_of_payouts(c: committee.Committee, pools: list[int]) -> None:
    ledger = reward.RewardLedger()
    for i, pool in enumerate(pools):
        ledger = ledger.record(
            reward.split_rewards(pool, committee.Committee(i, c.n_shards, c.members))
        )
    assert sum(t.total for t in ledger.totals.values()) == sum(pools)
    assert reward.RewardLedger.from_dict(ledger.to_dict()) == ledger
