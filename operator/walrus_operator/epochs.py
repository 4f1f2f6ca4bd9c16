"""The seam where the epoch controller plugs into the operator.

The epoch controller (built on the pure committee library, `walrus_node.committee`) will
own a WalrusNetwork's `status.currentEpoch`, `status.phase` (Stable / EpochChange),
`status.committee`, `status.prices` and `status.syncProgress`: it selects the committee by
stake at each epoch boundary, apportions shards, drives shard hand-off through the nodes'
Admin API, and leaves out nodes annotated `walrus-k8s.io/exclude-from-committee: "true"`
(which is how a pool scale-down hands shards off before a member is deleted).

The node reconciler already consumes its output: `status.committee` is rendered into each
node's committee.yaml, and `disruption_allowed` decides the node's PodDisruptionBudget.
Until the controller lands, `Inactive` keeps the network in epoch 0 with no committee.
Called by `walrus_operator.networks` and `walrus_operator.nodes`.
"""

from __future__ import annotations

import typing

from walrus_operator import models

__all__ = ["EpochController", "Inactive"]


class EpochController(typing.Protocol):
    async def advance(self, network: models.WalrusNetwork) -> dict[str, typing.Any]:
        """Move the network's epoch state on; return the network status fields to patch."""

    def disruption_allowed(self, network: models.WalrusNetwork, node: models.WalrusNode) -> bool:
        """Whether `node`'s pod may be evicted now (False during its shard hand-off)."""


class Inactive:
    """No epoch controller: no committee changes, disruptions allowed unless syncing."""

    async def advance(self, network: models.WalrusNetwork) -> dict[str, typing.Any]:
        return {}

    def disruption_allowed(self, network: models.WalrusNetwork, node: models.WalrusNode) -> bool:
        return network.status.phase != "EpochChange" and node.status.shards_syncing == 0
