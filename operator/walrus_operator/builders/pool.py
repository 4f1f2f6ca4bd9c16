"""The WalrusNodes a WalrusNodePool stamps out, and which of them to remove.

Members are named `<pool>-<ordinal>`; a pool of `replicas: n` wants ordinals `0..n-1`.
Scale-down removes the highest ordinals first. Pure; called by `walrus_operator.pools`.
"""

from __future__ import annotations

import collections.abc
import typing

from walrus_operator import models, naming

__all__ = ["build_member", "surplus_members", "wanted_names"]


def wanted_names(pool: models.WalrusNodePool) -> list[str]:
    name = pool.metadata.name
    return [naming.pool_member_name(name, i) for i in range(pool.spec.replicas)]


def surplus_members(
    pool: models.WalrusNodePool, existing: collections.abc.Iterable[str]
) -> list[str]:
    """Existing members beyond `replicas`, highest ordinal first (the removal order)."""
    ordinals = [
        (ordinal, name)
        for name in existing
        if (ordinal := naming.pool_ordinal(pool.metadata.name, name)) is not None
        and ordinal >= pool.spec.replicas
    ]
    return [name for _, name in sorted(ordinals, reverse=True)]


def build_member(pool: models.WalrusNodePool, ordinal: int) -> dict[str, typing.Any]:
    """WalrusNode `<pool>-<ordinal>` from the pool's template, owned by the pool."""
    template = pool.spec.template
    labels = {**template.metadata.labels, naming.LABEL_POOL: pool.metadata.name}
    meta: dict[str, typing.Any] = {
        "name": naming.pool_member_name(pool.metadata.name, ordinal),
        "namespace": pool.metadata.namespace,
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": "WalrusNodePool",
                "name": pool.metadata.name,
                "uid": pool.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template.metadata.annotations:
        meta["annotations"] = dict(template.metadata.annotations)
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNode",
        "metadata": meta,
        "spec": template.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
