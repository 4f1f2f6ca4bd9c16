"""Candidates to committee: apportionment and transition together."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.unit.committee import strategies
from walrus_node.committee import committee, errors, member, selection, transition


def nodes(**stakes: int) -> list[member.NodeCandidate]:
    return [strategies.candidate(f"node-{name}", stake) for name, stake in stakes.items()]


def test_first_committee() -> None:
    chosen = selection.select(nodes(a=100, b=80, c=30, d=0), 8, epoch=1)
    assert chosen.committee.epoch == 1
    assert chosen.committee.assignment() == {
        "node-a": (0, 1, 2, 3),
        "node-b": (4, 5, 6),
        "node-c": (7,),
    }
    assert chosen.moves == ()
    assert chosen.apportionment.eligible == ("node-a", "node-b", "node-c")


def test_next_committee_keeps_shards_and_takes_new_identities() -> None:
    first = selection.select(nodes(a=100, b=80, c=30), 8, epoch=1).committee
    moved = strategies.candidate("node-b", 80)
    moved = member.NodeCandidate(**{**vars(moved), "endpoint": "10.9.9.9:1"})
    chosen = selection.select(
        [strategies.candidate("node-a", 100), moved, strategies.candidate("node-e", 30)],
        8,
        previous=first,
    )
    assert chosen.committee.epoch == 2
    assert chosen.committee.shards_of("node-b") == (4, 5, 6)
    assert chosen.committee.by_name("node-b").endpoint == "10.9.9.9:1"
    assert chosen.moves == (transition.Move(7, "node-c", "node-e"),)


def test_first_committee_needs_an_epoch() -> None:
    with pytest.raises(errors.InvalidFieldError, match=r"^epoch: required"):
        selection.select(nodes(a=1), 4)


def test_shard_count_cannot_change() -> None:
    first = selection.select(nodes(a=1), 4, epoch=0).committee
    with pytest.raises(errors.ApportionmentError, match="fixed for the life"):
        selection.select(nodes(a=1), 7, previous=first)
    with pytest.raises(errors.InvalidFieldError, match=r"^epoch: must be 1"):
        selection.select(nodes(a=1), 4, previous=first, epoch=5)


def test_duplicate_candidates_are_rejected() -> None:
    twice = [*nodes(a=1), *nodes(a=2)]
    with pytest.raises(errors.InvalidFieldError) as caught:
        selection.select(twice, 4, epoch=0)
    assert caught.value.field == "candidates[1].name"
    same_key = member.NodeCandidate(**{**vars(nodes(b=1)[0]), "public_key": b"k" * 32})
    other = member.NodeCandidate(**{**vars(nodes(c=1)[0]), "public_key": b"k" * 32})
    with pytest.raises(errors.InvalidFieldError, match="same public key"):
        selection.select([same_key, other], 4, epoch=0)


@strategies.no_deadline
@given(strategies.committees(), strategies.candidates())
def test_selection_from_a_previous_committee_is_a_valid_next_committee(
    previous: committee.Committee, candidates: list[member.NodeCandidate]
) -> None:
    chosen = selection.select(candidates, previous.n_shards, previous=previous)
    assert chosen.committee.epoch == previous.epoch + 1
    assert chosen.moves == transition.moves_between(previous, chosen.committee)
    for m in chosen.committee.members:
        assert m.stake > 0
        if len(previous.shards_of(m.name)) == m.weight:
            assert previous.shards_of(m.name) == m.shards
