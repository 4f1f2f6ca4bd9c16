"""Properties of the epoch planner (Hypothesis): level-based, safe for leaving nodes,
and pricing by quantile."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from tests.unit.operator import records
from walrus_node.committee import committee, member, price, selection
from walrus_operator import epoch_plan, epoch_record, models, reports

T0 = records.START
NAMES = [f"n{i}" for i in range(8)]


def _network(shards: int) -> models.WalrusNetwork:
    return models.parse_network(
        {
            "metadata": {"name": "devnet", "namespace": "ns"},
            "spec": {"shardCount": shards, "epochDurationSeconds": 60},
        }
    )


def _view(
    name: str, stake: int, *, leaving: bool = False, done_epoch: int | None = None
) -> epoch_plan.NodeView:
    sync = None if done_epoch is None else reports.SyncReport(done_epoch, 1, 1, 1, done=True)
    return epoch_plan.NodeView(
        name=name,
        staking=models.Staking(stake=stake),
        public_key=records.key_text(name),
        endpoint=f"{name}.example:9185",
        excluded=leaving,
        deleting=False,
        report=reports.NodeReport(
            reachable=True, serving=True, public_key=records.key_text(name), sync=sync
        ),
    )


membership = st.dictionaries(st.sampled_from(NAMES), st.integers(1, 10_000), min_size=1)


@given(st.sampled_from([4, 7, 10, 16]), membership)
@strategies.no_deadline
def test_a_second_look_at_the_same_world_changes_nothing(
    shards: int, stakes: dict[str, int]
) -> None:
    views = [_view(name, stake) for name, stake in stakes.items()]
    first = epoch_plan.decide(None, _network(shards), views, T0)
    assert first.record is not None and first.changed
    again = epoch_plan.decide(first.record, _network(shards), views, T0)
    assert (again.record, again.changed, again.events) == (first.record, False, ())


@given(
    st.sampled_from([4, 7, 10]),
    membership,
    st.lists(st.tuples(membership, st.sets(st.sampled_from(NAMES))), min_size=1, max_size=4),
)
@strategies.no_deadline
def test_epochs_advance_one_by_one_and_leaving_nodes_end_up_holding_nothing(
    shards: int,
    stakes: dict[str, int],
    rounds: list[tuple[dict[str, int], set[str]]],
) -> None:
    network = _network(shards)
    now = T0
    plan = epoch_plan.decide(None, network, [_view(n, s) for n, s in stakes.items()], now)
    record = plan.record
    assert record is not None
    for next_stakes, leaving in rounds:
        if set(next_stakes) <= leaving:
            continue  # nobody would be left to serve: the library refuses, tested elsewhere
        now += datetime.timedelta(seconds=60)
        views = [_view(n, s, leaving=n in leaving) for n, s in next_stakes.items()]
        plan = epoch_plan.decide(record, network, views, now)
        assert plan.record is not None
        assert plan.record.epoch == record.epoch + 1
        state = plan.record.state
        assert not set(state.current.names) & leaving
        assert sorted(s for m in state.current.members for s in m.shards) == list(range(shards))
        # Everyone reports its shards received: the hand-off completes.
        done = [
            _view(n, s, leaving=n in leaving, done_epoch=state.epoch)
            for n, s in next_stakes.items()
        ]
        settled = epoch_plan.decide(plan.record, network, done, now)
        assert settled.record is not None
        assert not settled.record.state.pending_moves
        for name in leaving | (set(record.state.current.names) - set(next_stakes)):
            assert epoch_record.shards_held(settled.record, name) == 0
        assert epoch_record.EpochRecord.from_text(settled.record.to_text()) == settled.record
        record = settled.record


votes = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 1000)), min_size=1, max_size=10)


def _committee_with(pairs: list[tuple[int, int]]) -> committee.Committee:
    candidates = [records.candidate(f"v{i}", stake) for i, (_, stake) in enumerate(pairs)]
    voting = [
        member.NodeCandidate(
            name=c.name,
            public_key=c.public_key,
            endpoint=c.endpoint,
            stake=c.stake,
            storage_price_vote=vote,
            write_price_vote=vote,
        )
        for c, (vote, _) in zip(candidates, pairs, strict=True)
    ]
    chosen = selection.select(voting, 256, epoch=1, cap=256)
    return chosen.committee


@given(votes, st.integers(1, 10_000))
@strategies.no_deadline
def test_the_price_is_the_lowest_vote_reaching_the_quantile(
    pairs: list[tuple[int, int]], bps: int
) -> None:
    voters = _committee_with(pairs)
    prices = epoch_plan.network_prices(voters, models.Pricing(quantile_bps=bps))
    members = voters.members
    total = sum(m.stake for m in members)
    chosen = prices.storage_price
    assert chosen in {m.storage_price_vote for m in members}
    if bps == epoch_plan.DEFAULT_QUANTILE_BPS:
        assert chosen == price.network_prices(voters).storage_price
        return
    at_or_below = sum(m.stake for m in members if m.storage_price_vote <= chosen)
    below = sum(m.stake for m in members if m.storage_price_vote < chosen)
    assert 10_000 * at_or_below >= bps * total
    assert 10_000 * below < bps * total
