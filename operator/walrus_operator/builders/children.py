"""All of a WalrusNode's children except its key Secret, in the order they are applied.

ConfigMap first (the pod mounts it), then Service and StatefulSet. The key Secret is
separate (`secret.build_keys_secret`): it is created once, never applied. Disruptions are
budgeted per network, not per node (`walrus_operator.rollouts`, `builders.budget`).
Pure; called by `walrus_operator.nodes` and the golden tests.
"""

from __future__ import annotations

import typing

from walrus_operator import node_config
from walrus_operator.builders import configmap, context, service, statefulset

__all__ = ["build_children"]


def build_children(ctx: context.NodeContext) -> list[dict[str, typing.Any]]:
    config_map = configmap.build_config_map(ctx)
    digest = node_config.config_hash(config_map["data"]["node.yaml"])
    return [
        config_map,
        service.build_service(ctx),
        statefulset.build_statefulset(ctx, digest),
    ]
