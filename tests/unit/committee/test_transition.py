"""Shard indices from counts: sequential first assignment and the stable transition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.committee import apportionment, errors, transition

NAMES = [f"n{i}" for i in range(10)]


def test_first_assignment_is_sequential_in_name_order() -> None:
    assert transition.first_assignment({"b": 3, "a": 2, "c": 1}, 6) == {
        "a": (0, 1),
        "b": (2, 3, 4),
        "c": (5,),
    }


def test_shrinking_nodes_free_their_highest_shards_and_new_nodes_take_the_lowest() -> None:
    previous = {"a": (0, 1, 2), "b": (3, 4, 5), "c": (6, 7, 8, 9)}
    step = transition.stable_transition(previous, {"a": 3, "b": 1, "c": 3, "d": 3}, 10)
    assert step.assignment == {"a": (0, 1, 2), "b": (3,), "c": (6, 7, 8), "d": (4, 5, 9)}
    assert step.moves == (
        transition.Move(4, "b", "d"),
        transition.Move(5, "b", "d"),
        transition.Move(9, "c", "d"),
    )
    assert step.moves[0].to_dict() == {"shard": 4, "from": "b", "to": "d"}


def test_departed_nodes_free_everything_and_growers_take_in_name_order() -> None:
    previous = {"a": (0, 1), "b": (2, 3, 4), "c": (5, 6, 7, 8, 9)}
    step = transition.stable_transition(previous, {"c": 6, "a": 4}, 10)
    assert step.assignment == {"a": (0, 1, 2, 3), "c": (4, 5, 6, 7, 8, 9)}
    assert [(m.shard, m.source, m.destination) for m in step.moves] == [
        (2, "b", "a"),
        (3, "b", "a"),
        (4, "b", "c"),
    ]


def test_unchanged_counts_move_nothing() -> None:
    previous = {"a": (0, 5, 7), "b": (1, 2, 3, 4, 6)}
    step = transition.stable_transition(previous, {"a": 3, "b": 5}, 8)
    assert step.moves == ()
    assert step.assignment == previous


@pytest.mark.parametrize(
    ("previous", "counts", "message"),
    [
        ({"a": (0, 1, 2, 3)}, {"a": 3}, "add up to 3, not 4"),
        ({"a": (0, 1, 2)}, {"a": 4}, r"leaves shards \[3\] unowned"),
        ({"a": (0, 1), "b": (1, 2, 3)}, {"a": 4}, "shard 1 to 'a' and 'b'"),
        ({"a": (0, 1, 2, 4)}, {"a": 4}, "shard 4, outside 0..3"),
    ],
)
def test_inconsistent_input_is_rejected(
    previous: dict[str, tuple[int, ...]], counts: dict[str, int], message: str
) -> None:
    with pytest.raises(errors.ApportionmentError, match=message):
        transition.stable_transition(previous, counts, 4)


@st.composite
def counts(draw: st.DrawFn, n_shards: int) -> dict[str, int]:
    """Random positive counts adding up to ``n_shards``, via apportionment of random stakes."""
    stakes = draw(
        st.dictionaries(st.sampled_from(NAMES), st.integers(1, 1000), min_size=1, max_size=10)
    )
    cap = draw(st.one_of(st.none(), st.integers(1, n_shards)))
    return dict(apportionment.apportion(stakes, n_shards, cap=cap).counts)


@st.composite
def transitions(
    draw: st.DrawFn,
) -> tuple[int, dict[str, tuple[int, ...]], dict[str, int]]:
    n = draw(st.integers(1, 120))
    old_counts = draw(counts(n))
    # A random (not necessarily sequential) previous assignment with those counts.
    shards = draw(st.permutations(range(n)))
    previous: dict[str, tuple[int, ...]] = {}
    start = 0
    for name, c in sorted(old_counts.items()):
        previous[name] = tuple(sorted(shards[start : start + c]))
        start += c
    return n, previous, draw(counts(n))


@strategies.no_deadline
@given(transitions())
def test_stable_transition_properties(
    case: tuple[int, dict[str, tuple[int, ...]], dict[str, int]],
) -> None:
    n, previous, new_counts = case
    step = transition.stable_transition(previous, new_counts, n)
    owners = {s: name for name, shards in step.assignment.items() for s in shards}
    # Every shard has exactly one owner, with the requested counts.
    assert sorted(owners) == list(range(n))
    assert {name: len(s) for name, s in step.assignment.items()} == new_counts
    for name, c in new_counts.items():
        old = previous.get(name, ())
        if c == len(old):
            assert step.assignment[name] == old  # unchanged count: exactly the same shards
        elif c < len(old):
            assert step.assignment[name] == old[:c]  # shrinking: keeps its lowest
        else:
            assert set(old) <= set(step.assignment[name])  # growing: keeps all of its own
    # Moves are exactly the owner changes, and as few as the counts allow.
    old_owner = {s: name for name, shards in previous.items() for s in shards}
    assert [(m.shard, m.source, m.destination) for m in step.moves] == [
        (s, old_owner[s], owners[s]) for s in range(n) if old_owner[s] != owners[s]
    ]
    lower_bound = sum(
        max(0, new_counts.get(name, 0) - len(previous.get(name, ())))
        for name in set(previous) | set(new_counts)
    )
    assert len(step.moves) == lower_bound


@strategies.no_deadline
@given(st.integers(1, 100), st.data())
def test_first_assignment_covers_every_shard_once(n: int, data: st.DataObject) -> None:
    c = data.draw(counts(n))
    assignment = transition.first_assignment(c, n)
    flat = [s for name in sorted(assignment) for s in assignment[name]]
    assert flat == list(range(n))
