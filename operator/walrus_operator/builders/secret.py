"""The Secrets the operator creates: a node's identity key, and its own admin identity.

`build_keys_secret`: `node.key` (Ed25519, PKCS#8 PEM) of one WalrusNode, owned by it.
`build_admin_secret`: `admin.key`, the operator's admin identity in one namespace, whose
public key every node there lists in `admin_public_keys`. It has no owner: it outlives
any one node, and replacing it would lock the operator out of the running nodes.

The keys themselves are made by `walrus_operator.keys` and passed in: these builders stay
pure. Both Secrets are created once and never applied over (see `walrus_operator.nodes`
and `walrus_operator.admin`), because a key is an identity. Called by those modules.
"""

from __future__ import annotations

import base64
import typing

from walrus_operator import naming
from walrus_operator.builders import context, metadata

__all__ = ["build_admin_secret", "build_keys_secret"]


def build_keys_secret(ctx: context.NodeContext, private_key_pem: bytes) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata.object_meta(ctx, naming.keys_secret_name(ctx.name)),
        "type": "Opaque",
        "immutable": True,
        "data": {"node.key": base64.b64encode(private_key_pem).decode()},
    }


def build_admin_secret(namespace: str, private_key_pem: bytes) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": naming.ADMIN_SECRET,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "walrus-operator",
                "app.kubernetes.io/component": "admin-identity",
                "app.kubernetes.io/part-of": "walrus",
                "app.kubernetes.io/managed-by": naming.MANAGED_BY,
            },
        },
        "type": "Opaque",
        "immutable": True,
        "data": {naming.ADMIN_KEY_FILE: base64.b64encode(private_key_pem).decode()},
    }
