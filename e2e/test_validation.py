"""The CRDs' validation on a real kube-apiserver: every bad value of issue 11 (quantities,
image references, name lengths) and every pod-overlay escalation of issue 10 (Secrets,
host paths, tokens, privileges) is refused naming the field, and ordinary specs are
admitted. Server-side dry runs: nothing is stored, no operator is needed.

Applying the CRDs here is itself a test: the API server refuses a CRD whose CEL rules
exceed their cost budget.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.controlplane import cluster as controlplane

REPO = controlplane.REPO_ROOT
SAMPLES = REPO / "manifests" / "samples"


@pytest.fixture(scope="module")
def namespace(cluster: controlplane.Cluster) -> Iterator[str]:
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(REPO / "manifests" / "base" / "crds"),
    )
    for name in ("walrusnetworks", "walrusnodes", "walrusnodepools"):
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{name}.walrus-k8s.io", "--timeout=120s"
        )
    name = f"validation-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _sample(kind: str) -> dict[str, Any]:
    for path in SAMPLES.glob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        if body["kind"] == kind:
            return copy.deepcopy(body)
    raise AssertionError(kind)


def _set(body: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return body


def _dry_run(
    cluster: controlplane.Cluster, namespace: str, body: dict[str, Any]
) -> tuple[int, str]:
    done = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(body),
        check=False,
    )
    return done.returncode, done.stderr


REFUSED = [
    ("WalrusNode", "spec.image", "", "spec.image"),
    ("WalrusNode", "spec.image", "Walrus Node:latest", "spec.image"),
    ("WalrusNode", "spec.resources.requests", {"cpu": "lots"}, "spec.resources.requests"),
    ("WalrusNode", "spec.resources.limits", {"memory": "2 GB"}, "spec.resources.limits"),
    (
        "WalrusNode",
        "spec.resources",
        {"requests": {"memory": "4Gi"}, "limits": {"memory": "2Gi"}},
        "must not exceed spec.resources.limits",
    ),
    ("WalrusNode", "metadata.name", "n" * 53, "at most 52 characters"),
    ("WalrusNode", "spec.networkRef.name", "d" * 64, "spec.networkRef.name"),
    ("WalrusNode", "spec.podTemplate.labels", {"team": "x" * 64}, "spec.podTemplate.labels"),
    ("WalrusNodePool", "metadata.name", "p" * 49, "at most 48 characters"),
    ("WalrusNodePool", "spec.template.spec.image", "", "spec.template.spec.image"),
    ("WalrusNetwork", "metadata.name", "n" * 64, "at most 63 characters"),
    # issue 10 item 6: the pod overlay cannot reach past the node
    (
        "WalrusNode",
        "spec.podTemplate.volumes",
        [{"name": "h", "hostPath": {"path": "/"}}],
        "hostPath volumes are not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.volumes",
        [{"name": "s", "secret": {"secretName": "node-b-keys"}}],
        "Secret volumes are not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.volumes",
        [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}],
        "service-account tokens are not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.env",
        [
            {
                "name": "K",
                "valueFrom": {
                    "secretKeyRef": {"name": "walrus-operator-admin", "key": "admin.key"}
                },
            }
        ],
        "secretKeyRef is not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.extraContainers",
        [{"name": "s", "image": "busybox", "securityContext": {"privileged": True}}],
        "privileged containers are not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.extraContainers",
        [
            {
                "name": "s",
                "image": "busybox",
                "envFrom": [{"secretRef": {"name": "walrus-operator-admin"}}],
            }
        ],
        "envFrom.secretRef is not allowed",
    ),
    (
        "WalrusNode",
        "spec.podTemplate.initContainers",
        [{"name": "i", "image": "busybox", "ports": [{"containerPort": 1, "hostPort": 80}]}],
        "hostPort is not allowed",
    ),
    (
        "WalrusNodePool",
        "spec.template.spec.podTemplate.volumes",
        [{"name": "h", "hostPath": {"path": "/var/run"}}],
        "hostPath volumes are not allowed",
    ),
]


@pytest.mark.parametrize(("kind", "path", "value", "named"), REFUSED)
def test_bad_value_is_refused_by_the_api_server_naming_the_field(
    cluster: controlplane.Cluster, namespace: str, kind: str, path: str, value: object, named: str
) -> None:
    code, message = _dry_run(cluster, namespace, _set(_sample(kind), path, value))
    assert code != 0, f"{path}={value!r} was admitted"
    assert named in message, message


def test_host_namespaces_have_no_field(cluster: controlplane.Cluster, namespace: str) -> None:
    body = _set(_sample("WalrusNode"), "spec.podTemplate.hostNetwork", True)
    code, message = _dry_run(cluster, namespace, body)
    assert code != 0
    assert "hostNetwork" in message


def test_ordinary_specs_are_admitted(cluster: controlplane.Cluster, namespace: str) -> None:
    for kind in ("WalrusNetwork", "WalrusNode", "WalrusNodePool"):
        code, message = _dry_run(cluster, namespace, _sample(kind))
        assert code == 0, message
    node = _sample("WalrusNode")
    node["metadata"]["name"] = "n" * 52
    node["spec"]["image"] = "registry.example:5000/walrus/walrus-node:0.2.0@sha256:" + "a" * 64
    node["spec"]["resources"] = {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": "2"}}
    node["spec"]["podTemplate"] = {
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "c", "configMap": {"name": "x"}}],
        "extraContainers": [
            {"name": "exporter", "image": "exporter:1", "ports": [{"containerPort": 9100}]}
        ],
    }
    code, message = _dry_run(cluster, namespace, node)
    assert code == 0, message
