"""Plain values a node answers with: what the node service returns, the transport converts
to messages, and the client, the testbed and the operator read. No server code here, so
that callers of a node import none."""

from __future__ import annotations

import dataclasses
import enum

from walrus_node.codec.params import SliverType
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.protocol.sliver_buffer import SliverBuffer

__all__ = [
    "BlobStatus",
    "BlobStatusState",
    "NodeInfo",
    "NodeStatus",
    "ShardBatch",
    "ShardBatchRecord",
    "ShardSyncView",
    "SyncStatus",
    "longest",
]


class NodeStatus(enum.Enum):
    STANDBY = "standby"  # up, not in the committee
    ACTIVE = "active"  # in the committee, holds what it should
    SYNCING = "syncing"  # receiving shards gained at an epoch change
    RECOVERING = "recovering"  # rebuilding slivers of certified blobs it lacks


class BlobStatusState(enum.Enum):
    NONEXISTENT = "nonexistent"
    REGISTERED = "registered"
    CERTIFIED = "certified"
    EXPIRED = "expired"
    DELETED = "deleted"
    INVALID = "invalid"


def longest(registrations: tuple[BlobRegistration, ...]) -> BlobRegistration | None:
    """The registration ending last; a permanent one wins a tie."""
    return max(registrations, key=lambda r: (r.end_epoch, not r.deletable), default=None)


@dataclasses.dataclass(frozen=True)
class NodeInfo:
    name: str
    public_key: bytes
    epoch: int
    n_shards: int
    shards: tuple[int, ...]
    status: NodeStatus
    shard_states: tuple[tuple[int, str], ...]
    version: str
    uptime_seconds: int
    blobs_stored: int
    recovery_backlog: int
    phase: str
    certificates_logged: int
    deletions_logged: int = 0
    """Sequence of the last entry of the node's deletion log (0: none, or an older node)."""


@dataclasses.dataclass(frozen=True)
class BlobStatus:
    state: BlobStatusState
    has_metadata: bool = False
    slivers_held: int = 0
    slivers_expected: int = 0
    certified_epoch: int = 0
    registrations: tuple[BlobRegistration, ...] = ()
    """Every live registration of the blob: several owners may register one blob ID."""
    inconsistency_proof: bytes = b""
    """For an invalid blob, when asked for: the proof (unverified until checked)."""
    metadata: bytes = b""
    """With the proof: the blob's metadata, to check it against (unverified)."""

    @property
    def registration(self) -> BlobRegistration | None:
        """The registration that keeps the blob longest (a permanent one on a tie)."""
        return longest(self.registrations)


@dataclasses.dataclass(frozen=True)
class ShardSyncView:
    """One gained shard's sync: who sends it, how far it got, and when."""

    shard: int
    state: str
    """"syncing", "recovering" or "done"."""
    source: str
    slivers: int = 0
    bytes: int = 0
    error: str = ""
    recovered: int = 0
    recovered_bytes: int = 0
    started_at: float = 0.0
    recovery_started_at: float = 0.0
    finished_at: float = 0.0


@dataclasses.dataclass(frozen=True)
class SyncStatus:
    """Progress of receiving the shards gained in ``epoch``."""

    epoch: int
    shards_total: int
    shards_done: int
    bytes_received: int
    slivers_received: int
    slivers_recovered: int
    epoch_sync_done: bool
    shards: tuple[ShardSyncView, ...] = ()
    skipped_blob_ids: tuple[bytes, ...] = ()
    """Certified blobs found invalid (inconsistently encoded): not synced, on purpose."""


@dataclasses.dataclass(frozen=True)
class ShardBatchRecord:
    """One sliver of a shard sent by its previous owner, with its blob's metadata and
    certificate (all unverified until the receiver checks them)."""

    blob_id: bytes
    metadata: bytes
    certificate: Certificate
    sliver_type: SliverType
    index: int
    data: SliverBuffer
    """The sliver, laid out as the receiver stores it (:mod:`.sliver_buffer`)."""


@dataclasses.dataclass(frozen=True)
class ShardBatch:
    records: list[ShardBatchRecord]
    finished: bool
    """True when the sender has no slivers after the last record."""
