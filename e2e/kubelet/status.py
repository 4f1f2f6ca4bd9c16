"""A pod's status as the kubelet reports it, built from the stand-in's view of the pod.

Pure functions, called by `e2e.kubelet.pod` whenever something changed: phase,
conditions (PodReadyToStartContainers, Initialized, ContainersReady, Ready; conditions of
other types, such as PodScheduled or readiness gates set by others, are kept as they
are), container statuses, and the pod's and host's addresses.
"""

from __future__ import annotations

import dataclasses

from e2e import kubeapi
from e2e.kubelet import container

OWNED_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


@dataclasses.dataclass
class View:
    """What the stand-in knows about a pod at one moment."""

    pod: kubeapi.JSON
    pod_ip: str
    host_ip: str
    start_time: str
    sandbox_ready: bool  # IP assigned and volumes set up
    init_done: bool
    init_containers: list[container.Container]
    containers: list[container.Container]
    failure: tuple[str, str] | None = None  # (reason, message): the pod cannot run


def container_status(c: container.Container) -> kubeapi.JSON:
    image = c.spec.get("image", "")
    out: kubeapi.JSON = {
        "name": c.name,
        "image": image,
        "imageID": image,
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
        "state": c.state,
        "lastState": c.last_state,
    }
    if c.container_id:
        out["containerID"] = c.container_id
    return out


def _never_started(spec: kubeapi.JSON, reason: str, message: str) -> kubeapi.JSON:
    return {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}},
        "lastState": {},
    }


def phase(view: View) -> str:
    if view.failure is not None:
        return "Failed"
    if not view.init_done:
        failed_init = any(c.exit_code not in (None, 0) for c in view.init_containers)
        return "Failed" if failed_init else "Pending"
    codes = [c.exit_code for c in view.containers]
    if any(code is None for code in codes):
        started = any("waiting" not in c.state or c.restart_count for c in view.containers)
        return "Running" if started else "Pending"
    return "Succeeded" if all(code == 0 for code in codes) else "Failed"


def _condition(
    kind: str, holds: bool, previous: dict[str, kubeapi.JSON], now: str, reason: str = ""
) -> kubeapi.JSON:
    status = "True" if holds else "False"
    old = previous.get(kind)
    since = old["lastTransitionTime"] if old and old.get("status") == status else now
    out: kubeapi.JSON = {
        "type": kind,
        "status": status,
        "lastTransitionTime": since,
        "lastProbeTime": None,
    }
    if reason and not holds:
        out["reason"] = reason
    return out


def build(view: View, now: str) -> kubeapi.JSON:
    """The pod's `.status` (to merge-patch onto the pod)."""
    pod = view.pod
    current = pod.get("status", {})
    previous = {c["type"]: c for c in current.get("conditions", [])}
    the_phase = phase(view)
    containers_ready = bool(view.containers) and all(c.ready for c in view.containers)
    gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
    gates_hold = all(previous.get(g, {}).get("status") == "True" for g in gates)
    running = the_phase in ("Pending", "Running")

    ready_reason = "ContainersNotReady" if not containers_ready else "ReadinessGatesNotReady"
    if the_phase in ("Succeeded", "Failed"):
        ready_reason = "PodCompleted" if the_phase == "Succeeded" else "PodFailed"
    owned = [
        _condition("PodReadyToStartContainers", view.sandbox_ready and running, previous, now),
        _condition("Initialized", view.init_done, previous, now, "ContainersNotInitialized"),
        _condition("ContainersReady", containers_ready and running, previous, now, ready_reason),
        _condition(
            "Ready", containers_ready and gates_hold and running, previous, now, ready_reason
        ),
    ]
    foreign = [c for c in current.get("conditions", []) if c["type"] not in OWNED_CONDITIONS]
    generation = pod["metadata"].get("generation")
    init_statuses = [container_status(c) for c in view.init_containers]
    statuses = [container_status(c) for c in view.containers]
    if view.failure is not None and not view.containers:
        reason, message = view.failure
        init_statuses = [
            _never_started(c, reason, message) for c in pod["spec"].get("initContainers", [])
        ]
        statuses = [_never_started(c, reason, message) for c in pod["spec"]["containers"]]

    status: kubeapi.JSON = {
        "phase": the_phase,
        "conditions": foreign + owned,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": view.start_time,
        "initContainerStatuses": init_statuses or None,
        "containerStatuses": statuses,
        "reason": None,
        "message": None,
    }
    if view.sandbox_ready:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if generation is not None:
        status["observedGeneration"] = generation
    if view.failure is not None:
        status["reason"], status["message"] = view.failure
    return status
