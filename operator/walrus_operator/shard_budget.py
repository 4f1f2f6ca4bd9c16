"""How many of a network's node pods may be down at once without losing more than f shards.

A PodDisruptionBudget counts pods, not shards, and the eviction API refuses a pod matched
by more than one budget. So each network gets one budget over all its node pods, and the
operator turns shards into a pod count: `pods_allowed_down` is the largest `m` such that
*any* `m` nodes together hold at most `f` shards (the sum of the `m` largest holdings is
at most `f`). The budget's `minAvailable` is then `nodes - m`: the disruption controller
counts pods that are already down (not Ready) against it, so evictions plus failures never
take more than `f` shards offline, whichever pods they hit. Non-members hold 0 shards but
still count as pods; that only makes the budget stricter.

While shards move between committees (`EpochChange`) the budget allows no eviction at
all: the old owners still serve what the new ones have not received. The epoch controller
rewrites the budget in the same pass that starts an epoch change, so it tightens within
one pass, not at the next resync.

Pure; called by `walrus_operator.rollouts`; property-tested.
"""

from __future__ import annotations

import collections.abc

__all__ = ["min_available", "pods_allowed_down"]


def pods_allowed_down(holdings: collections.abc.Iterable[int], *, f: int, hand_off: bool) -> int:
    """The largest number of pods that may be down at once (0 during a hand-off)."""
    if hand_off:
        return 0
    allowed, offline = 0, 0
    for shards in sorted(holdings, reverse=True):
        if offline + shards > f:
            break
        offline += shards
        allowed += 1
    return allowed


def min_available(holdings: collections.abc.Sequence[int], *, f: int, hand_off: bool) -> int:
    """The network budget's `minAvailable`: every pod except those allowed down."""
    return len(holdings) - pods_allowed_down(holdings, f=f, hand_off=hand_off)
