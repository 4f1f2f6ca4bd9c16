"""Choosing an epoch's committee from the candidates: apportionment plus stable transition.

Who calls it: :meth:`.epoch.EpochState.select_next` (the operator and the testbed go
through that), and the testbed directly for the first committee.

``select`` apportions the shards by stake (:mod:`.apportionment`), assigns shard indices
(:mod:`.transition`: sequential for the first committee, the stable transition after
that) and builds the :class:`~.committee.Committee` from the candidates' current
identities, so a node that changed its endpoint, key or votes carries the new values into
the new epoch while keeping its shards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from walrus_node.committee import _fields, apportionment, committee, errors, member, transition

__all__ = ["Selection", "select"]


@dataclasses.dataclass(frozen=True)
class Selection:
    """A selected committee, the shard moves from the previous one, and the counts."""

    committee: committee.Committee
    moves: tuple[transition.Move, ...]
    """Sorted by shard; empty for the first committee."""
    apportionment: apportionment.Apportionment


def select(
    candidates: Iterable[member.NodeCandidate],
    n_shards: int,
    *,
    epoch: int | None = None,
    previous: committee.Committee | None = None,
    cap: int | None = None,
    min_stake: int = 0,
) -> Selection:
    """The committee for ``epoch`` (default: the one after ``previous``'s) from ``candidates``.

    Without ``previous`` this is the first committee and ``epoch`` is required.
    """
    nodes = tuple(candidates)
    names: set[str] = set()
    keys: dict[bytes, str] = {}
    for i, node in enumerate(nodes):
        where = _fields.at("candidates", i)
        if not isinstance(node, member.NodeCandidate):
            raise errors.InvalidFieldError(where, f"expected a NodeCandidate, got {node!r}")
        if node.name in names:
            raise errors.InvalidFieldError(_fields.at(where, "name"), f"{node.name!r} twice")
        if node.public_key in keys:
            raise errors.InvalidFieldError(
                _fields.at(where, "public_key"),
                f"{node.name!r} has the same public key as {keys[node.public_key]!r}",
            )
        names.add(node.name)
        keys[node.public_key] = node.name
    if previous is None:
        if epoch is None:
            raise errors.InvalidFieldError("epoch", "required for the first committee")
    else:
        if n_shards != previous.n_shards:
            raise errors.ApportionmentError(
                f"n_shards {n_shards} differs from the previous committee's {previous.n_shards}; "
                "the shard count is fixed for the life of a network"
            )
        if epoch is None:
            epoch = previous.epoch + 1
        elif epoch != previous.epoch + 1:
            raise errors.InvalidFieldError(
                "epoch", f"must be {previous.epoch + 1}, the one after the previous committee's"
            )

    counts = apportionment.apportion(
        {node.name: node.stake for node in nodes}, n_shards, cap=cap, min_stake=min_stake
    )
    if previous is None:
        assignment = transition.first_assignment(counts.counts, n_shards)
        moves: tuple[transition.Move, ...] = ()
    else:
        step = transition.stable_transition(previous.assignment(), counts.counts, n_shards)
        assignment, moves = dict(step.assignment), step.moves
    chosen = committee.Committee.from_assignment(epoch, n_shards, nodes, assignment)
    return Selection(committee=chosen, moves=moves, apportionment=counts)
