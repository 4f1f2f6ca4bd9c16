"""The ConfigMap holding a node's `node.yaml` and `committee.yaml` (docs/node-runtime.md).

`committee.yaml` is the network's committee file (`NodeContext.committee_file`); before
the network's first committee there is none and the key is left out, so the node starts
in standby (a missing committee file means "no committee yet"). The node also receives
each committee at once through `Admin/SetCommittee`; this copy is what a restarted node
reads first. Pure; called by `children`. Raises `errors.SpecInvalid` for a bad
`spec.config`.
"""

from __future__ import annotations

import typing

from walrus_operator import naming, node_config
from walrus_operator.builders import context, metadata

__all__ = ["build_config_map"]


def build_config_map(ctx: context.NodeContext) -> dict[str, typing.Any]:
    data = {
        "node.yaml": node_config.render_node_config(
            ctx.name, ctx.node.spec, ctx.admin_public_keys, tls=ctx.tls
        ),
    }
    if ctx.committee_file is not None:
        data[node_config.COMMITTEE_FILE] = ctx.committee_file
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata.object_meta(ctx, naming.config_map_name(ctx.name)),
        "data": data,
    }
