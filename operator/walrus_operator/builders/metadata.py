"""Metadata shared by a WalrusNode's children: names, labels, owner reference.

Pure. Called by the other node builders.
"""

from __future__ import annotations

import typing

from walrus_operator import naming
from walrus_operator.builders import context

__all__ = ["object_meta", "owner_reference"]


def owner_reference(ctx: context.NodeContext) -> dict[str, typing.Any]:
    """The WalrusNode as controller owner: its children are garbage-collected with it."""
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNode",
        "name": ctx.name,
        "uid": ctx.node.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(ctx: context.NodeContext, name: str) -> dict[str, typing.Any]:
    return {
        "name": name,
        "namespace": ctx.namespace,
        "labels": naming.node_labels(ctx.name, ctx.network, ctx.pool),
        "ownerReferences": [owner_reference(ctx)],
    }
