"""The seam through which the operator will ask a running node about itself.

A storage node knows its epoch, the shards it owns and is syncing, and its staking
summary; the operator shows these in the WalrusNode's status and uses `shardsOwned` to
guard deletion. The gRPC client for the node's Admin API is being written alongside the
node; until it lands, `Absent` reports nothing and those status fields keep whatever the
epoch controller (or a person) wrote.

`NodeClient` is the contract: given a node and its endpoint, return a `NodeReport` or None
when the node cannot be asked. `report_patch` turns a report into the status fields it
owns (see `walrus_operator.status` for who owns which field). Implementations live beside
this module and are the only operator modules allowed to import the node's generated
gRPC code. Called by `walrus_operator.nodes`.
"""

from __future__ import annotations

import dataclasses
import typing

from walrus_operator import models

__all__ = ["Absent", "NodeClient", "NodeReport", "report_patch"]


@dataclasses.dataclass(frozen=True)
class NodeReport:
    epoch: int
    shards_owned: int
    shards_syncing: int
    stake: int
    weight: float
    """The node's share of the committee's stake, 0..1."""
    commission_bps: int
    rewards: int


class NodeClient(typing.Protocol):
    async def report(self, node: models.WalrusNode, endpoint: str) -> NodeReport | None:
        """Ask the node; None if it is unreachable or not yet serving."""


class Absent:
    """No node client yet: nothing is reported."""

    async def report(self, node: models.WalrusNode, endpoint: str) -> NodeReport | None:
        return None


def report_patch(report: NodeReport) -> dict[str, typing.Any]:
    return {
        "epoch": report.epoch,
        "shardsOwned": report.shards_owned,
        "shardsSyncing": report.shards_syncing,
        "staking": {
            "stake": report.stake,
            "shards": report.shards_owned,
            "weight": report.weight,
            "commissionBps": report.commission_bps,
            "rewards": report.rewards,
        },
    }
