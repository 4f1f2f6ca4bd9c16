"""Stake-weighted two-thirds quantile of the price votes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.committee import committee, errors, price, selection

votes = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**9)), min_size=1).filter(
    lambda vs: sum(w for _, w in vs) > 0
)


@pytest.mark.parametrize(
    ("vs", "expected"),
    [
        ([(10, 1), (20, 1), (30, 1)], 20),  # 1/3 at 10, 2/3 at 20
        ([(10, 2), (20, 1)], 10),  # exactly 2/3 at 10 is enough
        ([(10, 1), (20, 2)], 20),
        ([(30, 5), (10, 3), (20, 3), (10, 1)], 30),  # 4/12 at 10, 7/12 at 20, 12/12 at 30
        ([(5, 1), (7, 0)], 5),  # zero-weight votes are ignored
        ([(100, 1)], 100),
        ([(0, 1), (0, 1), (50, 1)], 0),  # equal votes pool their weight
    ],
)
def test_quorum_below_by_hand(vs: list[tuple[int, int]], expected: int) -> None:
    assert price.quorum_below(vs) == expected


def test_no_weight_is_an_error() -> None:
    with pytest.raises(errors.InvalidFieldError, match=r"^votes: no vote carries any weight"):
        price.quorum_below([(10, 0)])
    with pytest.raises(errors.InvalidFieldError) as caught:
        price.quorum_below([(10, 1), (-1, 1)])
    assert caught.value.field == "votes[1][0]"


@strategies.no_deadline
@given(votes)
def test_is_the_lowest_vote_with_two_thirds_at_or_below(vs: list[tuple[int, int]]) -> None:
    result = price.quorum_below(vs)
    weighted = [(v, w) for v, w in vs if w > 0]
    total = sum(w for _, w in weighted)
    assert min(v for v, _ in weighted) <= result <= max(v for v, _ in weighted)
    assert result in {v for v, _ in weighted}
    assert 3 * sum(w for v, w in weighted if v <= result) >= 2 * total
    for lower in {v for v, _ in weighted if v < result}:
        assert 3 * sum(w for v, w in weighted if v <= lower) < 2 * total


@strategies.no_deadline
@given(votes, st.randoms(use_true_random=False))
def test_does_not_depend_on_vote_order(vs: list[tuple[int, int]], rnd: random.Random) -> None:
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    assert price.quorum_below(shuffled) == price.quorum_below(vs)


@strategies.no_deadline
@given(votes, st.integers(1, 1000))
def test_scaling_all_weights_changes_nothing(vs: list[tuple[int, int]], k: int) -> None:
    assert price.quorum_below([(v, w * k) for v, w in vs]) == price.quorum_below(vs)


def test_network_prices_weight_votes_by_stake() -> None:
    nodes = [
        strategies.candidate("node-00", 100, storage_price_vote=50, write_price_vote=9),
        strategies.candidate("node-01", 300, storage_price_vote=10, write_price_vote=1),
        strategies.candidate("node-02", 200, storage_price_vote=30, write_price_vote=5),
    ]
    c = selection.select(nodes, 10, epoch=0).committee
    # Storage: 10 has 300/600, 30 brings it to 500/600 >= 2/3. Write: 1, then 5 likewise.
    assert price.network_prices(c) == price.Prices(storage_price=30, write_price=5)
    assert price.Prices.from_dict(price.network_prices(c).to_dict()) == price.Prices(30, 5)


@strategies.no_deadline
@given(strategies.committees())
def test_network_prices_lie_within_the_votes(c: committee.Committee) -> None:
    prices = price.network_prices(c)
    storage = [m.storage_price_vote for m in c.members]
    assert min(storage) <= prices.storage_price <= max(storage)
