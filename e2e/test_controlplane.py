"""The local control plane and the kubelet stand-in, end to end.

A real kube-apiserver, etcd and kube-controller-manager, with the stand-in playing the
kubelet, scheduler and volume provisioner: what later e2e scenarios (the operator, the
storage nodes) rely on.
"""

from __future__ import annotations

import ipaddress
import textwrap
import uuid
from pathlib import Path

import aiohttp
import pytest

from e2e import conditions, kubeapi
from e2e.controlplane import cluster as controlplane

NODE_IMAGE = "ghcr.io/walrus-k8s/walrus-node:dev"
PORT = 9185

pytestmark = pytest.mark.asyncio


# -- helpers ---------------------------------------------------------------------------


def condition(obj: kubeapi.JSON, kind: str) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True"
        for c in obj.get("status", {}).get("conditions", [])
    )


async def ready_pod(api: kubeapi.Client, namespace: str, name: str) -> kubeapi.JSON | None:
    pod = await api.get_or_none(kubeapi.item("pods", name, namespace))
    if pod is None or pod["metadata"].get("deletionTimestamp") or not condition(pod, "Ready"):
        return None
    return pod


async def http_get(ip: str, path: str, port: int = PORT) -> str | None:
    """The body at http://ip:port/path, or None when it is not (yet) served."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"http://{ip}:{port}{path}") as response,
        ):
            return await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


def configmap(name: str, data: dict[str, str]) -> kubeapi.JSON:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def node_statefulset(name: str, probe: kubeapi.JSON | None = None) -> kubeapi.JSON:
    """A one-replica StatefulSet of the node image: records each boot in its PVC, then
    serves the container's whole file system view over HTTP on its pod IP."""
    script = f"echo boot >> /var/lib/walrus/boots && exec python3 -m http.server \
--bind $(POD_IP) {PORT} --directory /"
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "node",
                            "image": NODE_IMAGE,
                            "command": ["sh", "-c", script],
                            "env": [
                                {
                                    "name": "POD_IP",
                                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                                }
                            ],
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "readinessProbe": probe
                            or {"tcpSocket": {"port": PORT}, "periodSeconds": 1},
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/walrus"},
                                {"name": "config", "mountPath": "/etc/walrus/config"},
                            ],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
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


async def start_node(api: kubeapi.Client, namespace: str, name: str) -> kubeapi.JSON:
    await api.create(
        kubeapi.collection("configmaps", namespace),
        configmap(f"{name}-config", {"node.yaml": "epoch: 1\n"}),
    )
    await api.create(
        kubeapi.collection("statefulsets", namespace, "apps/v1"), node_statefulset(name)
    )
    return await conditions.eventually(
        lambda: ready_pod(api, namespace, f"{name}-0"), f"pod {name}-0 Ready"
    )


# -- tests -----------------------------------------------------------------------------


async def test_api_server_serves_its_pinned_version(
    cluster: controlplane.Cluster, api: kubeapi.Client
) -> None:
    version = await api.get("/version")
    assert version["gitVersion"] == "v1.37.1"
    client = cluster.kubectl("version", "--output=json")
    assert '"gitVersion": "v1.37.1"' in client.stdout
    async with api.session.get(api.server + "/readyz") as ready:
        assert ready.status == 200


async def test_configmap_round_trips_through_etcd(api: kubeapi.Client, namespace: str) -> None:
    path = kubeapi.collection("configmaps", namespace)
    created = await api.create(path, configmap("round-trip", {"key": "value"}))
    assert created["metadata"]["uid"]
    await api.patch(kubeapi.item("configmaps", "round-trip", namespace), {"data": {"key": "v2"}})
    fetched = await api.get(kubeapi.item("configmaps", "round-trip", namespace))
    assert fetched["data"] == {"key": "v2"}
    await api.delete(kubeapi.item("configmaps", "round-trip", namespace))
    assert await api.get_or_none(kubeapi.item("configmaps", "round-trip", namespace)) is None


async def test_statefulset_pod_becomes_ready_on_its_own_loopback_address(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = await start_node(api, namespace, "walrus")

    ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.0.0.0/8")
    assert ip != "127.0.0.1"
    assert pod["status"]["podIPs"] == [{"ip": ip}]
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["nodeName"] == controlplane.DEFAULT_NODE_NAME
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] is True
    assert status["restartCount"] == 0
    assert "running" in status["state"]
    claim = await api.get(kubeapi.item("persistentvolumeclaims", "data-walrus-0", namespace))
    assert claim["status"]["phase"] == "Bound"

    async def statefulset_ready() -> bool:
        sts = await api.get(kubeapi.item("statefulsets", "walrus", namespace, "apps/v1"))
        return bool(sts.get("status", {}).get("readyReplicas") == 1)

    await conditions.eventually(statefulset_ready, "StatefulSet readyReplicas 1")


async def test_mounted_configmap_is_visible_at_its_mount_path_and_follows_updates(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = await start_node(api, namespace, "walrus")
    ip = pod["status"]["podIP"]

    # The container serves "/" as it sees it: the ConfigMap is at its mountPath.
    seen = await conditions.eventually(
        lambda: http_get(ip, "/etc/walrus/config/node.yaml"), "node.yaml served"
    )
    assert seen == "epoch: 1\n"

    await api.patch(
        kubeapi.item("configmaps", "walrus-config", namespace),
        {"data": {"node.yaml": "epoch: 2\n"}},
    )

    async def updated() -> bool:
        return await http_get(ip, "/etc/walrus/config/node.yaml") == "epoch: 2\n"

    await conditions.eventually(updated, "node.yaml updated in the running pod")


async def test_deleted_pod_comes_back_with_its_volume_data(
    api: kubeapi.Client, namespace: str
) -> None:
    first = await start_node(api, namespace, "walrus")
    ip = first["status"]["podIP"]
    assert await http_get(ip, "/var/lib/walrus/boots") == "boot\n"

    await api.delete(kubeapi.item("pods", "walrus-0", namespace))

    async def replaced() -> kubeapi.JSON | None:
        pod = await ready_pod(api, namespace, "walrus-0")
        return pod if pod and pod["metadata"]["uid"] != first["metadata"]["uid"] else None

    second = await conditions.eventually(replaced, "walrus-0 re-created and Ready")
    assert second["status"]["podIP"] == ip  # the address is stable per namespace/name
    assert await http_get(ip, "/var/lib/walrus/boots") == "boot\nboot\n"


async def test_pod_of_another_image_fails_with_a_reason(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "docker.io/library/nginx:1.27"}]},
    }
    await api.create(kubeapi.collection("pods", namespace), pod)

    async def failed() -> kubeapi.JSON | None:
        seen = await api.get(kubeapi.item("pods", "web", namespace))
        return seen if seen.get("status", {}).get("phase") == "Failed" else None

    seen = await conditions.eventually(failed, "pod web Failed")
    assert seen["status"]["reason"] == "UnsupportedImage"
    assert "nginx" in seen["status"]["message"]
    (status,) = seen["status"]["containerStatuses"]
    assert status["state"]["waiting"]["reason"] == "UnsupportedImage"


async def test_exited_container_is_restarted_and_counted(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crasher"},
        "spec": {
            "containers": [{"name": "main", "image": NODE_IMAGE, "command": ["sh", "-c", "exit 3"]}]
        },
    }
    await api.create(kubeapi.collection("pods", namespace), pod)

    async def backing_off() -> kubeapi.JSON | None:
        seen = await api.get(kubeapi.item("pods", "crasher", namespace))
        statuses = seen.get("status", {}).get("containerStatuses", [])
        if not statuses or statuses[0]["restartCount"] < 2:
            return None
        waiting = statuses[0]["state"].get("waiting", {})
        return statuses[0] if waiting.get("reason") == "CrashLoopBackOff" else None

    status = await conditions.eventually(backing_off, "crasher restarted twice, backing off")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["ready"] is False


GRPC_HEALTH_SERVER = textwrap.dedent(
    """
    import os, grpc
    from concurrent import futures
    serving = grpc.unary_unary_rpc_method_handler(lambda request, context: b"\\x08\\x01")
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": serving})
    server = grpc.server(futures.ThreadPoolExecutor(2), handlers=[handler])
    server.add_insecure_port(os.environ["POD_IP"] + ":9186")
    server.start()
    server.wait_for_termination()
    """
)


# Only true inside the pod's mount namespace, after the init container ran.
EXPECTED_FILES = "test -f /etc/walrus/config/node.yaml && test -f /scratch/init-done"


async def test_probes_of_every_kind_make_a_pod_ready(api: kubeapi.Client, namespace: str) -> None:
    pod_ip_env = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probed"},
        "spec": {
            "containers": [
                {
                    "name": "http",
                    "image": NODE_IMAGE,
                    "command": ["python3", "-m", "http.server", "--bind", "$(POD_IP)", "9185"],
                    "env": pod_ip_env,
                    "ports": [{"name": "web", "containerPort": PORT}],
                    "startupProbe": {"tcpSocket": {"port": "web"}, "periodSeconds": 1},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 1},
                    "livenessProbe": {
                        "exec": {"command": ["sh", "-c", EXPECTED_FILES]},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/walrus/config"},
                        {"name": "work", "mountPath": "/scratch"},
                    ],
                },
                {
                    "name": "grpc",
                    "image": NODE_IMAGE,
                    "command": ["python3", "-c", GRPC_HEALTH_SERVER],
                    "env": pod_ip_env,
                    "readinessProbe": {"grpc": {"port": 9186}, "periodSeconds": 1},
                },
            ],
            "initContainers": [
                {
                    "name": "init",
                    "image": NODE_IMAGE,
                    "command": ["sh", "-c", "echo done > /scratch/init-done"],
                    "volumeMounts": [{"name": "work", "mountPath": "/scratch"}],
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "probed-config"}},
                {"name": "work", "emptyDir": {}},
            ],
        },
    }
    await api.create(
        kubeapi.collection("configmaps", namespace),
        configmap("probed-config", {"node.yaml": "epoch: 1\n"}),
    )
    await api.create(kubeapi.collection("pods", namespace), pod)
    ready = await conditions.eventually(
        lambda: ready_pod(api, namespace, "probed"), "pod probed Ready"
    )
    statuses = {s["name"]: s for s in ready["status"]["containerStatuses"]}
    assert statuses["http"]["started"] is True
    assert all(s["ready"] for s in statuses.values())
    (init,) = ready["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    # The exec liveness probe runs in the container's view, where both files exist.
    seen = await api.get(kubeapi.item("pods", "probed", namespace))
    assert all(s["restartCount"] == 0 for s in seen["status"]["containerStatuses"])


async def test_failing_liveness_probe_restarts_the_container(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unhealthy"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "main",
                    "image": NODE_IMAGE,
                    "command": ["sleep", "1000"],
                    "livenessProbe": {
                        "exec": {"command": ["false"]},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    }
    await api.create(kubeapi.collection("pods", namespace), pod)

    async def restarted() -> kubeapi.JSON | None:
        seen = await api.get(kubeapi.item("pods", "unhealthy", namespace))
        statuses = seen.get("status", {}).get("containerStatuses", [])
        return statuses[0] if statuses and statuses[0]["restartCount"] >= 1 else None

    status = await conditions.eventually(restarted, "unhealthy restarted")
    assert status["lastState"]["terminated"]["exitCode"] == 128 + 15  # SIGTERM


IN_CLUSTER_CLIENT = textwrap.dedent(
    """
    import json, os, ssl, urllib.request
    account = "/var/run/secrets/kubernetes.io/serviceaccount"
    token = open(account + "/token").read()
    namespace = open(account + "/namespace").read()
    tls = ssl.create_default_context(cafile=account + "/ca.crt")
    server = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    request = urllib.request.Request(
        f"https://{server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=json.dumps(review).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    user = json.load(urllib.request.urlopen(request, context=tls))["status"]["userInfo"]
    expected = f"system:serviceaccount:{namespace}:default"
    raise SystemExit(0 if user["username"] == expected else f"unexpected user {user}")
    """
)


async def one_shot(api: kubeapi.Client, namespace: str, name: str, spec: kubeapi.JSON) -> str:
    """Run a pod that exits, with restartPolicy Never; its final phase."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", **spec},
    }
    await api.create(kubeapi.collection("pods", namespace), pod)

    async def finished() -> str | None:
        seen = await api.get(kubeapi.item("pods", name, namespace))
        phase: str | None = seen.get("status", {}).get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    return await conditions.eventually(finished, f"pod {name} finished")


async def test_pods_reach_the_api_server_with_their_service_account(
    api: kubeapi.Client, namespace: str
) -> None:
    container = {"name": "client", "image": NODE_IMAGE, "command": ["python3", "-c"]}
    container["args"] = [IN_CLUSTER_CLIENT]
    assert await one_shot(api, namespace, "client", {"containers": [container]}) == "Succeeded"


async def test_pods_resolve_statefulset_pod_names(api: kubeapi.Client, namespace: str) -> None:
    pod = await start_node(api, namespace, "walrus")
    ip = pod["status"]["podIP"]
    name = f"walrus-0.walrus.{namespace}.svc.cluster.local"
    lookup = f"import socket; assert socket.gethostbyname({name!r}) == {ip!r}"
    container = {"name": "lookup", "image": NODE_IMAGE, "command": ["python3", "-c", lookup]}
    spec = {"containers": [container], "subdomain": "walrus"}
    assert await one_shot(api, namespace, "lookup", spec) == "Succeeded"


async def test_deleting_a_statefulset_stops_its_pod_and_collects_it(
    api: kubeapi.Client, namespace: str
) -> None:
    pod = await start_node(api, namespace, "walrus")
    ip = pod["status"]["podIP"]
    await api.delete(
        kubeapi.item("statefulsets", "walrus", namespace, "apps/v1"),
        {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
    )

    async def gone() -> bool:
        return await api.get_or_none(kubeapi.item("pods", "walrus-0", namespace)) is None

    await conditions.eventually(gone, "walrus-0 deleted by the garbage collector")
    assert await http_get(ip, "/") is None  # its process is gone too


async def test_claim_expansion_grows_its_capacity(api: kubeapi.Client, namespace: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "grow"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    path = kubeapi.item("persistentvolumeclaims", "grow", namespace)
    await api.create(kubeapi.collection("persistentvolumeclaims", namespace), claim)

    async def capacity(size: str) -> bool:
        seen = await api.get(path)
        status = seen.get("status", {})
        return bool(status.get("phase") == "Bound" and status["capacity"]["storage"] == size)

    await conditions.eventually(lambda: capacity("1Gi"), "claim grow Bound with 1Gi")
    await api.patch(path, {"spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    await conditions.eventually(lambda: capacity("2Gi"), "claim grow expanded to 2Gi")


async def test_pods_run_again_after_the_stand_in_restarts(
    cluster: controlplane.Cluster, api: kubeapi.Client, namespace: str
) -> None:
    first = await start_node(api, namespace, "walrus")
    ip = first["status"]["podIP"]

    cluster.restart_kubelet()  # blocks this test's loop a few seconds; nothing else runs

    async def running_again() -> kubeapi.JSON | None:
        pod = await ready_pod(api, namespace, "walrus-0")
        restarts = pod["status"]["containerStatuses"][0]["restartCount"] if pod else 0
        return pod if pod and restarts == 1 else None

    again = await conditions.eventually(running_again, "walrus-0 running again")
    assert again["metadata"]["uid"] == first["metadata"]["uid"]  # the same pod
    assert again["status"]["podIP"] == ip
    assert await http_get(ip, "/var/lib/walrus/boots") == "boot\nboot\n"


async def test_deleting_a_namespace_removes_its_pods_claims_and_volume_data(
    api: kubeapi.Client,
) -> None:
    namespace = f"e2e-gone-{uuid.uuid4().hex[:8]}"
    await api.create(
        kubeapi.collection("namespaces"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    await conditions.eventually(
        lambda: api.get_or_none(kubeapi.item("serviceaccounts", "default", namespace)),
        "default service account",
    )
    await start_node(api, namespace, "walrus")
    claim = await api.get(kubeapi.item("persistentvolumeclaims", "data-walrus-0", namespace))
    volume = await api.get(kubeapi.item("persistentvolumes", claim["spec"]["volumeName"]))
    data = Path(volume["spec"]["hostPath"]["path"])
    assert (data / "boots").read_text() == "boot\n"

    await api.delete(kubeapi.item("namespaces", namespace))

    async def gone() -> bool:
        return await api.get_or_none(kubeapi.item("namespaces", namespace)) is None

    await conditions.eventually(gone, f"namespace {namespace} deleted")
    volume_path = kubeapi.item("persistentvolumes", volume["metadata"]["name"])

    async def reclaimed() -> bool:
        return await api.get_or_none(volume_path) is None and not data.exists()

    await conditions.eventually(reclaimed, "the claim's volume and its data deleted")
