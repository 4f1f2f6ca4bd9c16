"""What the node service needs from other nodes, independent of the transport.

Who calls it: :mod:`.blob_sync` and :mod:`.node`. The gRPC implementation is
:class:`walrus_node.transport.client.NodeClient`, injected by ``walrus-node run``; tests
may inject in-process peers. Implementations raise
:class:`walrus_node.protocol.errors.PeerError` for anything that
went wrong on the way (unreachable, timeout, error status), never transport exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.protocol.keys import KeyPair
from walrus_node.protocol.messages import Binding, Certificate, Deletion
from walrus_node.protocol.views import BlobStatus, NodeInfo, ShardBatch

__all__ = ["Peer", "PeerPool"]


class Peer(Protocol):
    async def get_metadata(self, blob_id: bytes) -> bytes: ...

    async def get_recovery_symbols(
        self, blob_id: bytes, target_type: SliverType, target_index: int
    ) -> Sequence[RecoverySymbol]: ...

    async def get_recovery_symbols_batch(
        self, blob_id: bytes, targets: Sequence[tuple[SliverType, int]]
    ) -> Sequence[RecoverySymbol]: ...

    async def list_certificates(
        self, after_sequence: int, limit: int
    ) -> Sequence[tuple[int, Certificate]]: ...

    async def list_deletions(
        self, after_sequence: int, limit: int
    ) -> Sequence[tuple[int, Deletion]]: ...

    async def get_node_info(self) -> NodeInfo: ...

    async def get_blob_status(self, blob_id: bytes, *, with_proof: bool = False) -> BlobStatus: ...

    async def sync_shard(
        self,
        signer: KeyPair,
        binding: Binding,
        epoch: int,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
    ) -> ShardBatch: ...


class PeerPool(Protocol):
    def peer(self, endpoint: str, name: str) -> Peer:
        """The node at ``endpoint`` whose committee name is ``name`` (TLS verifies it)."""
        ...

    async def close(self) -> None: ...
