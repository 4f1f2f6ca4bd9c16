"""The PodDisruptionBudget of a node's pod.

One budget per node, so a drain never holds two budgets over one pod (the eviction API
refuses pods matched by several). Normally it allows the single pod to be evicted
(`maxUnavailable: 1`): the erasure code tolerates losing a node. While the node is
syncing shards or an epoch change is under way (`NodeContext.disruption_allowed` is
False) it allows none, so a drain waits until the hand-off is done. Pure; called by
`children`.
"""

from __future__ import annotations

import typing

from walrus_operator import naming
from walrus_operator.builders import context, metadata

__all__ = ["build_disruption_budget"]


def build_disruption_budget(ctx: context.NodeContext) -> dict[str, typing.Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata.object_meta(ctx, naming.pdb_name(ctx.name)),
        "spec": {
            "maxUnavailable": 1 if ctx.disruption_allowed else 0,
            "selector": {"matchLabels": naming.selector_labels(ctx.name)},
        },
    }
