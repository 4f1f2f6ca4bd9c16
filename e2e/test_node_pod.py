"""The storage node as the operator will run it: a StatefulSet pod of the node image,
with its config, key and data at the paths of docs/node-runtime.md, on the stand-in."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e import conditions, kubeapi
from e2e.test_controlplane import ready_pod

VENV_BIN = Path(sys.executable).parent
WALRUS_NODE = shutil.which("walrus-node", path=str(VENV_BIN))

pytestmark = [pytest.mark.asyncio]
assert WALRUS_NODE is not None, f"no walrus-node in {VENV_BIN}: install the project (make venv)"

NODE_YAML = """\
name: node-0
data_dir: /var/lib/walrus
key_file: /etc/walrus/keys/node.key
committee_file: /etc/walrus/config/committee.yaml
grpc_port: 9185
metrics_port: 9184
"""


def node_statefulset() -> kubeapi.JSON:
    labels = {"app.kubernetes.io/name": "walrus-node", "app.kubernetes.io/instance": "node-0"}
    container = {
        "name": "node",
        "image": "ghcr.io/walrus-k8s/walrus-node:0.1.0",
        "command": ["walrus-node", "run", "--config", "/etc/walrus/config/node.yaml"],
        "env": [
            {"name": "WALRUS_LISTEN_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        ],
        "ports": [{"name": "grpc", "containerPort": 9185}],
        "readinessProbe": {"grpc": {"port": 9185}, "periodSeconds": 1},
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/walrus"},
            {"name": "config", "mountPath": "/etc/walrus/config"},
            {"name": "keys", "mountPath": "/etc/walrus/keys"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "node-0"},
        "spec": {
            "replicas": 1,
            "serviceName": "node-0",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "node-0-config"}},
                        {"name": "keys", "secret": {"secretName": "node-0-keys"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


async def test_node_pod_serves_on_its_pod_ip_and_becomes_ready(
    api: kubeapi.Client, namespace: str, tmp_path: Path
) -> None:
    assert WALRUS_NODE is not None
    key = tmp_path / "node.key"
    subprocess.run([WALRUS_NODE, "keygen", "--out", str(key)], check=True, capture_output=True)
    await api.create(
        kubeapi.collection("configmaps", namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "node-0-config"},
            "data": {"node.yaml": NODE_YAML},
        },
    )
    await api.create(
        kubeapi.collection("secrets", namespace),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "node-0-keys"},
            "data": {"node.key": base64.b64encode(key.read_bytes()).decode()},
        },
    )
    await api.create(kubeapi.collection("statefulsets", namespace, "apps/v1"), node_statefulset())

    pod = await conditions.eventually(
        lambda: ready_pod(api, namespace, "node-0-0"), "node-0-0 Ready (gRPC health SERVING)"
    )
    (status,) = pod["status"]["containerStatuses"]
    assert status["restartCount"] == 0
