"""The NetworkPolicy of one WalrusNetwork: who may reach its nodes' ports.

One policy per network, `<network>-nodes`, selecting the network's node pods
(`app.kubernetes.io/name: walrus-node`, `walrus-k8s.io/network: <network>`). Ingress is
allowed only:

- on the gRPC port (9185), from
  - the network's other nodes (shard sync, recovery: peers);
  - the operator's pods (`app.kubernetes.io/name: walrus-operator`), in the operator's
    namespace when it is known (`WALRUS_OPERATOR_POD_NAMESPACE`), else in any namespace;
  - clients and gateways: pods labelled `walrus-k8s.io/client: <network>`, in the
    network's namespace or in the namespaces `spec.networkPolicy.clientNamespaceSelector`
    selects;
- on the metrics port (9184), from pods labelled `walrus-k8s.io/scrape: "true"` in any
  namespace;
- on both, from every peer listed in `spec.networkPolicy.from` (for example an `ipBlock`
  for an operator or clients outside the cluster).

Everything else is dropped where the cluster's network plugin enforces NetworkPolicies.
Pure; called by `walrus_operator.networks`, golden-tested.
"""

from __future__ import annotations

import typing

from walrus_operator import models, naming, node_config

__all__ = ["LABEL_CLIENT", "LABEL_SCRAPE", "build_network_policy", "policy_name"]

LABEL_CLIENT = f"{naming.API_GROUP}/client"
"""Pod label: `walrus-k8s.io/client: <network>` lets a client or gateway reach that network."""
LABEL_SCRAPE = f"{naming.API_GROUP}/scrape"
"""Pod label: `walrus-k8s.io/scrape: "true"` lets a metrics scraper reach the metrics port."""


def policy_name(network: str) -> str:
    return f"{network}-nodes"


def build_network_policy(
    network: models.WalrusNetwork, operator_namespace: str | None
) -> dict[str, typing.Any]:
    name, namespace = network.metadata.name, network.metadata.namespace
    policy = network.spec.network_policy

    def nodes() -> dict[str, str]:
        return {"app.kubernetes.io/name": "walrus-node", naming.LABEL_NETWORK: name}

    operator: dict[str, typing.Any] = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "walrus-operator"}},
        "namespaceSelector": (
            {"matchLabels": {"kubernetes.io/metadata.name": operator_namespace}}
            if operator_namespace
            else {}
        ),
    }
    clients: dict[str, typing.Any] = {"podSelector": {"matchLabels": {LABEL_CLIENT: name}}}
    if policy.client_namespace_selector is not None:
        clients["namespaceSelector"] = policy.client_namespace_selector

    def grpc_port() -> dict[str, typing.Any]:
        return {"protocol": "TCP", "port": node_config.GRPC_PORT}

    def metrics_port() -> dict[str, typing.Any]:
        return {"protocol": "TCP", "port": node_config.METRICS_PORT}

    ingress: list[dict[str, typing.Any]] = [
        {
            "from": [{"podSelector": {"matchLabels": nodes()}}, operator, clients],
            "ports": [grpc_port()],
        },
        {
            "from": [
                {"namespaceSelector": {}, "podSelector": {"matchLabels": {LABEL_SCRAPE: "true"}}}
            ],
            "ports": [metrics_port()],
        },
    ]
    if policy.from_:
        ingress.append({"from": list(policy.from_), "ports": [grpc_port(), metrics_port()]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(name),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/part-of": "walrus",
                "app.kubernetes.io/managed-by": naming.MANAGED_BY,
                naming.LABEL_NETWORK: name,
            },
            "ownerReferences": [
                {
                    "apiVersion": naming.GROUP_VERSION,
                    "kind": "WalrusNetwork",
                    "name": name,
                    "uid": network.metadata.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "podSelector": {"matchLabels": nodes()},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
