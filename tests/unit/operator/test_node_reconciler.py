"""The WalrusNode reconciler against an in-memory API: what it applies and reports."""

from __future__ import annotations

import base64
import copy
import typing

import pytest
import yaml

from tests.unit.operator import memory_kube, records
from walrus_node.protocol import committee_file
from walrus_operator import (
    addresses,
    admin,
    errors,
    keys,
    kube,
    metrics,
    naming,
    nodes,
    settings,
)

NAMESPACE = "walrus"
NETWORK = {
    "apiVersion": "walrus-k8s.io/v1alpha1",
    "kind": "WalrusNetwork",
    "metadata": {"name": "devnet", "namespace": NAMESPACE},
    "spec": {"shardCount": 16},
}


def _node(**spec: typing.Any) -> dict[str, typing.Any]:
    return {
        "apiVersion": "walrus-k8s.io/v1alpha1",
        "kind": "WalrusNode",
        "metadata": {"name": "node-a", "namespace": NAMESPACE, "uid": "u-1", "generation": 1},
        "spec": {"networkRef": {"name": "devnet"}, "storage": {"size": "10Gi"}, **spec},
    }


@pytest.fixture
def api() -> memory_kube.MemoryKube:
    store = memory_kube.MemoryKube()
    store.put(NETWORK)
    return store


def _reconciler(
    api: memory_kube.MemoryKube,
    config: settings.OperatorSettings | None = None,
    clock: typing.Callable[[], str] = lambda: "2026-01-01T00:00:00Z",
) -> nodes.NodeReconciler:
    return nodes.NodeReconciler(
        api,
        config or settings.OperatorSettings(),
        metrics.Metrics(),
        admin=admin.AdminKeys(api),
        addresses=addresses.DnsAddresses("cluster.local"),
        clock=clock,
    )


@pytest.fixture
def reconciler(api: memory_kube.MemoryKube) -> nodes.NodeReconciler:
    return _reconciler(api)


def _conditions(status: dict[str, typing.Any]) -> dict[str, dict[str, typing.Any]]:
    return {c["type"]: c for c in status["conditions"]}


def _with_status(
    body: dict[str, typing.Any], status: dict[str, typing.Any]
) -> dict[str, typing.Any]:
    return {**copy.deepcopy(body), "status": status}


@pytest.mark.asyncio
async def test_new_node_gets_all_children_and_a_key(api, reconciler) -> None:
    result = await reconciler.reconcile(_node())
    assert result.error is None
    for kind, name in [
        (kube.Kind.CONFIG_MAP, "node-a-config"),
        (kube.Kind.SERVICE, "node-a"),
        (kube.Kind.STATEFUL_SET, "node-a"),
        (kube.Kind.SECRET, "node-a-keys"),
    ]:
        assert api.find(kind, name, NAMESPACE) is not None, (kind, name)
    pem = base64.b64decode(api.find(kube.Kind.SECRET, "node-a-keys", NAMESPACE)["data"]["node.key"])
    assert result.status["publicKey"] == keys.public_key(pem)
    assert result.status["phase"] == "Pending"
    assert api.find(kube.Kind.PDB, "node-a", NAMESPACE) is None  # budgets are per network
    sts = api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE)
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}  # the roller restarts pods
    assert result.status["endpoint"] == "node-a-0.node-a.walrus.svc.cluster.local:9185"
    conditions = _conditions(result.status)
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Progressing"]["reason"] == "RollingOut"


@pytest.mark.asyncio
async def test_key_is_generated_once_and_never_replaced(api, reconciler) -> None:
    first = await reconciler.reconcile(_node())
    secret_before = copy.deepcopy(api.find(kube.Kind.SECRET, "node-a-keys", NAMESPACE))
    second = await reconciler.reconcile(_node())
    assert api.find(kube.Kind.SECRET, "node-a-keys", NAMESPACE) == secret_before
    assert first.status["publicKey"] == second.status["publicKey"]
    assert [w for w in api.writes if w[2] == "node-a-keys"] == [
        ("create", kube.Kind.SECRET, "node-a-keys")
    ]


@pytest.mark.asyncio
async def test_nodes_trust_the_operators_admin_key_made_once_per_namespace(api) -> None:
    await _reconciler(api).reconcile(_node())
    made = api.find(kube.Kind.SECRET, naming.ADMIN_SECRET, NAMESPACE)
    pem = base64.b64decode(made["data"][naming.ADMIN_KEY_FILE])
    admin_key = keys.public_key(pem)
    user_key = base64.b64encode(b"u" * 32).decode()
    # A restarted operator (fresh cache) reads the same Secret back; spec keys come after.
    await _reconciler(api).reconcile(_node(config={"admin_public_keys": [user_key]}))
    assert api.find(kube.Kind.SECRET, naming.ADMIN_SECRET, NAMESPACE) == made
    node_yaml = yaml.safe_load(
        api.find(kube.Kind.CONFIG_MAP, "node-a-config", NAMESPACE)["data"]["node.yaml"]
    )
    assert node_yaml["admin_public_keys"] == [admin_key, user_key]
    assert [w for w in api.writes if w[2] == naming.ADMIN_SECRET] == [
        ("create", kube.Kind.SECRET, naming.ADMIN_SECRET)
    ]


@pytest.mark.asyncio
async def test_drift_is_undone_on_the_next_pass(api, reconciler) -> None:
    await reconciler.reconcile(_node())
    del api.objects[(kube.Kind.SERVICE, NAMESPACE, "node-a")]
    sts = api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE)
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "hand-edited:1"
    await reconciler.reconcile(_node())
    assert api.find(kube.Kind.SERVICE, "node-a", NAMESPACE) is not None
    sts = api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE)
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "walrus-node:0.1.0"


async def _ready_pod(api: memory_kube.MemoryKube, reconciler: nodes.NodeReconciler) -> None:
    await reconciler.reconcile(_node())
    sts = api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE)
    sts["status"] = {
        "readyReplicas": 1,
        "observedGeneration": sts["metadata"]["generation"] + 1,  # the next apply bumps it
        "currentRevision": "r1",
        "updateRevision": "r1",
    }


@pytest.mark.asyncio
async def test_ready_pod_that_the_operator_saw_serving_makes_the_node_ready(
    api, reconciler
) -> None:
    await _ready_pod(api, reconciler)
    polled = {"polled": {"serving": True, "transport": "mutual TLS"}, "epoch": 3}
    result = await reconciler.reconcile(_with_status(_node(), polled))
    assert result.status["phase"] == "Running"
    assert result.status["health"] == "Healthy"
    conditions = _conditions(result.status)
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "NodeServing"
    assert conditions["Ready"]["message"] == (
        "the operator's last poll over mutual TLS: health SERVING, epoch 3"
    )
    assert conditions["Progressing"]["reason"] == "Reconciled"
    assert conditions["Degraded"]["status"] == "False"


@pytest.mark.asyncio
async def test_a_ready_pod_is_not_enough_for_ready(api, reconciler) -> None:
    """The pod's probe may pass while the operator cannot talk to the node: Ready follows
    the operator's own poll, and says what it saw."""
    await _ready_pod(api, reconciler)
    not_polled = _conditions((await reconciler.reconcile(_node())).status)["Ready"]
    assert (not_polled["status"], not_polled["reason"]) == ("Unknown", "NotPolledYet")
    failing = {
        "polled": {"serving": False, "transport": "mutual TLS"},
        "lastError": "UNAVAILABLE: handshake failed",
    }
    result = await reconciler.reconcile(_with_status(_node(), failing))
    ready = _conditions(result.status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "NodeNotServing")
    assert ready["message"] == (
        "the pod is ready, but the operator's last poll over mutual TLS failed: "
        "UNAVAILABLE: handshake failed"
    )
    assert result.status["health"] == "Unhealthy"
    plain = {"polled": {"serving": False, "transport": "plaintext"}}
    ready = _conditions((await reconciler.reconcile(_with_status(_node(), plain))).status)["Ready"]
    assert ready["message"] == (
        "the pod is ready, but the operator's last poll over plaintext failed: health not SERVING"
    )


@pytest.mark.asyncio
async def test_paused_node_is_observed_but_not_changed(api, reconciler) -> None:
    result = await reconciler.reconcile(_node(paused=True))
    assert result.error is None
    assert api.writes == []
    assert result.status["phase"] == "Paused"
    assert _conditions(result.status)["Progressing"]["reason"] == "Paused"


@pytest.mark.asyncio
async def test_missing_network_is_a_wait_naming_the_field(api, reconciler) -> None:
    body = _node(networkRef={"name": "nope"})
    result = await reconciler.reconcile(body)
    assert isinstance(result.error, errors.NotYet)
    assert "spec.networkRef.name" in str(result.error)
    assert _conditions(result.status)["Ready"]["reason"] == "NetworkNotFound"
    assert api.writes == []


@pytest.mark.asyncio
async def test_invalid_config_is_reported_not_applied(api, reconciler) -> None:
    result = await reconciler.reconcile(_node(config={"grpc_port": 1}))
    assert isinstance(result.error, errors.SpecInvalid)
    assert result.error.field == "spec.config.grpc_port"
    assert result.status["phase"] == "Invalid"
    degraded = _conditions(result.status)["Degraded"]
    assert degraded["reason"] == "InvalidSpec"
    assert "spec.config.grpc_port" in degraded["message"]
    assert api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE) is None


@pytest.mark.asyncio
async def test_unparseable_spec_is_reported_naming_the_field(reconciler) -> None:
    result = await reconciler.reconcile(_node(staking={"commissionBps": 20000}))
    assert isinstance(result.error, errors.SpecInvalid)
    assert result.error.field == "spec.staking.commissionBps"
    assert "spec.staking.commissionBps" in _conditions(result.status)["Ready"]["message"]


def _bound_claim(
    api: memory_kube.MemoryKube, size: str, storage_class: str, expandable: bool
) -> None:
    api.put(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": storage_class},
            "allowVolumeExpansion": expandable,
        }
    )
    api.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": naming.data_claim_name("node-a"), "namespace": NAMESPACE},
            "spec": {
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": size}},
            },
            "status": {"capacity": {"storage": size}},
        }
    )


@pytest.mark.asyncio
async def test_growing_storage_expands_the_claim_and_reports_progress(api, reconciler) -> None:
    await reconciler.reconcile(_node(storage={"size": "10Gi", "storageClassName": "ssd"}))
    _bound_claim(api, "10Gi", "ssd", expandable=True)
    result = await reconciler.reconcile(_node(storage={"size": "20Gi", "storageClassName": "ssd"}))
    pvc = api.find(kube.Kind.PVC, "data-node-a-0", NAMESPACE)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    progressing = _conditions(result.status)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "ExpandingStorage")
    assert "10Gi -> 20Gi" in progressing["message"]
    # The claim template is immutable: it keeps the size it was created with.
    sts = api.find(kube.Kind.STATEFUL_SET, "node-a", NAMESPACE)
    assert (
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    )
    pvc["status"]["capacity"]["storage"] = "20Gi"
    result = await reconciler.reconcile(_node(storage={"size": "20Gi", "storageClassName": "ssd"}))
    assert _conditions(result.status)["Progressing"]["reason"] != "ExpandingStorage"
    assert result.status["storage"] == {"requested": "20Gi", "capacity": "20Gi"}


@pytest.mark.asyncio
async def test_growth_on_a_fixed_size_class_is_degraded_not_patched(api, reconciler) -> None:
    await reconciler.reconcile(_node(storage={"size": "10Gi", "storageClassName": "fixed"}))
    _bound_claim(api, "10Gi", "fixed", expandable=False)
    result = await reconciler.reconcile(
        _node(storage={"size": "20Gi", "storageClassName": "fixed"})
    )
    pvc = api.find(kube.Kind.PVC, "data-node-a-0", NAMESPACE)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    degraded = _conditions(result.status)["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "StorageExpansionNotAllowed")
    assert "spec.storage.size" in degraded["message"]


@pytest.mark.asyncio
async def test_syncing_node_says_so(api, reconciler) -> None:
    body = _with_status(_node(), {"shardsSyncing": 3, "shardsOwned": 5})
    result = await reconciler.reconcile(body)
    syncing = _conditions(result.status)["Syncing"]
    assert (syncing["status"], syncing["message"]) == ("True", "3 shards syncing")


@pytest.mark.asyncio
async def test_a_per_node_budget_of_an_older_release_is_deleted(api, reconciler) -> None:
    labels = naming.node_labels("node-a", "devnet", None)
    api.put(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "node-a", "namespace": NAMESPACE, "labels": labels},
            "spec": {"maxUnavailable": 1},
        }
    )
    someone_elses = {"name": "node-b", "namespace": NAMESPACE, "labels": {"team": "x"}}
    api.put({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": someone_elses})
    await reconciler.reconcile(_node())
    assert api.find(kube.Kind.PDB, "node-a", NAMESPACE) is None
    other = _node()
    other["metadata"] = {**other["metadata"], "name": "node-b", "uid": "u-2"}
    await reconciler.reconcile(other)
    assert api.find(kube.Kind.PDB, "node-b", NAMESPACE) is not None  # not the operator's


def test_deletion_waits_while_shards_are_owned(reconciler) -> None:
    body = _with_status(_node(), {"shardsOwned": 4})
    with pytest.raises(errors.DeletionBlocked, match="owns 4 shards"):
        reconciler.check_deletion(body)
    body["metadata"]["annotations"] = {naming.ANNOTATION_FORCE_DELETE: "true"}
    reconciler.check_deletion(body)
    reconciler.check_deletion(_with_status(_node(), {"shardsOwned": 0}))


@pytest.mark.asyncio
async def test_condition_transition_time_is_kept_while_status_is_unchanged(api) -> None:
    times = iter(["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"])
    reconciler = _reconciler(api, clock=lambda: next(times))
    first = await reconciler.reconcile(_node())
    second = await reconciler.reconcile(_with_status(_node(), first.status))
    assert _conditions(second.status)["Ready"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


class _RefusingKube(memory_kube.MemoryKube):
    """Refuses StatefulSets the way the API server refuses an invalid pod template."""

    async def apply(self, body):
        if body["kind"] == "StatefulSet":
            raise errors.KubeError(
                'apply: StatefulSet.apps "node-a" is invalid: '
                "spec.template.spec.containers[1].image: Required value",
                status=422,
            )
        return await super().apply(body)


@pytest.mark.asyncio
async def test_spec_the_api_server_refuses_is_reported_not_retried() -> None:
    api = _RefusingKube()
    api.put(NETWORK)
    reconciler = _reconciler(api)
    result = await reconciler.reconcile(_node(podTemplate={"extraContainers": [{"name": "x"}]}))
    assert isinstance(result.error, errors.SpecInvalid)
    assert result.status["phase"] == "Invalid"
    assert "containers[1].image" in _conditions(result.status)["Degraded"]["message"]


@pytest.mark.asyncio
async def test_committee_file_follows_the_networks_epoch_state(api, reconciler) -> None:
    await reconciler.reconcile(_node())
    data = api.find(kube.Kind.CONFIG_MAP, "node-a-config", NAMESPACE)["data"]
    assert "committee.yaml" not in data  # no committee yet: the node starts in standby
    record = records.genesis(16, {"node-a": 10, "node-b": 10})
    api.find(kube.Kind.WALRUS_NETWORK, "devnet", NAMESPACE)["status"] = {
        "epochState": record.to_text()
    }
    await reconciler.reconcile(_node())  # within the poll interval: the network as read
    data = api.find(kube.Kind.CONFIG_MAP, "node-a-config", NAMESPACE)["data"]
    assert "committee.yaml" not in data
    later = _reconciler(api, settings.OperatorSettings(epoch_poll_seconds=0.1))
    await later.reconcile(_node())
    data = api.find(kube.Kind.CONFIG_MAP, "node-a-config", NAMESPACE)["data"]
    assert committee_file.parse(data["committee.yaml"]) == record.committees


@pytest.mark.asyncio
async def test_unreadable_epoch_state_keeps_pods_in_place(api, reconciler) -> None:
    api.find(kube.Kind.WALRUS_NETWORK, "devnet", NAMESPACE)["status"] = {"epochState": "{"}
    result = await reconciler.reconcile(_node())
    assert result.error is None
