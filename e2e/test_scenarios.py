"""The user's path on a real API server: install the operator from manifests/, apply the
samples, store and read blobs, scale the pool up and down across epochs, lose a pod,
change stake, and have bad specs refused.

The same suite runs on two backends (`e2e.backend`). On the local control plane the
operator runs on the host (its image cannot run on the kubelet stand-in) as the
`walrus-operator` service account, so it has exactly the permissions
manifests/cluster-wide grants (the scenarios make namespaces of their own); its
in-cluster Deployment is scaled to zero. On kind (`make e2e-kind`) the operator is the
chart's Deployment running the built image, installed cluster-wide, and the committee
addresses nodes by their DNS names (`endpointMode: dns`, through the cluster's CoreDNS),
as in production; on the local backend, which has no DNS, by pod IP. The client runs on
the host and reaches the nodes by pod IP either way (kind's pod network is routed to the
host by e2e/kind/run.sh). The tests run in order and share one network, as a user's
session would; the last two (the operator pod killed in the middle of an epoch change,
`helm upgrade` of the operator) run only on kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e import backend, traffic
from e2e.controlplane import cluster as controlplane
from e2e.controlplane import process
from tests.support.slivers import serves_all
from walrus_node.client.api import WalrusClient
from walrus_node.client.config import ClientConfig
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.transport import client as client_transport
from walrus_node.transport import tls

REPO = controlplane.REPO_ROOT
SAMPLES = REPO / "manifests" / "samples"
GROUP = "walrus-k8s.io"
T = TypeVar("T")

# Blobs stored by one test and read back by the later ones.
BLOBS: dict[BlobId, bytes] = {}


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 300.0) -> T:
    """Poll ``check`` until it returns something truthy, with a generous deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not reached after {timeout:.0f} s; last seen: {last!r}")


class Session:
    """kubectl in the test's namespace, plus helpers that read what kubectl shows."""

    def __init__(self, cluster: backend.Kube, namespace: str, work: pathlib.Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.work = work

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        result = self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input)
        return result.stdout if check or result.returncode == 0 else result.stderr

    def refused(self, *args: str, input: str | None = None) -> str:
        """Run a kubectl command that must fail; return its error message."""
        result = self.cluster.kubectl("-n", self.namespace, *args, check=False, input=input)
        assert result.returncode != 0, f"kubectl {args} was accepted: {result.stdout}"
        return result.stderr

    def get(self, kind: str, name: str | None = None) -> Any:
        args = ["get", f"{kind}.{GROUP}" if kind.startswith("walrus") else kind, "-o", "json"]
        if name is not None:
            args.insert(2, name)
        return json.loads(self.kubectl(*args))

    def nodes(self) -> dict[str, Any]:
        return {n["metadata"]["name"]: n for n in self.get("walrusnodes")["items"]}

    def network(self) -> Any:
        return self.get("walrusnetworks", "devnet")

    def ready_nodes(self, count: int) -> dict[str, Any] | None:
        nodes = self.nodes()
        ready = {
            name: n
            for name, n in nodes.items()
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (n.get("status") or {}).get("conditions", [])
            )
        }
        return ready if len(nodes) == count and len(ready) == count else None

    def settled(self, epoch: int, members: int) -> Any:
        """The network at ``epoch``, Stable, every member done receiving its shards."""
        status = self.network().get("status") or {}
        state = json.loads(status.get("epochState") or "{}").get("committees") or {}
        done = set(state.get("sync_done", []))
        names = {m["name"] for m in state.get("members", [])}
        if (
            status.get("currentEpoch") == epoch
            and status.get("phase") == "Stable"
            and len(names) == members
            and names <= done
        ):
            return status
        return None

    def shards_owned(self, epoch: int) -> dict[str, int] | None:
        """Each node's reported shard count, once every node reports ``epoch``."""
        statuses = {name: n.get("status") or {} for name, n in self.nodes().items()}
        if not statuses or any(s.get("epoch") != epoch for s in statuses.values()):
            return None
        return {name: int(s.get("shardsOwned") or 0) for name, s in statuses.items()}

    def heard_from(self, count: int) -> dict[str, Any] | None:
        """``count`` WalrusNodes Ready and each reporting an epoch: the operator has reached
        every node itself (`status.epoch` comes from the node's own report), which is
        what makes a new node a candidate for the next committee. Ready follows the
        operator's own health poll, and `status.epoch` may lag it by one pass."""
        nodes = self.ready_nodes(count)
        if nodes and all((n.get("status") or {}).get("epoch") for n in nodes.values()):
            return nodes
        return None

    def advance_epoch(self) -> None:
        self.kubectl(
            "annotate",
            f"walrusnetworks.{GROUP}/devnet",
            f"{GROUP}/advance-epoch={uuid.uuid4().hex[:8]}",
            "--overwrite",
        )

    def endpoints(self) -> list[str]:
        """``name@ip:9185`` of every running node pod: with TLS the client verifies each
        node under its name (the WalrusNode's, which its certificate carries)."""
        pods = json.loads(self.kubectl("get", "pods", "-l", f"{GROUP}/node", "-o", "json"))["items"]
        return [
            f"{p['metadata']['labels'][f'{GROUP}/node']}@{p['status']['podIP']}:9185"
            for p in pods
            if p.get("status", {}).get("podIP") and p["status"].get("phase") == "Running"
        ]

    def tls_files(self) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
        """The network's CA and client certificate and key, as a user takes them from
        the Secret `devnet-client-tls` (docs/operator.md, "TLS")."""
        paths = []
        for key in ("ca.crt", "tls.crt", "tls.key"):
            # The command docs/operator.md gives users.
            template = f'{{{{index .data "{key}" | base64decode}}}}'
            path = self.work / key
            path.write_text(
                self.kubectl("get", "secret", "devnet-client-tls", "-o", f"go-template={template}")
            )
            paths.append(path)
        return paths[0], paths[1], paths[2]

    def client(self) -> WalrusClient:
        # On kind the committee names nodes by their cluster DNS names: the client asks the
        # cluster's DNS service, which e2e/kind/run.sh routes to from the host.
        ca, cert, key = self.tls_files()
        return WalrusClient(
            ClientConfig(
                nodes=tuple(self.endpoints()),
                timeout_seconds=30,
                dns_server=os.environ.get("WALRUS_E2E_DNS_SERVER", ""),
                tls_ca_file=ca,
                tls_cert_file=cert,
                tls_key_file=key,
            )
        )


def run(session: Session, fn: Callable[[WalrusClient], Any]) -> Any:
    async def go() -> Any:
        async with session.client() as client:
            return await fn(client)

    return asyncio.run(go())


def read_all(session: Session) -> None:
    async def go(client: WalrusClient) -> None:
        for blob_id, data in BLOBS.items():
            assert (await client.read(blob_id)).data == data, blob_id

    run(session, go)


@pytest.fixture(scope="module")
def session(kube: backend.Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The operator installed and running, and a namespace to use."""
    work = tmp_path_factory.mktemp("scenarios")
    namespace = f"scenario-{uuid.uuid4().hex[:6]}"
    with contextlib.ExitStack() as stack:
        if isinstance(kube, controlplane.Cluster):
            stack.enter_context(_operator_on_the_host(kube, namespace, work))
        else:
            stack.callback(_save_operator_log, kube, work)
            # Installed from the chart by e2e/kind/run.sh.
            kube.kubectl(
                "-n",
                "walrus-system",
                "rollout",
                "status",
                "deployment/walrus-operator",
                "--timeout=300s",
            )
        kube.kubectl("create", "namespace", namespace)
        stack.callback(kube.kubectl, "delete", "namespace", namespace, "--wait=false", check=False)
        stack.callback(_save_cluster_state, kube, namespace, work)
        yield Session(kube, namespace, work)


@contextlib.contextmanager
def _operator_on_the_host(
    cluster: controlplane.Cluster,
    namespace: str,
    work: pathlib.Path,
    settings: dict[str, str] | None = None,
    name: str = "operator",
) -> Iterator[pathlib.Path]:
    """manifests/cluster-wide installed (CRDs, RBAC, the Deployment scaled to zero) and
    the operator running here as its service account, watching `namespace` (`settings`:
    more WALRUS_OPERATOR_* variables). Yields its log, `<run dir>/<name>.log`."""
    cluster.kubectl("apply", "-k", str(REPO / "manifests" / "cluster-wide"))
    cluster.kubectl("-n", "walrus-system", "scale", "deployment/walrus-operator", "--replicas=0")
    kubeconfig = cluster.service_account_kubeconfig(
        "walrus-system", "walrus-operator", work / "operator.kubeconfig"
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "WALRUS_OPERATOR_NAMESPACES": namespace,
        "WALRUS_OPERATOR_ENDPOINT_MODE": "pod-ip",
        "WALRUS_OPERATOR_EPOCH_POLL_SECONDS": "1",
        "WALRUS_OPERATOR_RESYNC_SECONDS": "3",
        "WALRUS_OPERATOR_DELETION_RETRY_SECONDS": "2",
        # Clients here reach nodes by pod IP and learn a restarted node's new one from the
        # committee the operator rewrites at once: no DNS cache to wait out.
        "WALRUS_OPERATOR_ROLLOUT_SETTLE_SECONDS": "5",
        "WALRUS_OPERATOR_METRICS_PORT": "0",
        "WALRUS_OPERATOR_LIVENESS_ENDPOINT": "",
        "WALRUS_OPERATOR_LOG_FORMAT": "plain",
        # Each test module's operator elects itself in its own namespace.
        "WALRUS_OPERATOR_LEASE_NAMESPACE": namespace,
        **(settings or {}),
    }
    # Through the control plane's process hygiene: the operator dies with this test run
    # even when the run is killed (PR_SET_PDEATHSIG), and is recorded in the cluster's
    # run directory, so the next cluster start stops it if anything survived.
    operator = process.start(
        name, [sys.executable, "-m", "walrus_operator"], cluster.run_dir, env=env
    )
    try:
        yield operator.log
    finally:
        operator.stop(grace=30)
        print(f"operator log: {operator.log}")


def _save_operator_log(kube: backend.Kube, work: pathlib.Path) -> None:
    log = kube.kubectl("-n", "walrus-system", "logs", "deployment/walrus-operator", check=False)
    (work / "operator.log").write_text(log.stdout + log.stderr)
    print(f"operator log: {work / 'operator.log'}")


def _save_cluster_state(kube: backend.Kube, namespace: str, work: pathlib.Path) -> None:
    state = work / "cluster-state.yaml"
    dump = kube.kubectl(
        "-n",
        namespace,
        "get",
        f"walrusnetworks.{GROUP},walrusnodes.{GROUP},walrusnodepools.{GROUP},"
        f"walrusgateways.{GROUP},deployments,pods,events",
        "-o",
        "yaml",
        check=False,
    )
    state.write_text(dump.stdout + dump.stderr)
    print(f"cluster state at the end: {state}")


# The kind tier of `make test` runs only these (`-m kind_short`): a network of four grown
# to seven, a store and read, and what only a real cluster shows; `make e2e-kind` runs
# them all. Seven, because with four nodes of four shards each, one node restarting in the
# rolling change leaves no slack: a store then needs every other node's confirmation.
short = pytest.mark.kind_short


@short
def test_1_apply_network_and_a_pool_of_four(session: Session) -> None:
    session.kubectl("apply", "-f", str(SAMPLES / "walrusnetwork.yaml"))
    session.kubectl("apply", "-f", str(SAMPLES / "walrusnodepool.yaml"))
    wait_for(lambda: session.ready_nodes(4), "4 WalrusNodes Ready")
    wait_for(lambda: session.settled(1, 4), "the first committee (epoch 1)")
    table = session.kubectl("get", "walrusnodes")
    assert "EPOCH" in table and "SHARDS" in table
    rows = [line.split() for line in table.splitlines()[1:]]
    assert len(rows) == 4

    def four_each() -> dict[str, int] | None:
        owned = session.shards_owned(1)
        return owned if owned and all(v == 4 for v in owned.values()) else None

    assert len(wait_for(four_each, "every node reporting 4 of the 16 shards in epoch 1")) == 4


@short
def test_2_store_and_read_blobs_through_the_cluster(session: Session) -> None:
    async def store(client: WalrusClient) -> None:
        for size in (1, 100_000, 3 << 20):
            data = os.urandom(size)
            BLOBS[(await client.store(data, epochs=20)).blob_id] = data

    run(session, store)
    read_all(session)


def test_2_nodes_serve_tls_only_and_are_verified_by_name(session: Session) -> None:
    """TLS cannot fall back to plaintext unnoticed: a plaintext call to a node pod's gRPC
    port is refused, and so is a TLS call without the network's client certificate; a
    call with it, verifying the node against the network's CA under its name, is served,
    and the same call expecting another name is refused."""
    name, address = session.endpoints()[0].split("@")
    ca, cert, key = session.tls_files()

    async def health(credentials: tls.ClientTls | None, server_name: str) -> Any:
        async with client_transport.open_channel(address, credentials, server_name) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=30
                )
            except grpc.aio.AioRpcError as refused:
                return refused.code()
            return int(reply.status)

    def call(credentials: tls.ClientTls | None, server_name: str) -> Any:
        return asyncio.run(health(credentials, server_name))

    certified = tls.ClientTls.load(ca, cert, key)
    assert call(None, name) == grpc.StatusCode.UNAVAILABLE
    assert call(tls.ClientTls.load(ca), name) == grpc.StatusCode.UNAVAILABLE
    assert call(certified, name) == health_pb2.HealthCheckResponse.SERVING
    assert call(certified, "not-" + name) == grpc.StatusCode.UNAVAILABLE
    # Each WalrusNode's Ready says what the operator itself saw over mutual TLS, not the
    # pod's TCP readiness probe.
    for node_name, node in session.nodes().items():
        status = node.get("status") or {}
        ready = next(c for c in status.get("conditions", []) if c["type"] == "Ready")
        assert ready["status"] == "True", (node_name, ready)
        assert ready["reason"] == "NodeServing", (node_name, ready)
        assert ready["message"].startswith(
            "the operator's last poll over mutual TLS: health SERVING"
        ), (node_name, ready)
        assert status["polled"] == {"serving": True, "transport": "mutual TLS"}, node_name


@short
def test_3_scale_the_pool_to_seven(session: Session) -> None:
    session.kubectl("scale", f"walrusnodepools.{GROUP}/pool", "--replicas=7")
    wait_for(lambda: session.heard_from(7), "7 WalrusNodes Ready and reporting")
    session.advance_epoch()
    status = wait_for(lambda: session.settled(2, 7), "epoch 2 with the new nodes in sync")
    assert status["phase"] == "Stable"
    owned = wait_for(lambda: session.shards_owned(2), "nodes reporting epoch 2")
    assert sum(owned.values()) == 16
    assert all(owned[f"pool-{i}"] > 0 for i in range(4, 7)), owned
    read_all(session)


@short
def test_4_a_deleted_pod_comes_back_with_its_data(session: Session) -> None:
    before = session.get("pods", "pool-2-0")["metadata"]["uid"]
    claim = session.get("persistentvolumeclaims", "data-pool-2-0")
    session.kubectl("delete", "pod", "pool-2-0", "--wait=false")
    read_all(session)  # while it is away

    def back() -> bool:
        # Listed, not fetched by name: between the deletion and its re-creation the pod
        # does not exist at all.
        pods = json.loads(session.kubectl("get", "pods", "-o", "json"))["items"]
        pod = next((p for p in pods if p["metadata"]["name"] == "pool-2-0"), None)
        return (
            pod is not None
            and pod["metadata"]["uid"] != before
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod.get("status", {}).get("conditions", [])
            )
        )

    wait_for(back, "pool-2's pod back and Ready")
    # The same claim, bound to the same volume: the data did not come from elsewhere.
    again = session.get("persistentvolumeclaims", "data-pool-2-0")
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]
    assert again["spec"]["volumeName"] == claim["spec"]["volumeName"]
    ip = session.get("pods", "pool-2-0")["status"]["podIP"]
    params = EncodingParams(16)

    async def check(client: WalrusClient) -> None:
        committees = await client.committees()
        member = committees.current.by_name("pool-2")
        assert await serves_all(
            client._pool.peer(f"{ip}:9185", "pool-2"), params, BLOBS, member.shards
        )

    run(session, check)
    read_all(session)


def test_5_scale_down_hands_shards_off_before_deleting(session: Session) -> None:
    session.kubectl("scale", f"walrusnodepools.{GROUP}/pool", "--replicas=5")
    wait_for(
        lambda: all(
            session.nodes()[n]["metadata"]
            .get("annotations", {})
            .get(f"{GROUP}/exclude-from-committee")
            == "true"
            for n in ("pool-5", "pool-6")
        ),
        "the pool marking pool-5 and pool-6 to leave",
    )
    # Still holding shards: neither the pool nor a person can delete them yet.
    session.kubectl("delete", f"walrusnodes.{GROUP}", "pool-6", "--wait=false")
    blocked = wait_for(
        lambda: [
            e
            for e in json.loads(session.kubectl("get", "events", "-o", "json"))["items"]
            if e["involvedObject"]["name"] == "pool-6" and e["reason"] == "DeletionBlocked"
        ],
        "the deletion of pool-6 being blocked",
    )
    assert "owns" in blocked[0]["message"]
    nodes = session.nodes()
    assert nodes["pool-6"]["metadata"].get("deletionTimestamp")
    assert nodes["pool-5"]["status"]["shardsOwned"] > 0
    read_all(session)
    session.advance_epoch()
    wait_for(lambda: session.settled(3, 5), "epoch 3 without pool-5 and pool-6")
    wait_for(lambda: set(session.nodes()) == {f"pool-{i}" for i in range(5)}, "pool-5/6 gone")
    read_all(session)


def test_6_invalid_specs_are_refused_naming_the_field(
    session: Session, tmp_path: pathlib.Path
) -> None:
    node = yaml.safe_load((SAMPLES / "walrusnode.yaml").read_text())
    node["metadata"]["name"] = "invalid"
    node["spec"]["networkRef"]["name"] = "elsewhere"  # not part of devnet
    node["spec"]["staking"]["stake"] = -5
    message = session.refused("apply", "-f", "-", input=yaml.safe_dump(node))
    assert "spec.staking.stake" in message

    node["spec"]["staking"]["stake"] = 10
    session.kubectl("apply", "-f", "-", input=yaml.safe_dump(node))
    node["spec"]["storage"]["size"] = "10Gi"  # from 100Gi
    message = session.refused("apply", "-f", "-", input=yaml.safe_dump(node))
    assert "storage" in message and "size" in message
    session.kubectl("delete", f"walrusnodes.{GROUP}", "invalid", "--wait=false")

    message = session.refused(
        "patch",
        f"walrusnetworks.{GROUP}/devnet",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"shardCount": 32}}),
    )
    assert "shardCount" in message


def test_7_stake_moves_shards_at_the_next_epoch(session: Session) -> None:
    node = yaml.safe_load((SAMPLES / "walrusnode.yaml").read_text())  # node-a, stake 5000
    # The sample asks for half a core; kind's one node has two, most of them already
    # requested by the control plane, the pool, the operator and (later) the gateway.
    node["spec"]["resources"]["requests"]["cpu"] = "100m"
    session.kubectl("apply", "-f", "-", input=yaml.safe_dump(node))
    wait_for(lambda: session.heard_from(6), "node-a Ready and reporting")
    session.advance_epoch()
    wait_for(lambda: session.settled(4, 6), "epoch 4 with node-a")
    before = wait_for(
        lambda: (
            (s := (session.nodes()["node-a"].get("status") or {})).get("epoch") == 4
            and s.get("shardsOwned")
        ),
        "node-a reporting its shards",
    )
    session.kubectl(
        "patch",
        f"walrusnodes.{GROUP}/node-a",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"staking": {"stake": 40000}}}),
    )
    session.advance_epoch()
    wait_for(lambda: session.settled(5, 6), "epoch 5")
    after = wait_for(
        lambda: (s := (session.nodes()["node-a"].get("status") or {})).get("epoch") == 5 and s,
        "node-a at epoch 5",
    )
    assert after["shardsOwned"] > before
    assert after["staking"]["stake"] == 40000
    assert after["staking"]["shards"] == after["shardsOwned"]
    read_all(session)


def test_8_raising_the_storage_size_expands_the_volume(session: Session) -> None:
    """Expands where the StorageClass allows it (the stand-in's class does); else the node
    says why in a Degraded condition naming the field (kind's local-path class)."""
    claim = session.get("persistentvolumeclaims", "data-node-a-0")
    storage_class = session.get("storageclasses", claim["spec"]["storageClassName"])
    session.kubectl(
        "patch",
        f"walrusnodes.{GROUP}/node-a",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"storage": {"size": "120Gi"}}}),
    )
    if not storage_class.get("allowVolumeExpansion"):

        def refused() -> dict[str, Any] | None:
            conditions = (session.nodes()["node-a"].get("status") or {}).get("conditions", [])
            return next(
                (
                    c
                    for c in conditions
                    if c["type"] == "Degraded" and c["reason"] == "StorageExpansionNotAllowed"
                ),
                None,
            )

        condition = wait_for(refused, "node-a reporting that its class cannot expand")
        assert "spec.storage.size" in condition["message"]
        read_all(session)
        return

    def grown() -> dict[str, Any] | None:
        storage = (session.nodes()["node-a"].get("status") or {}).get("storage") or {}
        return storage if storage.get("capacity") == "120Gi" else None

    storage = wait_for(grown, "node-a's volume at 120Gi")
    assert storage["requested"] == "120Gi"
    claim = session.get("persistentvolumeclaims", "data-node-a-0")
    assert claim["status"]["capacity"]["storage"] == "120Gi"
    read_all(session)


def test_9_a_gateway_stores_through_its_publisher_and_reads_through_its_aggregator(
    session: Session,
) -> None:
    session.kubectl("apply", "-f", str(SAMPLES / "walrusgateway.yaml"))

    def ready() -> Any:
        gateway = session.get("walrusgateways", "gateway")
        status = gateway.get("status") or {}
        up = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
        )
        return gateway if up and status.get("readyReplicas") == 2 else None

    gateway = wait_for(ready, "the WalrusGateway Ready with 2 replicas")
    assert gateway["status"]["url"].startswith("http://gateway.")
    pods = json.loads(
        session.kubectl("get", "pods", "-l", "app.kubernetes.io/name=walrus-gateway", "-o", "json")
    )["items"]
    urls = [f"http://{p['status']['podIP']}:31415" for p in pods if p["status"].get("podIP")]
    assert len(urls) == 2

    data = os.urandom(3 << 20)
    request = urllib.request.Request(f"{urls[0]}/v1/blobs?epochs=5", data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=300) as reply:
        created = json.loads(reply.read())["newlyCreated"]["blobObject"]
    blob_id = created["blobId"]
    with urllib.request.urlopen(f"{urls[1]}/v1/blobs/{blob_id}", timeout=300) as reply:
        assert reply.read() == data
        assert reply.headers["ETag"] == f'"{blob_id}"'
    BLOBS[BlobId.parse(blob_id)] = data
    earlier, expected = next(iter(BLOBS.items()))
    with urllib.request.urlopen(f"{urls[1]}/v1/blobs/{earlier}", timeout=300) as reply:
        assert reply.read() == expected  # stored with the Python client before
    read_all(session)


# What only a real cluster shows: the operator runs in a pod there (on the local backend
# it is a process of this suite's own).
kind_only = pytest.mark.skipif(
    backend.name() != backend.KIND, reason="the operator runs in a pod only on kind"
)
OPERATOR_NAMESPACE = "walrus-system"
OPERATOR_PODS = "app.kubernetes.io/name=walrus-operator"


def operator_pods(kube: backend.Kube) -> list[Any]:
    result = kube.kubectl(
        "-n", OPERATOR_NAMESPACE, "get", "pods", "-l", OPERATOR_PODS, "-o", "json"
    )
    pods: list[Any] = json.loads(result.stdout)["items"]
    return pods


def ready_operator(kube: backend.Kube, other_than: str = "") -> str | None:
    """The name of the one Ready operator pod (other than ``other_than``), if any."""
    for pod in operator_pods(kube):
        name: str = pod["metadata"]["name"]
        conditions = (pod.get("status") or {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if ready and name != other_than and not pod["metadata"].get("deletionTimestamp"):
            return name
    return None


def leading_operator(kube: backend.Kube) -> str | None:
    """The operator pod holding the Lease (its identity is `<pod name>-<6 hex>`), if any."""
    lease = kube.kubectl(
        "-n", OPERATOR_NAMESPACE, "get", "lease", "walrus-operator", "-o", "json", check=False
    )
    if lease.returncode != 0:
        return None
    holder = str(json.loads(lease.stdout)["spec"].get("holderIdentity") or "")
    name = holder.rpartition("-")[0]
    alive = {
        p["metadata"]["name"]
        for p in operator_pods(kube)
        if not p["metadata"].get("deletionTimestamp")
    }
    return name if name in alive else None


@kind_only
@short
def test_10_operator_killed_mid_epoch_change_resumes_it(session: Session) -> None:
    """The leading operator pod (not its standby) is the one killed."""
    epoch = session.network()["status"]["currentEpoch"]
    members = len(session.nodes())
    old = wait_for(lambda: leading_operator(session.cluster), "a leading operator pod")
    session.advance_epoch()
    wait_for(
        lambda: (
            (s := session.network().get("status") or {}).get("phase") != "Stable"
            or s.get("currentEpoch", epoch) > epoch
        ),
        f"the change from epoch {epoch} under way",
    )
    session.cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "delete", "pod", old, "--grace-period=0", "--force"
    )
    wait_for(
        lambda: (pod := leading_operator(session.cluster)) != old and pod,
        "another operator pod leading",
    )
    wait_for(lambda: session.settled(epoch + 1, members), f"epoch {epoch + 1} settled")
    read_all(session)


@kind_only
@short
def test_11_helm_upgrade_of_the_operator_keeps_the_network(session: Session) -> None:
    """A new operator pod with the changed value; no node pod restarts, before or after
    the upgraded operator drives an epoch change."""
    epoch = session.network()["status"]["currentEpoch"]
    members = len(session.nodes())
    old = wait_for(lambda: ready_operator(session.cluster), "a Ready operator pod")
    node_pods = _node_pod_runs(session)
    helm = subprocess.run(
        [
            "helm",
            "upgrade",
            "walrus-operator",
            str(REPO / "charts" / "walrus-operator"),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--reuse-values",
            "--set",
            "resyncSeconds=4",
            "--wait",
            "--timeout",
            "300s",
        ],
        env={**os.environ, "KUBECONFIG": str(session.cluster.kubeconfig)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert helm.returncode == 0, helm.stderr
    new = wait_for(lambda: ready_operator(session.cluster, other_than=old), "the upgraded pod")
    (pod,) = [p for p in operator_pods(session.cluster) if p["metadata"]["name"] == new]
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}
    assert env.get("WALRUS_OPERATOR_RESYNC_SECONDS") == "4"
    assert session.network()["status"]["phase"] == "Stable"
    read_all(session)
    # The upgraded operator drives the next epoch.
    session.advance_epoch()
    wait_for(lambda: session.settled(epoch + 1, members), f"epoch {epoch + 1} settled")
    read_all(session)
    assert _node_pod_runs(session) == node_pods


def _node_pod_runs(session: Session) -> dict[str, tuple[str, int]]:
    """Each node pod's uid and container restart count: equal when none restarted."""
    return {
        name: (
            p["metadata"]["uid"],
            sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        )
        for name, p in traffic.pods(session).items()
        if f"{GROUP}/node" in p["metadata"].get("labels", {})
    }


@kind_only
@short
def test_12_a_rolling_image_change_keeps_every_store_and_read(session: Session) -> None:
    """The pool's image changes from walrus-node:A to walrus-node:B (the same build with
    another label and environment, so the pod template changes; made and loaded by
    e2e/kind/run.sh) while a client stores and reads: no failure, one pod down at a time,
    never more than f shards offline, every pool pod replaced."""
    image_b = os.environ["WALRUS_E2E_NODE_IMAGE_B"]
    members = sorted(n for n in session.nodes() if n.startswith("pool-"))
    before = {name: p["metadata"]["uid"] for name, p in traffic.pods(session).items()}
    f = EncodingParams(16).f

    def rolled_out() -> bool:
        pods = traffic.pods(session)
        rollout = (session.network().get("status") or {}).get("rollout") or {}
        done, _, total = str(rollout.get("progress", "")).partition("/")
        return (
            all(
                (p := pods.get(f"{m}-0")) is not None
                and traffic.image(p) == image_b
                and traffic.ready(p)
                for m in members
            )
            and rollout.get("phase") == "Idle"
            and done == total
        )

    with traffic.Sampler(session) as sampler, traffic.Workload(session) as workload:
        wait_for(lambda: workload.writes >= 2 or workload.failures, "the client at work")
        assert not workload.failures, workload.failures
        started = time.monotonic()
        patch = {"spec": {"template": {"spec": {"image": image_b}}}}
        session.kubectl(
            "patch", f"walrusnodepools.{GROUP}/pool", "--type=merge", "-p", json.dumps(patch)
        )
        wait_for(rolled_out, f"the pool's {len(members)} pods on {image_b}", 900)
        took = time.monotonic() - started
    print(
        f"rollout of {len(members)} pool nodes to {image_b}: {took:.0f} s; "
        f"{workload.writes} writes, {workload.reads} reads; {sampler.samples} samples, "
        f"at most {sampler.max_down} pod(s) down, {sampler.max_offline} shards offline (f={f})"
    )
    assert workload.failures == []
    assert workload.writes > 2 and workload.reads > 0
    assert sampler.max_down <= 1
    assert sampler.max_offline <= f
    after = traffic.pods(session)
    assert all(after[f"{m}-0"]["metadata"]["uid"] != before[f"{m}-0"] for m in members)
    read_all(session)
