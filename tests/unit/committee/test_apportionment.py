"""D'Hondt apportionment with a per-node cap: hand-computed cases and properties."""

from __future__ import annotations

import fractions
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.committee import apportionment, errors

shard_counts = st.integers(1, 300)
caps = st.one_of(st.none(), st.integers(1, 50))


def test_dhondt_by_hand() -> None:
    # Quotients in order: a 100, b 80, a 50, b 40, a 33.3, c 30, b 26.7, a 25.
    result = apportionment.apportion({"a": 100, "b": 80, "c": 30}, 8)
    assert dict(result.counts) == {"a": 4, "b": 3, "c": 1}
    assert result.cap == 6  # ceil(8 * 20 / (3 * 10))


def test_cap_passes_surplus_to_the_others() -> None:
    # Default cap for 4 nodes and 10 shards: ceil(200 / 40) = 5. Once a has 5, the
    # quotients are b, c, d 10 (name order), then b, c 5.
    result = apportionment.apportion({"a": 1000, "b": 10, "c": 10, "d": 10}, 10)
    assert dict(result.counts) == {"a": 5, "b": 2, "c": 2, "d": 1}
    assert result.cap == 5


def test_cap_too_small_to_assign_everything_is_raised_just_enough() -> None:
    result = apportionment.apportion({"a": 9, "b": 1}, 10, cap=3)
    assert result.cap == 5
    assert dict(result.counts) == {"a": 5, "b": 5}
    odd = apportionment.apportion({"a": 9, "b": 1, "c": 1}, 10, cap=1)
    assert odd.cap == 4  # ceil(10 / 3)
    assert dict(odd.counts) == {"a": 4, "b": 3, "c": 3}


def test_ties_go_to_the_name_that_sorts_first() -> None:
    assert dict(apportionment.apportion({"b": 50, "a": 50}, 3).counts) == {"a": 2, "b": 1}


def test_zero_and_small_stakes_are_excluded() -> None:
    result = apportionment.apportion({"a": 5, "b": 0, "c": 2, "d": 9}, 4, min_stake=3)
    assert result.eligible == ("a", "d")
    assert set(result.counts) == {"a", "d"}


def test_more_nodes_than_shards_leaves_the_smallest_out() -> None:
    stakes = {f"n{i:02d}": 100 - i for i in range(30)}
    result = apportionment.apportion(stakes, 4)
    assert dict(result.counts) == {"n00": 1, "n01": 1, "n02": 1, "n03": 1}
    assert len(result.excluded) == 26


@pytest.mark.parametrize(
    ("n_shards", "n_nodes", "cap"),
    [(1000, 20, 100), (1000, 150, 100), (1000, 19, 106), (10, 4, 5), (10, 1, 20), (4, 25, 1)],
)
def test_default_cap_follows_the_walrus_rule(n_shards: int, n_nodes: int, cap: int) -> None:
    assert apportionment.default_cap(n_shards, n_nodes) == cap


def test_nothing_eligible_is_an_error() -> None:
    with pytest.raises(errors.ApportionmentError, match="at least 10"):
        apportionment.apportion({"a": 0, "b": 5}, 4, min_stake=10)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n_shards": 0}, "n_shards"), ({"cap": 0}, "cap"), ({"min_stake": -1}, "min_stake")],
)
def test_bad_arguments_are_named(kwargs: dict[str, int], field: str) -> None:
    args = {"n_shards": 4, **kwargs}
    with pytest.raises(errors.InvalidFieldError) as caught:
        apportionment.apportion({"a": 1}, **args)
    assert caught.value.field == field


@strategies.no_deadline
@given(strategies.stakes(max_size=16), shard_counts, caps)
def test_assigns_exactly_n_shards_within_the_cap(
    stakes: dict[str, int], n_shards: int, cap: int | None
) -> None:
    result = apportionment.apportion(stakes, n_shards, cap=cap)
    assert sum(result.counts.values()) == n_shards
    assert all(1 <= c <= result.cap for c in result.counts.values())
    assert set(result.counts) <= {name for name, s in stakes.items() if s > 0}
    eligible = len(result.eligible)
    requested = apportionment.default_cap(n_shards, eligible) if cap is None else cap
    # The cap is raised only when needed, and then to the smallest workable value.
    assert result.cap == max(requested, -(-n_shards // eligible))
    assert len(result.counts) <= n_shards


@strategies.no_deadline
@given(strategies.stakes(max_size=16), shard_counts, caps, st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(
    stakes: dict[str, int], n_shards: int, cap: int | None, rnd: random.Random
) -> None:
    items = list(stakes.items())
    rnd.shuffle(items)
    first = apportionment.apportion(stakes, n_shards, cap=cap)
    assert apportionment.apportion(dict(items), n_shards, cap=cap) == first


@strategies.no_deadline
@given(strategies.stakes(min_size=2, max_size=16), shard_counts, caps)
def test_more_stake_never_means_fewer_shards(
    stakes: dict[str, int], n_shards: int, cap: int | None
) -> None:
    counts = apportionment.apportion(stakes, n_shards, cap=cap).counts
    for a, sa in stakes.items():
        for b, sb in stakes.items():
            if sa > sb or (sa == sb and a < b):
                assert counts.get(a, 0) >= counts.get(b, 0)


@strategies.no_deadline
@given(strategies.stakes(max_size=16), shard_counts, caps)
def test_divisor_method_condition_holds(
    stakes: dict[str, int], n_shards: int, cap: int | None
) -> None:
    """D'Hondt's defining property: no node below the cap deserved the next shard more
    than any node's last shard was deserved (stake / shards is the price of a seat)."""
    result = apportionment.apportion(stakes, n_shards, cap=cap)
    counts = result.counts
    last_seat = min(fractions.Fraction(stakes[n], c) for n, c in counts.items())
    for name in result.eligible:
        c = counts.get(name, 0)
        if c < result.cap:
            assert fractions.Fraction(stakes[name], c + 1) <= last_seat


@strategies.no_deadline
@given(
    strategies.stakes(max_size=16),
    shard_counts,
    caps,
    st.data(),
)
def test_raising_a_stake_never_lowers_that_nodes_count(
    stakes: dict[str, int], n_shards: int, cap: int | None, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(stakes)))
    assume(stakes[name] > 0)  # otherwise the eligible set, and so the default cap, changes
    bigger = {**stakes, name: stakes[name] + data.draw(st.integers(1, 10**6))}
    before = apportionment.apportion(stakes, n_shards, cap=cap).counts.get(name, 0)
    after = apportionment.apportion(bigger, n_shards, cap=cap).counts.get(name, 0)
    assert after >= before


@strategies.no_deadline
@given(st.integers(1, 10**6), st.integers(1, 64), st.integers(4, 256))
def test_equal_stakes_share_evenly(stake: int, n_nodes: int, n_shards: int) -> None:
    stakes = {f"n{i:03d}": stake for i in range(n_nodes)}
    counts = apportionment.apportion(stakes, n_shards).counts
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(counts) == min(n_nodes, n_shards)
