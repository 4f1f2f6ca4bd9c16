"""Property tests of the operator's pure pieces (Hypothesis)."""

from __future__ import annotations

import decimal

from hypothesis import given
from hypothesis import strategies as st

from walrus_operator import conditions, models, naming, quantity
from walrus_operator.builders import pool

NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _pool(name: str, replicas: int) -> models.WalrusNodePool:
    return models.parse_pool(
        {
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {
                "replicas": replicas,
                "template": {"spec": {"networkRef": {"name": "n"}, "storage": {"size": "1Gi"}}},
            },
        }
    )


@given(NAMES, st.integers(0, 10_000))
def test_member_names_round_trip_to_their_ordinal(name: str, ordinal: int) -> None:
    assert naming.pool_ordinal(name, naming.pool_member_name(name, ordinal)) == ordinal


@given(
    NAMES,
    st.integers(0, 20),
    st.sets(st.integers(0, 40)),
    st.lists(NAMES, max_size=5),
)
def test_scale_down_removes_exactly_the_highest_ordinals_first(
    name: str, replicas: int, ordinals: set[int], strangers: list[str]
) -> None:
    existing = [naming.pool_member_name(name, i) for i in ordinals] + strangers
    surplus = pool.surplus_members(_pool(name, replicas), existing)
    expected = sorted((i for i in ordinals if i >= replicas), reverse=True)
    assert surplus == [naming.pool_member_name(name, i) for i in expected]
    assert not set(surplus) & set(pool.wanted_names(_pool(name, replicas)))


@given(st.integers(0, 10**6), st.sampled_from(sorted(SUFFIXES)))
def test_quantities_parse_to_their_exact_value(number: int, suffix: str) -> None:
    assert quantity.parse(f"{number}{suffix}") == decimal.Decimal(number * SUFFIXES[suffix])


@given(
    st.lists(
        st.tuples(st.sampled_from(list(conditions.Type)), st.sampled_from([True, False, None]))
    ),
    st.lists(
        st.tuples(st.sampled_from(list(conditions.Type)), st.sampled_from([True, False, None]))
    ),
)
def test_transition_time_changes_exactly_when_the_status_does(
    before: list[tuple[conditions.Type, bool | None]],
    after: list[tuple[conditions.Type, bool | None]],
) -> None:
    def build(items: list[tuple[conditions.Type, bool | None]]) -> list[conditions.Condition]:
        unique = dict(items)
        return [conditions.Condition(t, s, conditions.Reason.RECONCILED) for t, s in unique.items()]

    old = conditions.merge([], build(before), generation=1, now="t0")
    new = conditions.merge(old, build(after), generation=2, now="t1")
    old_status = {c["type"]: c["status"] for c in old}
    for condition in new:
        unchanged = old_status.get(condition["type"]) == condition["status"]
        assert condition["lastTransitionTime"] == ("t0" if unchanged else "t1")
