"""How many shards each node gets: D'Hondt by stake, with a per-node cap.

Who calls it: :mod:`.selection` (to build the next committee), and the operator when it
shows what a stake change would do.

Rules, in order:

1. **Eligibility.** A node takes part when its stake is positive and ``>= min_stake``.
2. **Cap.** No node gets more than ``cap`` shards. The default is Walrus's rule, counted
   over eligible nodes: ``max(1, n_shards // 10)`` with 20 or more nodes, otherwise
   ``ceil(n_shards * 20 / (n_nodes * 10))`` (twice a fair share). If ``cap * n_nodes <
   n_shards`` the shards could not all be assigned, so the cap is raised to
   ``ceil(n_shards / n_nodes)``, the smallest value that makes it possible;
   :attr:`Apportionment.cap` reports the cap actually used.
3. **D'Hondt.** Shards are handed out one at a time, each to the node below the cap with
   the highest quotient ``stake / (shards_so_far + 1)``, compared exactly (fractions, no
   floats). Equal quotients go to the node whose name sorts first. A node with more stake
   therefore never ends with fewer shards than one with less, raising one node's stake
   never lowers its own count, and with more eligible nodes than shards the smallest
   ones get none and are not in the committee.

The result depends only on the stakes, ``n_shards``, ``cap`` and ``min_stake``: never on
the order of the input.
"""

from __future__ import annotations

import dataclasses
import fractions
import heapq
from collections.abc import Mapping

from walrus_node.committee import _fields, errors

__all__ = ["WALRUS_CAP_NODE_THRESHOLD", "Apportionment", "apportion", "default_cap"]

WALRUS_CAP_NODE_THRESHOLD = 20
"""From this many nodes on, the default cap is a tenth of the shards."""


def default_cap(n_shards: int, n_nodes: int) -> int:
    """Walrus's per-node shard cap for ``n_nodes`` eligible nodes (see the module doc)."""
    _fields.integer(n_shards, "n_shards", 1)
    _fields.integer(n_nodes, "n_nodes", 1)
    if n_nodes >= WALRUS_CAP_NODE_THRESHOLD:
        return max(1, n_shards // 10)
    return -(-(n_shards * 20) // (n_nodes * 10))


@dataclasses.dataclass(frozen=True)
class Apportionment:
    """Shard counts per node, and how they were reached."""

    counts: Mapping[str, int]
    """Node name → shards, for nodes that got at least one, in name order."""
    cap: int
    """The per-node cap actually applied (the requested one, or raised; module doc)."""
    eligible: tuple[str, ...]
    """Names of the nodes that took part, in name order."""

    @property
    def excluded(self) -> tuple[str, ...]:
        """Eligible nodes that got no shard (more nodes than shards)."""
        return tuple(name for name in self.eligible if name not in self.counts)


def apportion(
    stakes: Mapping[str, int],
    n_shards: int,
    *,
    cap: int | None = None,
    min_stake: int = 0,
) -> Apportionment:
    """Apportion ``n_shards`` shards among ``stakes`` (node name → stake); see the module doc."""
    _fields.integer(n_shards, "n_shards", 1)
    _fields.integer(min_stake, "min_stake")
    if cap is not None:
        _fields.integer(cap, "cap", 1)
    for name, stake in stakes.items():
        _fields.string(name, "stakes")
        _fields.integer(stake, _fields.at("stakes", name))
    eligible = sorted(name for name, stake in stakes.items() if stake > 0 and stake >= min_stake)
    if not eligible:
        raise errors.ApportionmentError(
            f"no candidate has a positive stake of at least {min_stake} (candidates: {len(stakes)})"
        )
    requested = default_cap(n_shards, len(eligible)) if cap is None else cap
    effective = max(requested, -(-n_shards // len(eligible)))

    counts = dict.fromkeys(eligible, 0)
    heap = [(-fractions.Fraction(stakes[name], 1), name) for name in eligible]
    heapq.heapify(heap)
    for _ in range(n_shards):
        _, name = heapq.heappop(heap)
        counts[name] += 1
        if counts[name] < effective:
            heapq.heappush(heap, (-fractions.Fraction(stakes[name], counts[name] + 1), name))
    return Apportionment(
        counts={name: c for name, c in counts.items() if c > 0},
        cap=effective,
        eligible=tuple(eligible),
    )
