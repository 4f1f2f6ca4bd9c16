"""What the operator writes into `.status`, computed from what it observed.

`NodeObservation` is the real state of one WalrusNode's children (read by
`walrus_operator.nodes` through `kube`); `node_status` turns it, with the spec and the
previous status, into a status patch. Likewise `pool_status`. The WalrusNetwork's status
is the epoch controller's (`walrus_operator.epoch_status`).
Level-based: the same observation always gives the same status, whatever happened before.

Ownership of `.status` fields (merge-patched, so writers do not clobber each other):
- the node reconciler: phase, health, endpoint, publicKey, storage, observedGeneration,
  conditions;
- the epoch controller (`walrus_operator.epoch_status.node_status`, from the node's own
  report and the network's epoch state): epoch, shardsOwned, shardsSyncing, staking.
  The reconciler reads `shardsSyncing` for the Syncing condition and `shardsOwned` for the
  deletion guard.

Pure; called by the reconcilers and tests.
"""

from __future__ import annotations

import dataclasses
import enum
import typing

from walrus_operator import conditions, errors, models, naming, quantity

__all__ = [
    "ClaimObservation",
    "Health",
    "NodeObservation",
    "Phase",
    "invalid_status",
    "node_status",
    "pool_status",
]

C = conditions.Condition
T = conditions.Type
R = conditions.Reason


class Phase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
    INVALID = "Invalid"
    LEAVING = "Leaving"
    TERMINATING = "Terminating"


class Health(enum.StrEnum):
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True)
class ClaimObservation:
    """The node's data PVC as last seen."""

    name: str
    capacity: str | None
    """`status.capacity.storage`; None while the claim is unbound."""
    resize_status: str = ""
    """Resizing / FileSystemResizePending / ControllerResizeInProgress... if reported."""
    expansion_allowed: bool | None = None
    """The StorageClass's `allowVolumeExpansion`; None if unknown."""


@dataclasses.dataclass(frozen=True)
class NodeObservation:
    problem: errors.SpecInvalid | None = None
    network_found: bool = True
    statefulset_found: bool = False
    ready_replicas: int = 0
    rolled_out: bool = True
    """The StatefulSet controller has caught up with the latest pod template."""
    claim: ClaimObservation | None = None
    public_key: str | None = None
    endpoint: str | None = None


def _bigger(requested: str, capacity: str | None) -> bool:
    if capacity is None:
        return False
    try:
        return quantity.parse(requested) > quantity.parse(capacity)
    except quantity.QuantityError:
        return False


def _storage_conditions(
    spec: models.NodeSpec, claim: ClaimObservation | None
) -> tuple[C | None, C | None]:
    """(Progressing, Degraded) from a pending storage growth, or None for neither."""
    if claim is None or not _bigger(spec.storage.size, claim.capacity):
        return None, None
    change = f"{claim.name}: {claim.capacity} -> {spec.storage.size}"
    if claim.expansion_allowed is False:
        cls = spec.storage.storage_class_name or "(default)"
        return None, C(
            T.DEGRADED,
            True,
            R.STORAGE_EXPANSION_NOT_ALLOWED,
            f"spec.storage.size: StorageClass {cls} does not allow volume expansion ({change})",
        )
    detail = f" ({claim.resize_status})" if claim.resize_status else ""
    return C(T.PROGRESSING, True, R.EXPANDING_STORAGE, f"{change}{detail}"), None


def _syncing(node: models.WalrusNode) -> C:
    count = node.status.shards_syncing
    if count > 0:
        return C(T.SYNCING, True, R.SHARDS_SYNCING, f"{count} shards syncing")
    return C(T.SYNCING, False, R.NOT_SYNCING)


def _node_conditions(node: models.WalrusNode, seen: NodeObservation) -> tuple[Phase, list[C]]:
    spec = node.spec
    if seen.problem is not None:
        message = str(seen.problem)
        return Phase.INVALID, [
            C(T.READY, seen.ready_replicas > 0 or None, R.INVALID_SPEC, message),
            C(T.PROGRESSING, False, R.INVALID_SPEC, message),
            C(T.DEGRADED, True, R.INVALID_SPEC, message),
            _syncing(node),
        ]
    if not seen.network_found:
        message = f"spec.networkRef.name: WalrusNetwork {spec.network_ref.name!r} not found"
        return Phase.PENDING, [
            C(T.READY, False, R.NETWORK_NOT_FOUND, message),
            C(T.PROGRESSING, False, R.NETWORK_NOT_FOUND, message),
            C(T.DEGRADED, True, R.NETWORK_NOT_FOUND, message),
            _syncing(node),
        ]
    ready = seen.ready_replicas > 0
    growing, stuck = _storage_conditions(spec, seen.claim)
    readiness = _readiness(node, pod_ready=ready)
    if spec.paused:
        progressing = C(T.PROGRESSING, False, R.PAUSED, "spec.paused is true: no changes made")
    elif growing is not None:
        progressing = growing
    elif not seen.rolled_out or not seen.statefulset_found:
        progressing = C(T.PROGRESSING, True, R.ROLLING_OUT, "the pod is being updated")
    else:
        progressing = C(T.PROGRESSING, False, R.RECONCILED)
    degraded = stuck or C(T.DEGRADED, False, R.HEALTHY)
    return _phase(node, ready=ready, degraded=stuck is not None), [
        readiness,
        progressing,
        degraded,
        _syncing(node),
    ]


def _readiness(node: models.WalrusNode, *, pod_ready: bool) -> C:
    """Ready: the pod is ready *and* the operator's own last poll of the node (the epoch
    controller's `status.polled`, over mutual TLS when the operator has node TLS) got a
    SERVING health answer. The pod's readiness alone says little: its probe may be a TCP
    check that a node refusing every TLS handshake still passes."""
    if not pod_ready:
        return C(T.READY, False, R.POD_NOT_READY, "the node's pod is not ready")
    polled = node.status.polled
    if polled is None:
        waiting = "the pod is ready; the operator has not polled the node yet"
        return C(T.READY, None, R.NOT_POLLED, waiting)
    over = f" over {polled.transport}" if polled.transport else ""
    if polled.serving:
        epoch = node.status.epoch
        at = f", epoch {epoch}" if epoch else ", no committee yet"
        return C(
            T.READY,
            True,
            R.NODE_SERVING,
            f"the operator's last poll{over}: health SERVING{at}",
        )
    why = node.status.last_error or "health not SERVING"
    return C(
        T.READY,
        False,
        R.NODE_NOT_SERVING,
        f"the pod is ready, but the operator's last poll{over} failed: {why}",
    )


def _phase(node: models.WalrusNode, *, ready: bool, degraded: bool) -> Phase:
    if node.metadata.deletion_timestamp is not None:
        return Phase.TERMINATING
    if node.spec.paused:
        return Phase.PAUSED
    if node.metadata.annotations.get(naming.ANNOTATION_EXCLUDE) == "true":
        return Phase.LEAVING
    if ready:
        return Phase.DEGRADED if degraded else Phase.RUNNING
    return Phase.PENDING


def _health(found: bool, found_conditions: list[C]) -> Health:
    by_type = {c.type: c for c in found_conditions}
    if by_type[T.READY].status is True:
        return Health.DEGRADED if by_type[T.DEGRADED].status else Health.HEALTHY
    return Health.UNHEALTHY if found else Health.UNKNOWN


def node_status(
    node: models.WalrusNode, seen: NodeObservation, *, now: str
) -> dict[str, typing.Any]:
    """The status patch for `node` (the reconciler's fields only)."""
    phase, found_conditions = _node_conditions(node, seen)
    patch: dict[str, typing.Any] = {
        "phase": phase.value,
        "health": _health(seen.statefulset_found, found_conditions).value,
        "observedGeneration": node.metadata.generation,
        "conditions": conditions.merge(
            node.status.conditions,
            found_conditions,
            generation=node.metadata.generation,
            now=now,
        ),
        "storage": {
            "requested": node.spec.storage.size,
            "capacity": seen.claim.capacity if seen.claim else None,
        },
    }
    if seen.endpoint is not None:
        patch["endpoint"] = seen.endpoint
    if seen.public_key is not None:
        patch["publicKey"] = seen.public_key
    return patch


def invalid_status(
    generation: int,
    previous: typing.Sequence[typing.Mapping[str, typing.Any]],
    problem: errors.SpecInvalid,
    *,
    now: str,
    with_phase: bool = True,
) -> dict[str, typing.Any]:
    """Status of a resource whose spec could not even be parsed (`with_phase`: for kinds
    whose phase can say Invalid, i.e. WalrusNode)."""
    message = str(problem)
    return {
        **({"phase": Phase.INVALID.value} if with_phase else {}),
        "observedGeneration": generation,
        "conditions": conditions.merge(
            previous,
            [
                C(T.READY, False, R.INVALID_SPEC, message),
                C(T.PROGRESSING, False, R.INVALID_SPEC, message),
                C(T.DEGRADED, True, R.INVALID_SPEC, message),
            ],
            generation=generation,
            now=now,
        ),
    }


def pool_status(
    pool: models.WalrusNodePool,
    members: typing.Sequence[typing.Mapping[str, typing.Any]],
    previous: typing.Sequence[typing.Mapping[str, typing.Any]],
    *,
    now: str,
) -> dict[str, typing.Any]:
    """The pool's status from its members' bodies (as listed by label)."""
    ready = sum(
        1
        for member in members
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in member.get("status", {}).get("conditions", [])
        )
    )
    replicas = len(members)
    wanted = pool.spec.replicas
    if replicas != wanted:
        progressing = C(T.PROGRESSING, True, R.SCALING, f"{replicas} members, want {wanted}")
    else:
        progressing = C(T.PROGRESSING, False, R.RECONCILED)
    readiness = (
        C(T.READY, True, R.MEMBERS_READY, f"{ready}/{wanted} members ready")
        if ready >= wanted and replicas == wanted
        else C(T.READY, False, R.MEMBERS_NOT_READY, f"{ready}/{wanted} members ready")
    )
    return {
        "replicas": replicas,
        "readyReplicas": ready,
        "labelSelector": f"{naming.LABEL_POOL}={pool.metadata.name}",
        "observedGeneration": pool.metadata.generation,
        "conditions": conditions.merge(
            previous, [readiness, progressing], generation=pool.metadata.generation, now=now
        ),
    }
