"""What a storage node says about itself when the operator asks: `NodeReport`.

Plain values, filled in by the node client (`walrus_operator.nodeclient`) from the node's
`GetNodeInfo`, `GetCommittee`, `Admin/GetSyncStatus` and `grpc.health.v1` answers, and
read by the pure epoch planner and status builders. A node that could not be asked is a
report with `reachable=False` and the reason in `error`, never an exception.

`fingerprint` is how the controller tells whether a node already runs the committee it
should: both sides hash the committee file's plain-dict form, so formatting does not
matter. Pure; no I/O.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import typing

__all__ = ["NodeReport", "SyncReport", "fingerprint", "unreachable"]

SETTLED_STATES = frozenset({"active", "read-only"})
"""Shard states (node info `shard_states`) of shards the node holds; any other state
("syncing", "recovering") is a shard it is still receiving."""


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """The node's `Admin/GetSyncStatus`: receiving the shards it gained in `epoch`."""

    epoch: int
    shards_total: int
    shards_done: int
    bytes_received: int
    done: bool
    """`epoch_sync_done`: the node holds every shard it owns in `epoch`."""


@dataclasses.dataclass(frozen=True)
class NodeReport:
    reachable: bool
    """GetNodeInfo answered."""
    error: str = ""
    """Why the node could not be asked (or a later call failed), for conditions and logs."""
    serving: bool = False
    """The standard health service answers SERVING."""
    name: str = ""
    public_key: str = ""
    """The node's identity as it reports it: base64 of the raw Ed25519 public key."""
    epoch: int = 0
    """The epoch of the committee the node runs (0: none yet, standby)."""
    phase: str = ""
    shards: tuple[int, ...] = ()
    """Shards the node owns in the committee it runs."""
    shard_states: tuple[tuple[int, str], ...] = ()
    """(shard, state) for every shard it owns or still serves read-only."""
    committee: str | None = None
    """`fingerprint` of the committee the node runs; None without one (or unknown)."""
    sync: SyncReport | None = None
    """Only asked when the controller waits for the node to finish an epoch's sync."""

    @property
    def shards_syncing(self) -> int:
        return sum(1 for _, state in self.shard_states if state not in SETTLED_STATES)


def unreachable(error: str) -> NodeReport:
    return NodeReport(reachable=False, error=error)


def fingerprint(committee_file: collections.abc.Mapping[str, typing.Any]) -> str:
    """A digest of a committee file's plain-dict form (`ActiveCommittees.to_dict()`)."""
    canonical = json.dumps(committee_file, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
