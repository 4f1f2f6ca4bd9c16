"""`kubectl walrus` against a real API server: run as the `kubectl-walrus` plugin by the
cluster's own kubectl, on objects whose status is written the way the operator writes it
(no operator runs here), and a drain whose evictions go through the Eviction API and the
disruption controller.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from e2e.controlplane import cluster as controlplane

REPO = controlplane.REPO_ROOT
GROUP = "walrus-k8s.io"


@pytest.fixture(scope="module")
def namespace(cluster: controlplane.Cluster) -> Iterator[str]:
    crds = str(REPO / "manifests" / "base" / "crds")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", crds)
    for name in ("walrusnetworks", "walrusnodes"):
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{name}.{GROUP}", "--timeout=120s"
        )
    name = f"plugin-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout:.0f} s")
        time.sleep(0.5)


def plugin(cluster: controlplane.Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl walrus ARGS`: kubectl finds the plugin on PATH (the virtualenv's bin)."""
    path = os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        [str(cluster.binaries.kubectl), "walrus", *args],
        capture_output=True,
        text=True,
        env={**cluster.env(), "PATH": path},
        check=False,
        timeout=300,
    )


def apply(cluster: controlplane.Cluster, namespace: str, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body))


def set_status(
    cluster: controlplane.Cluster, namespace: str, what: str, status: dict[str, Any]
) -> None:
    cluster.kubectl(
        "patch",
        "-n",
        namespace,
        what,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def _ready(ready: bool) -> list[dict[str, Any]]:
    return [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "NodeServing" if ready else "PodNotReady",
            "message": "the operator's last poll over mutual TLS: health SERVING, epoch 1"
            if ready
            else "the node's pod is not ready",
            "lastTransitionTime": "2026-11-29T00:00:00Z",
        }
    ]


def test_status_and_epoch_of_a_network(cluster: controlplane.Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "WalrusNetwork",
            "metadata": {"name": "devnet"},
            "spec": {"shardCount": 16},
        },
    )
    members = []
    for name, shards, ready in (("node-a", 6, True), ("node-b", 5, False), ("node-c", 5, True)):
        apply(
            cluster,
            namespace,
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "WalrusNode",
                "metadata": {"name": name},
                "spec": {"networkRef": {"name": "devnet"}, "storage": {"size": "1Gi"}},
            },
        )
        set_status(
            cluster,
            namespace,
            f"walrusnodes.{GROUP}/{name}",
            {
                "phase": "Running" if ready else "Degraded",
                "epoch": 3,
                "shardsOwned": shards,
                "conditions": _ready(ready),
            },
        )
        members.append({"name": name, "shardCount": shards})
    set_status(
        cluster,
        namespace,
        f"walrusnetworks.{GROUP}/devnet",
        {"currentEpoch": 3, "phase": "Stable", "committee": {"epoch": 3, "members": members}},
    )

    shown = plugin(cluster, "status", "devnet", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    assert "epoch 3 Stable, 16 shards (f = 5), 5 offline: DEGRADED" in shown.stdout
    assert "the node's pod is not ready" in shown.stdout

    advanced = plugin(cluster, "epoch", "devnet", "--advance", "-n", namespace)
    assert advanced.returncode == 0, advanced.stderr
    assert "phase:       Stable" in advanced.stdout
    annotations = json.loads(
        cluster.kubectl(
            "get", "-n", namespace, f"walrusnetworks.{GROUP}/devnet", "-o", "json"
        ).stdout
    )["metadata"]["annotations"]
    assert f"{GROUP}/advance-epoch" in annotations

    missing = plugin(cluster, "status", "nosuchnet", "-n", namespace)
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_drain_respects_the_disruption_budget(
    cluster: controlplane.Cluster, namespace: str
) -> None:
    """A running walrus pod whose budget allows no disruption stays, and the drain says
    why; once the budget allows one, the drain evicts it."""
    host = f"drain-{uuid.uuid4().hex[:6]}"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump({"apiVersion": "v1", "kind": "Node", "metadata": {"name": host}}),
    )
    try:
        labels = {"app.kubernetes.io/name": "walrus-node", "app.kubernetes.io/instance": "node-x"}
        apply(
            cluster,
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "node-x-0", "labels": labels},
                "spec": {
                    "nodeName": host,
                    "containers": [{"name": "node", "image": "walrus-node:0.1.0"}],
                },
            },
        )
        # No kubelet serves this Node: the pod is made Running and Ready by hand (a Pending
        # pod may always be evicted, whatever its budget says).
        cluster.kubectl(
            "patch",
            "-n",
            namespace,
            "pod/node-x-0",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "status": {
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True"}],
                    }
                }
            ),
        )
        budget: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "node-x"},
            # minAvailable, not maxUnavailable: the pod has no controller to count replicas.
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        }
        apply(cluster, namespace, budget)

        def observed() -> bool:
            got = json.loads(
                cluster.kubectl("get", "-n", namespace, "pdb/node-x", "-o", "json").stdout
            )
            seen = got.get("status", {})
            return bool(seen.get("observedGeneration") == got["metadata"]["generation"])

        wait_for(observed, "the disruption controller to observe the budget")
        healthy = json.loads(
            cluster.kubectl("get", "-n", namespace, "pdb/node-x", "-o", "json").stdout
        )["status"]
        assert (healthy.get("currentHealthy"), healthy.get("disruptionsAllowed")) == (1, 0)
        refused = plugin(cluster, "drain", host, "--timeout", "4", "--interval", "1")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "disruption budget" in refused.stderr
        assert cluster.kubectl("get", "-n", namespace, "pod/node-x-0", check=False).returncode == 0
        node = json.loads(cluster.kubectl("get", "node", host, "-o", "json").stdout)
        assert node["spec"].get("unschedulable") is True

        budget["spec"]["minAvailable"] = 0
        apply(cluster, namespace, budget)
        wait_for(observed, "the disruption controller to observe the new budget")
        drained = plugin(cluster, "drain", host, "--timeout", "120", "--interval", "1")
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert f"pod {namespace}/node-x-0 evicted" in drained.stdout
        pod = cluster.kubectl("get", "-n", namespace, "pod/node-x-0", "-o", "json", check=False)
        assert pod.returncode != 0 or json.loads(pod.stdout)["metadata"].get("deletionTimestamp")
    finally:
        cluster.kubectl("delete", "node", host, "--wait=false", check=False)
