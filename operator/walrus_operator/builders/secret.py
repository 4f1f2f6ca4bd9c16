"""The Secret holding a node's identity key, `node.key` (Ed25519, PKCS#8 PEM).

The key itself is made by `walrus_operator.keys` and passed in: this builder stays pure.
The Secret is created once and never applied over (see `walrus_operator.nodes`), because
a node's key is its identity in the committee. Called by the node reconciler.
"""

from __future__ import annotations

import base64
import typing

from walrus_operator import naming
from walrus_operator.builders import context, metadata

__all__ = ["build_keys_secret"]


def build_keys_secret(ctx: context.NodeContext, private_key_pem: bytes) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata.object_meta(ctx, naming.keys_secret_name(ctx.name)),
        "type": "Opaque",
        "immutable": True,
        "data": {"node.key": base64.b64encode(private_key_pem).decode()},
    }
