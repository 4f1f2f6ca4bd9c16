"""The stand-in's Node: registration, and the heartbeats that keep it Ready.

`e2e.kubelet.kubelet` calls `register()` once and runs `heartbeat()` for as long as it
runs. The node lifecycle controller (in kube-controller-manager) marks a Node whose
Lease is not renewed within its grace period (50 s) as NotReady, taints it and, minutes
later, evicts its pods; renewing the Lease every `heartbeat_period` and refreshing the
Ready condition keeps that from happening.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import platform

from e2e import kubeapi
from e2e.kubelet.settings import Settings

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
STAND_IN_LABEL = "walrus-k8s.io/kubelet-stand-in"


def _now(micro: bool = False) -> str:
    stamp = datetime.datetime.now(datetime.UTC)
    if micro:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _memory_kib() -> int:
    for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115 -- tiny read
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def node_status(name: str, host_ip: str, kubelet_version: str) -> kubeapi.JSON:
    now = _now()
    resources = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_kib()}Ki",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }

    def condition(kind: str, status: str, reason: str, message: str) -> kubeapi.JSON:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            condition("Ready", "True", "KubeletReady", "the kubelet stand-in is running"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": host_ip},
            {"type": "Hostname", "address": name},
        ],
        "capacity": resources,
        "allocatable": resources,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "walrus-e2e kubelet stand-in",
            "containerRuntimeVersion": "walrus-e2e://local-process",
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
        },
    }


async def register(client: kubeapi.Client, settings: Settings, host_ip: str) -> str:
    """Create the Node (or adopt an existing one); returns the reported kubelet version."""
    version = (await client.get("/version")).get("gitVersion", "v0.0.0")
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": settings.node_name,
            "labels": {
                "kubernetes.io/hostname": settings.node_name,
                "kubernetes.io/os": "linux",
                STAND_IN_LABEL: "true",
            },
        },
    }
    try:
        await client.create(kubeapi.collection("nodes"), body)
        log.info("node %s registered", settings.node_name)
    except kubeapi.Conflict:
        log.info("node %s already registered", settings.node_name)
    await _post_status(client, settings, host_ip, version)
    return str(version)


async def _post_status(
    client: kubeapi.Client, settings: Settings, host_ip: str, version: str
) -> None:
    path = kubeapi.item("nodes", settings.node_name) + "/status"
    await client.patch(path, {"status": node_status(settings.node_name, host_ip, version)})


async def _renew_lease(client: kubeapi.Client, settings: Settings) -> None:
    path = kubeapi.item("leases", settings.node_name, LEASE_NAMESPACE, "coordination.k8s.io/v1")
    spec = {
        "holderIdentity": settings.node_name,
        "leaseDurationSeconds": LEASE_SECONDS,
        "renewTime": _now(micro=True),
    }
    try:
        await client.patch(path, {"spec": spec})
    except kubeapi.NotFound:
        node = await client.get(kubeapi.item("nodes", settings.node_name))
        owner = {
            "apiVersion": "v1",
            "kind": "Node",
            "name": settings.node_name,
            "uid": node["metadata"]["uid"],
        }
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": settings.node_name, "ownerReferences": [owner]},
            "spec": spec,
        }
        await client.create(
            kubeapi.collection("leases", LEASE_NAMESPACE, "coordination.k8s.io/v1"), body
        )


async def heartbeat(client: kubeapi.Client, settings: Settings, host_ip: str, version: str) -> None:
    """Renew the Lease and refresh the node status forever."""
    while True:
        try:
            await _renew_lease(client, settings)
            await _post_status(client, settings, host_ip, version)
        except (kubeapi.ApiError, OSError, TimeoutError) as error:
            log.warning("node heartbeat failed: %s", error)
        await asyncio.sleep(settings.heartbeat_period)
