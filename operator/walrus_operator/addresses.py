"""Where a storage node is reached: its gRPC endpoint, in the mode the settings choose.

- `dns` (`DnsAddresses`): `<node>-0.<node>.<ns>.svc.<clusterDomain>:9185`, the pod's name
  under its headless Service. Stable across pod restarts; needs cluster DNS where the
  operator and the nodes run.
- `pod-ip` (`PodIpAddresses`): `<pod IP>:9185` from the Pod's `status.podIP` (IPv6 in
  brackets). For clusters without cluster DNS. A restarted pod may get a new IP; the epoch
  controller then rewrites that member's endpoint in the committee.

The committee lists these endpoints, so nodes reach each other the same way the operator
reaches them. `Addresses` is the seam (tests map names to loopback ports). Built in
`handlers`; called by `walrus_operator.nodes` (status.endpoint) and
`walrus_operator.epochs`.
"""

from __future__ import annotations

import typing

from walrus_operator import kube, models, naming, node_config, settings

__all__ = ["Addresses", "DnsAddresses", "PodIpAddresses", "for_settings"]


class Addresses(typing.Protocol):
    async def endpoint(self, node: models.WalrusNode) -> str | None:
        """`host:port` of the node's gRPC API; None while it has none (no pod IP yet)."""


class DnsAddresses:
    def __init__(self, cluster_domain: str) -> None:
        self._domain = cluster_domain

    async def endpoint(self, node: models.WalrusNode) -> str | None:
        meta = node.metadata
        return naming.endpoint(meta.name, meta.namespace, self._domain, node_config.GRPC_PORT)


class PodIpAddresses:
    def __init__(self, api: kube.Kube) -> None:
        self._kube = api

    async def endpoint(self, node: models.WalrusNode) -> str | None:
        meta = node.metadata
        pod = await self._kube.get(kube.Kind.POD, naming.pod_name(meta.name), meta.namespace)
        address = ((pod or {}).get("status") or {}).get("podIP")
        if not isinstance(address, str) or not address:
            return None
        host = f"[{address}]" if ":" in address else address
        return f"{host}:{node_config.GRPC_PORT}"


def for_settings(config: settings.OperatorSettings, api: kube.Kube) -> Addresses:
    if config.endpoint_mode == "pod-ip":
        return PodIpAddresses(api)
    return DnsAddresses(config.cluster_domain)
