"""The status of a WalrusGateway, from its Deployment as observed. Pure.

`Ready` is True when every wanted replica is ready (and there is at least one);
`Progressing` while the Deployment rolls out or scales; `Degraded` when no replica is
ready although some are wanted. Also reports `replicas`, `readyReplicas` and `url` (the
Service's in-cluster address). Called by the gateway reconciler.
"""

from __future__ import annotations

import typing

from walrus_operator import conditions, gateway_models

__all__ = ["gateway_status", "waiting_status"]

C = conditions.Condition
T = conditions.Type
R = conditions.Reason


def _url(gw: gateway_models.WalrusGateway, cluster_domain: str) -> str:
    meta = gw.metadata
    return f"http://{meta.name}.{meta.namespace}.svc.{cluster_domain}"


def gateway_status(
    gw: gateway_models.WalrusGateway,
    deployment: typing.Mapping[str, typing.Any] | None,
    *,
    now: str,
    cluster_domain: str = "cluster.local",
) -> dict[str, typing.Any]:
    observed = (deployment or {}).get("status") or {}
    spec = (deployment or {}).get("spec") or {}
    wanted = int(spec.get("replicas", gw.spec.replicas) or 0)
    ready = int(observed.get("readyReplicas") or 0)
    updated = int(observed.get("updatedReplicas") or 0)
    total = int(observed.get("replicas") or 0)
    message = f"{ready}/{wanted} replicas ready"
    rolling = updated < wanted or total != wanted
    found = [
        C(T.READY, True, R.POD_READY, message)
        if wanted > 0 and ready >= wanted
        else C(T.READY, False, R.POD_NOT_READY, message),
        C(T.PROGRESSING, True, R.ROLLING_OUT, f"{updated}/{wanted} replicas updated")
        if rolling
        else C(T.PROGRESSING, False, R.RECONCILED),
        C(T.DEGRADED, True, R.POD_NOT_READY, message)
        if wanted > 0 and ready == 0 and not rolling
        else C(T.DEGRADED, False, R.HEALTHY),
    ]
    generation = gw.metadata.generation
    return {
        "observedGeneration": generation,
        "replicas": total,
        "readyReplicas": ready,
        "url": _url(gw, cluster_domain),
        "conditions": conditions.merge(gw.status.conditions, found, generation=generation, now=now),
    }


def waiting_status(
    gw: gateway_models.WalrusGateway, reason: conditions.Reason, message: str, *, now: str
) -> dict[str, typing.Any]:
    """Nothing to run yet: the network is missing or has no committee."""
    generation = gw.metadata.generation
    return {
        "observedGeneration": generation,
        "conditions": conditions.merge(
            gw.status.conditions,
            [
                C(T.READY, False, reason, message),
                C(T.PROGRESSING, True, reason, message),
                C(T.DEGRADED, False, reason, message),
            ],
            generation=generation,
            now=now,
        ),
    }
