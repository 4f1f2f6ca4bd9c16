"""The WalrusGateway reconciler: runs the HTTP gateway (docs/gateway.md) for a network.

One pass reads the referenced WalrusNetwork and its committee file (from the epoch
state the epoch controller keeps), applies the gateway's children (builders/gateway.py:
client ConfigMap with the committee, Deployment, Service, optional Ingress and HPA) and
reports the Deployment's readiness as status. The committee copy follows epoch changes
on the next pass (events or the resync timer). Level-based and idempotent like the other
reconcilers; called by `handlers`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from walrus_operator import (
    conditions,
    epoch_record,
    errors,
    gateway_models,
    gateway_status,
    kube,
    models,
    outcome,
    status,
)
from walrus_operator.builders import gateway as gateway_builder

__all__ = ["GatewayReconciler"]

Body = collections.abc.Mapping[str, typing.Any]
_WAIT_SECONDS = 15.0


@dataclasses.dataclass
class GatewayReconciler:
    kube: kube.Kube
    default_image: str
    cluster_domain: str = "cluster.local"
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
        image = gw.spec.image or self.default_image
        for child in gateway_builder.build_children(
            gw, image=image, committee_file=record.committee_file()
        ):
            await self.kube.apply(child)
        deployment = await self.kube.get(kube.Kind.DEPLOYMENT, gw.metadata.name, namespace)
        return outcome.Outcome(
            gateway_status.gateway_status(
                gw, deployment, now=self.clock(), cluster_domain=self.cluster_domain
            )
        )

    def _waiting(
        self, gw: gateway_models.WalrusGateway, reason: conditions.Reason, message: str
    ) -> outcome.Outcome:
        waiting = gateway_status.waiting_status(gw, reason, message, now=self.clock())
        return outcome.Outcome(waiting, errors.NotYet(message, delay=_WAIT_SECONDS))
