"""Which shards each node owns next epoch, moving as few shards as possible.

Who calls it: :mod:`.selection` (after :mod:`.apportionment` fixed the counts); nodes and
the operator use :func:`moves_between` to see what an epoch change transfers.

Rules (Walrus's stable transition):

* **First committee:** shards are handed out sequentially in node-name order: the first
  node gets ``0..c0-1``, the next ``c0..c0+c1-1``, and so on. There is nothing to move.
* **Later committees,** given the previous owner of every shard:

  - a node whose count is unchanged keeps exactly its shards;
  - a shrinking node keeps its lowest-numbered shards and frees its highest-numbered ones;
  - a node that leaves frees all its shards;
  - growing and new nodes, in name order, take the lowest-numbered freed shards.

  Every kept shard stays put, so a shard moves only when a node must take it: the number of
  moves is ``sum(max(0, new_count - old_count))`` over all nodes, the least any assignment
  with these counts can achieve.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from walrus_node.committee import _fields, committee, errors

__all__ = ["Move", "Transition", "first_assignment", "moves_between", "stable_transition"]


@dataclasses.dataclass(frozen=True, order=True)
class Move:
    """Shard ``shard`` changes owner from ``source`` to ``destination``."""

    shard: int
    source: str
    destination: str

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "from": self.source, "to": self.destination}


@dataclasses.dataclass(frozen=True)
class Transition:
    """A new assignment (name → sorted shards, in name order) and the moves it implies."""

    assignment: Mapping[str, tuple[int, ...]]
    moves: tuple[Move, ...]
    """Sorted by shard."""


def first_assignment(counts: Mapping[str, int], n_shards: int) -> dict[str, tuple[int, ...]]:
    """Sequential assignment in name order (module doc)."""
    _check_counts(counts, n_shards)
    out: dict[str, tuple[int, ...]] = {}
    start = 0
    for name in sorted(counts):
        out[name] = tuple(range(start, start + counts[name]))
        start += counts[name]
    return out


def stable_transition(
    previous: Mapping[str, Iterable[int]], counts: Mapping[str, int], n_shards: int
) -> Transition:
    """Reassign shards from ``previous`` (name → shards) to match ``counts`` (module doc)."""
    _check_counts(counts, n_shards)
    prior = {name: sorted(shards) for name, shards in previous.items()}
    owner_of = _check_previous(prior, n_shards)
    kept: dict[str, list[int]] = {}
    freed: list[int] = []
    for name in sorted(set(prior) | set(counts)):
        old = prior.get(name, [])
        new_count = counts.get(name, 0)
        kept[name] = old[:new_count]
        freed.extend(old[new_count:])
    freed.sort()
    moves: list[Move] = []
    next_free = 0
    for name in sorted(counts):
        need = counts[name] - len(kept[name])
        taken = freed[next_free : next_free + need]
        next_free += need
        moves.extend(Move(shard, owner_of[shard], name) for shard in taken)
        kept[name].extend(taken)
    assignment = {name: tuple(sorted(kept[name])) for name in sorted(counts)}
    return Transition(assignment=assignment, moves=tuple(sorted(moves)))


def moves_between(old: committee.Committee, new: committee.Committee) -> tuple[Move, ...]:
    """Every shard whose owner differs between two committees of the same size."""
    if old.n_shards != new.n_shards:
        raise errors.ApportionmentError(
            f"committees of {old.n_shards} and {new.n_shards} shards cannot be compared"
        )
    return tuple(
        Move(shard, a, b)
        for shard, (a, b) in enumerate(zip(old.owners(), new.owners(), strict=True))
        if a != b
    )


def _check_counts(counts: Mapping[str, int], n_shards: int) -> None:
    _fields.integer(n_shards, "n_shards", 1)
    for name, count in counts.items():
        _fields.integer(count, _fields.at("counts", name), 1)
    total = sum(counts.values())
    if total != n_shards:
        raise errors.ApportionmentError(f"shard counts add up to {total}, not {n_shards}")


def _check_previous(previous: Mapping[str, list[int]], n_shards: int) -> dict[int, str]:
    owner_of: dict[int, str] = {}
    for name, shards in previous.items():
        for shard in shards:
            if not 0 <= shard < n_shards:
                raise errors.ApportionmentError(
                    f"previous assignment gives {name!r} shard {shard}, outside 0..{n_shards - 1}"
                )
            if shard in owner_of:
                raise errors.ApportionmentError(
                    f"previous assignment gives shard {shard} to {owner_of[shard]!r} and {name!r}"
                )
            owner_of[shard] = name
    if len(owner_of) != n_shards:
        missing = sorted(set(range(n_shards)) - set(owner_of))
        raise errors.ApportionmentError(f"previous assignment leaves shards {missing} unowned")
    return owner_of
