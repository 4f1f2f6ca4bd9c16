"""Status conditions: their types, reasons and how a new set replaces the old one.

A condition keeps its `lastTransitionTime` while its status stays the same, so the time
says when it last *changed*, as `kubectl describe` readers expect. Pure (the caller passes
the clock reading in); called by the status builders.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import typing

__all__ = ["Condition", "Reason", "Type", "merge"]


class Type(enum.StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SYNCING = "Syncing"
    ROLLOUT = "Rollout"
    """WalrusNetwork: True once every node pod runs its StatefulSet's update revision."""


class Reason(enum.StrEnum):
    """Every reason the operator writes; `kubectl get -o yaml` readers can grep these."""

    ACCEPTED = "Accepted"
    INVALID_SPEC = "InvalidSpec"
    NETWORK_NOT_FOUND = "NetworkNotFound"
    PAUSED = "Paused"
    POD_READY = "PodReady"
    POD_NOT_READY = "PodNotReady"
    # WalrusNode Ready: what the operator itself saw when it last polled the node
    NODE_SERVING = "NodeServing"
    NODE_NOT_SERVING = "NodeNotServing"
    NOT_POLLED = "NotPolledYet"
    ROLLING_OUT = "RollingOut"
    RECONCILED = "Reconciled"
    EXPANDING_STORAGE = "ExpandingStorage"
    STORAGE_EXPANSION_NOT_ALLOWED = "StorageExpansionNotAllowed"
    HEALTHY = "Healthy"
    SHARDS_SYNCING = "ShardsSyncing"
    NOT_SYNCING = "NotSyncing"
    LEAVING = "LeavingCommittee"
    DELETION_BLOCKED = "DeletionBlocked"
    SCALING = "Scaling"
    MEMBERS_READY = "MembersReady"
    MEMBERS_NOT_READY = "MembersNotReady"
    # WalrusNetwork, set by the epoch controller
    WAITING_FOR_NODES = "WaitingForNodes"
    COMMITTEE_ACTIVE = "CommitteeActive"
    EPOCH_CHANGE = "EpochChange"
    SHARDS_MOVING = "ShardsMoving"
    STABLE = "Stable"
    EPOCH_CHANGE_FAILED = "EpochChangeFailed"
    INVALID_STATE = "InvalidState"
    COMMITTEE_NOT_DELIVERED = "CommitteeNotDelivered"
    MEMBERS_UNREACHABLE = "MembersUnreachable"
    # WalrusNetwork, set by the roller (walrus_operator.rollouts)
    UP_TO_DATE = "UpToDate"
    ROLLOUT_HALTED = "RolloutHalted"
    ROLLOUT_UNOBSERVED = "RolloutUnobserved"


@dataclasses.dataclass(frozen=True)
class Condition:
    type: Type
    status: bool | None
    """True, False, or None for Unknown."""
    reason: Reason
    message: str = ""

    @property
    def status_text(self) -> str:
        return {True: "True", False: "False", None: "Unknown"}[self.status]


def merge(
    previous: collections.abc.Iterable[collections.abc.Mapping[str, typing.Any]],
    current: collections.abc.Iterable[Condition],
    *,
    generation: int,
    now: str,
) -> list[dict[str, typing.Any]]:
    """The conditions to write: `current`, with transition times carried over from
    `previous` where a condition's status did not change."""
    before = {str(c.get("type")): c for c in previous}
    merged = []
    for condition in current:
        old = before.get(condition.type.value)
        unchanged = old is not None and old.get("status") == condition.status_text
        merged.append(
            {
                "type": condition.type.value,
                "status": condition.status_text,
                "reason": condition.reason.value,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": (
                    str(old.get("lastTransitionTime", now)) if old and unchanged else now
                ),
            }
        )
    return merged
