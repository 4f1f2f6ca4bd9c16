"""`NodeContext`: the inputs of a WalrusNode's child objects, resolved by the reconciler.

Whatever the children depend on besides the WalrusNode itself (the image default, the
network's shard count and committee file, the operator's admin key, the size of an
existing claim template) is decided by the
caller and passed in here, so the builders stay pure. Built by `walrus_operator.nodes`,
read by every node builder.
"""

from __future__ import annotations

import dataclasses

from walrus_operator import models, naming

__all__ = ["NodeContext"]


@dataclasses.dataclass(frozen=True)
class NodeContext:
    node: models.WalrusNode
    image: str
    """The container image: `spec.image`, else the operator's default node image."""
    shard_count: int
    """The network's `spec.shardCount`."""
    committee_file: str | None
    """The network's committee file (committee.yaml), None before its first committee."""
    claim_size: str
    """Size in the StatefulSet's claim template. Claim templates are immutable, so once the
    StatefulSet exists this stays what it was created with; growth is applied to the PVC."""
    admin_public_keys: tuple[str, ...] = ()
    """The operator's admin public keys, first in node.yaml `admin_public_keys`."""
    cluster_domain: str = "cluster.local"
    tls: bool = False
    """The node serves TLS: its certificate Secret `<node>-tls` is mounted and node.yaml
    names the files (`WALRUS_OPERATOR_NODE_TLS`)."""

    @property
    def name(self) -> str:
        return self.node.metadata.name

    @property
    def namespace(self) -> str:
        return self.node.metadata.namespace

    @property
    def network(self) -> str:
        return self.node.spec.network_ref.name

    @property
    def pool(self) -> str | None:
        return self.node.metadata.labels.get(naming.LABEL_POOL)
