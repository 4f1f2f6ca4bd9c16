"""What the node service needs from other nodes, independent of the transport.

Who calls it: :mod:`.blob_sync` and :mod:`.node`. The gRPC implementation is
:class:`walrus_node.transport.client.NodeClient`, injected by ``walrus-node run``; tests
may inject in-process peers. Implementations raise :class:`PeerError` for anything that
went wrong on the way (unreachable, timeout, error status), never transport exceptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol.keys import KeyPair
from walrus_node.protocol.messages import Certificate
from walrus_node.service.views import NodeInfo

__all__ = ["Peer", "PeerError", "PeerPool", "ShardBatch", "ShardBatchRecord"]


class PeerError(Exception):
    """A request to another node failed; the message names the node and the cause."""


@dataclasses.dataclass(frozen=True)
class ShardBatchRecord:
    blob_id: bytes
    metadata: bytes
    certificate: Certificate
    sliver_type: SliverType
    index: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class ShardBatch:
    records: list[ShardBatchRecord]
    finished: bool
    """True when the sender has no slivers after the last record."""


class Peer(Protocol):
    async def get_metadata(self, blob_id: bytes) -> bytes: ...

    async def get_recovery_symbols(
        self, blob_id: bytes, target_type: SliverType, target_index: int
    ) -> Sequence[RecoverySymbol]: ...

    async def list_certificates(
        self, after_sequence: int, limit: int
    ) -> Sequence[tuple[int, Certificate]]: ...

    async def get_node_info(self) -> NodeInfo: ...

    async def sync_shard(
        self,
        signer: KeyPair,
        epoch: int,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
    ) -> ShardBatch: ...


class PeerPool(Protocol):
    def peer(self, endpoint: str) -> Peer: ...

    async def close(self) -> None: ...
