"""The Secrets the operator creates: a node's identity key, its own admin identity, and
the TLS material of a network (its CA, and the certificates it signs).

`build_keys_secret`: `node.key` (Ed25519, PKCS#8 PEM) of one WalrusNode, owned by it.
`build_admin_secret`: `admin.key`, the operator's admin identity in one namespace, whose
public key every node there lists in `admin_public_keys`. It has no owner: it outlives
any one node, and replacing it would lock the operator out of the running nodes.

The keys themselves are made by `walrus_operator.keys` and passed in: these builders stay
pure. Both Secrets are created once and never applied over (see `walrus_operator.nodes`
and `walrus_operator.admin`), because a key is an identity. The TLS Secrets are not
immutable: certificates are re-issued before they expire (`walrus_operator.tls_secrets`).
Called by those modules.
"""

from __future__ import annotations

import base64
import typing

from walrus_operator import naming
from walrus_operator.builders import context, metadata

__all__ = ["build_admin_secret", "build_ca_secret", "build_keys_secret", "build_tls_secret"]


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _owned_by(kind: str, name: str, uid: str) -> list[dict[str, typing.Any]]:
    return [
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _tls_labels(network: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "walrus",
        "app.kubernetes.io/managed-by": naming.MANAGED_BY,
        naming.LABEL_NETWORK: network,
    }


def build_ca_secret(
    namespace: str, network: str, network_uid: str, certificate_pem: bytes, key_pem: bytes
) -> dict[str, typing.Any]:
    """`<network>-ca`: the network's CA, owned by the WalrusNetwork."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": naming.ca_secret_name(network),
            "namespace": namespace,
            "labels": _tls_labels(network, "certificate-authority"),
            "ownerReferences": _owned_by("WalrusNetwork", network, network_uid),
        },
        "type": "Opaque",
        "data": {"ca.crt": _b64(certificate_pem), "ca.key": _b64(key_pem)},
    }


def build_tls_secret(
    namespace: str,
    name: str,
    network: str,
    owner: tuple[str, str, str],
    material: tuple[bytes, bytes, bytes],
) -> dict[str, typing.Any]:
    """A `kubernetes.io/tls` Secret `name`: `material` is (certificate, key, CA certificate)
    PEM; `owner` is the (kind, name, uid) it is garbage-collected with."""
    certificate, key, ca = material
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _tls_labels(network, "certificate"),
            "ownerReferences": _owned_by(*owner),
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": _b64(certificate), "tls.key": _b64(key), "ca.crt": _b64(ca)},
    }
