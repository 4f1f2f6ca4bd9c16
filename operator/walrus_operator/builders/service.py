"""The headless Service that gives a node's pod its stable DNS name.

`publishNotReadyAddresses` is on: peers must reach a node that is still syncing shards or
recovering slivers, before it reports SERVING. Pure; called by `children`.
"""

from __future__ import annotations

import typing

from walrus_operator import naming, node_config
from walrus_operator.builders import context, metadata

__all__ = ["build_service"]


def build_service(ctx: context.NodeContext) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata.object_meta(ctx, naming.service_name(ctx.name)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": naming.selector_labels(ctx.name),
            "ports": [
                {
                    "name": "grpc",
                    "port": node_config.GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
                {
                    "name": "metrics",
                    "port": node_config.METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                    "appProtocol": "http",
                },
            ],
        },
    }
