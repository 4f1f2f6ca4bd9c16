"""The ConfigMap holding a node's `node.yaml` and `committee.yaml` (docs/node-runtime.md).

Pure; called by `children`. Raises `errors.SpecInvalid` for a bad `spec.config`.
"""

from __future__ import annotations

import typing

from walrus_operator import naming, node_config
from walrus_operator.builders import context, metadata

__all__ = ["build_config_map"]


def build_config_map(ctx: context.NodeContext) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata.object_meta(ctx, naming.config_map_name(ctx.name)),
        "data": {
            "node.yaml": node_config.render_node_config(ctx.name, ctx.node.spec),
            "committee.yaml": node_config.render_committee(
                ctx.network, ctx.shard_count, ctx.committee
            ),
        },
    }
