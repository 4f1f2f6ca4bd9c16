"""The network's PodDisruptionBudget: one budget over all of a network's node pods.

`minAvailable` comes from `walrus_operator.shard_budget` (pods that may be down at once
without more than f shards offline, none during a hand-off); the selector is the
network label every node pod carries. Owned by the WalrusNetwork, so it goes with it.
Pure; called by `walrus_operator.rollouts` and the golden tests.
"""

from __future__ import annotations

import typing

from walrus_operator import models, naming

__all__ = ["build_network_budget"]


def build_network_budget(
    network: models.WalrusNetwork, min_available: int
) -> dict[str, typing.Any]:
    name = network.metadata.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": naming.network_budget_name(name),
            "namespace": network.metadata.namespace,
            "labels": {
                "app.kubernetes.io/name": "walrus-node",
                "app.kubernetes.io/part-of": "walrus",
                "app.kubernetes.io/managed-by": naming.MANAGED_BY,
                naming.LABEL_NETWORK: name,
            },
            "ownerReferences": [
                {
                    "apiVersion": naming.GROUP_VERSION,
                    "kind": "WalrusNetwork",
                    "name": name,
                    "uid": network.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "minAvailable": min_available,
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "walrus-node",
                    naming.LABEL_NETWORK: name,
                }
            },
        },
    }
