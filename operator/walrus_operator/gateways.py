"""The WalrusGateway reconciler: runs the HTTP gateway (docs/gateway.md) for a network.

One pass reads the referenced WalrusNetwork and its committee file (from the epoch
state the epoch controller keeps), applies the gateway's children (builders/gateway.py:
client ConfigMap with the committee, Deployment, Service, optional Ingress and HPA) and
reports the Deployment's readiness as status. With `WALRUS_OPERATOR_NODE_TLS` the pods
present the network's client certificate (`<network>-client-tls`, issued by the network
reconciler): nothing is applied until that Secret exists. The committee copy follows epoch changes
on the next pass (events or the resync timer). Level-based and idempotent like the other
reconcilers; called by `handlers`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import typing

from walrus_operator import (
    conditions,
    epoch_record,
    errors,
    gateway_models,
    gateway_status,
    kube,
    models,
    naming,
    outcome,
    status,
)
from walrus_operator.builders import gateway as gateway_builder

__all__ = ["GatewayReconciler"]

Body = collections.abc.Mapping[str, typing.Any]
_WAIT_SECONDS = 15.0
_TLS_KEYS = ("tls.crt", "tls.key", "ca.crt")


@dataclasses.dataclass
class GatewayReconciler:
    kube: kube.Kube
    default_image: str
    cluster_domain: str = "cluster.local"
    node_tls: bool = True
    """The nodes serve TLS (`WALRUS_OPERATOR_NODE_TLS`): the gateway gets the network's
    client certificate."""
    clock: collections.abc.Callable[[], str] = outcome.utc_now

    async def reconcile(self, body: Body) -> outcome.Outcome:
        meta = body.get("metadata", {})
        try:
            gw = gateway_models.parse_gateway(body)
        except errors.SpecInvalid as problem:
            previous = (body.get("status") or {}).get("conditions", [])
            generation = int(meta.get("generation", 0))
            invalid = status.invalid_status(
                generation, previous, problem, now=self.clock(), with_phase=False
            )
            return outcome.Outcome(invalid, problem)
        namespace, network_name = gw.metadata.namespace, gw.spec.network_ref.name
        network_body = await self.kube.get(kube.Kind.WALRUS_NETWORK, network_name, namespace)
        if network_body is None:
            message = f"spec.networkRef.name: WalrusNetwork {network_name!r} not found"
            return self._waiting(gw, conditions.Reason.NETWORK_NOT_FOUND, message)
        network = models.parse_network(network_body)
        try:
            record = epoch_record.load(network.status.epoch_state)
        except errors.StateInvalid as problem:
            return self._waiting(gw, conditions.Reason.INVALID_STATE, str(problem))
        if record is None:
            message = f"WalrusNetwork {network_name!r} has no committee yet"
            return self._waiting(gw, conditions.Reason.WAITING_FOR_NODES, message)
        tls = None
        if self.node_tls:
            tls = await self._client_tls(namespace, network_name)
            if tls is None:
                message = f"WalrusNetwork {network_name!r} has no client certificate yet"
                return self._waiting(gw, conditions.Reason.WAITING_FOR_NODES, message)
        image = gw.spec.image or self.default_image
        for child in gateway_builder.build_children(
            gw, image=image, committee_file=record.committee_file(), tls=tls
        ):
            await self.kube.apply(child)
        deployment = await self.kube.get(kube.Kind.DEPLOYMENT, gw.metadata.name, namespace)
        return outcome.Outcome(
            gateway_status.gateway_status(
                gw, deployment, now=self.clock(), cluster_domain=self.cluster_domain
            )
        )

    async def _client_tls(self, namespace: str, network: str) -> gateway_builder.ClientTls | None:
        """The network's client certificate Secret (the network reconciler issues it), once
        it holds a certificate, a key and the CA."""
        name = naming.client_tls_secret_name(network)
        found = await self.kube.get(kube.Kind.SECRET, name, namespace)
        data = (found or {}).get("data") or {}
        if not all(isinstance(data.get(key), str) and data[key] for key in _TLS_KEYS):
            return None
        digest = hashlib.sha256(str(data["tls.crt"]).encode()).hexdigest()
        return gateway_builder.ClientTls(name, digest)

    def _waiting(
        self, gw: gateway_models.WalrusGateway, reason: conditions.Reason, message: str
    ) -> outcome.Outcome:
        waiting = gateway_status.waiting_status(gw, reason, message, now=self.clock())
        return outcome.Outcome(waiting, errors.NotYet(message, delay=_WAIT_SECONDS))
