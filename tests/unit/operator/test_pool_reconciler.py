"""The WalrusNodePool reconciler: stable member names, ordered and two-step scale-down."""

from __future__ import annotations

import typing

import pytest
import yaml

from tests.unit.operator import crd_validation, memory_kube, records
from walrus_operator import errors, kube, metrics, naming, pools

NAMESPACE = "walrus"


def _pool(replicas: int) -> dict[str, typing.Any]:
    body = yaml.safe_load((crd_validation.SAMPLES_DIR / "walrusnodepool.yaml").read_text())
    body["metadata"].update(namespace=NAMESPACE, uid="pool-uid", generation=1)
    body["spec"]["replicas"] = replicas
    return typing.cast(dict[str, typing.Any], body)


@pytest.fixture
def api() -> memory_kube.MemoryKube:
    return memory_kube.MemoryKube()


@pytest.fixture
def reconciler(api: memory_kube.MemoryKube) -> pools.PoolReconciler:
    return pools.PoolReconciler(api, metrics.Metrics(), clock=lambda: "2026-01-01T00:00:00Z")


def _members(api: memory_kube.MemoryKube) -> list[str]:
    return sorted(name for (kind, _, name) in api.objects if kind is kube.Kind.WALRUS_NODE)


def _annotations(api: memory_kube.MemoryKube, name: str) -> dict[str, str]:
    return api.find(kube.Kind.WALRUS_NODE, name, NAMESPACE)["metadata"].get("annotations", {})


@pytest.mark.asyncio
async def test_pool_stamps_out_members_with_stable_names(api, reconciler) -> None:
    result = await reconciler.reconcile(_pool(3))
    assert _members(api) == ["pool-0", "pool-1", "pool-2"]
    member = api.find(kube.Kind.WALRUS_NODE, "pool-1", NAMESPACE)
    assert member["metadata"]["labels"] == {"team": "storage", naming.LABEL_POOL: "pool"}
    assert member["metadata"]["ownerReferences"][0]["kind"] == "WalrusNodePool"
    assert member["spec"]["storage"] == {"size": "50Gi"}
    assert member["spec"]["staking"]["stake"] == 5000
    assert result.status["replicas"] == 3
    assert result.status["labelSelector"] == "walrus-k8s.io/pool=pool"


@pytest.mark.asyncio
async def test_scale_down_marks_highest_ordinals_then_deletes_them(api, reconciler) -> None:
    await reconciler.reconcile(_pool(4))
    await reconciler.reconcile(_pool(2))
    # First pass: marked for exclusion from the committee, not yet deleted.
    assert _members(api) == ["pool-0", "pool-1", "pool-2", "pool-3"]
    assert _annotations(api, "pool-3")[naming.ANNOTATION_EXCLUDE] == "true"
    assert _annotations(api, "pool-2")[naming.ANNOTATION_EXCLUDE] == "true"
    assert naming.ANNOTATION_EXCLUDE not in _annotations(api, "pool-1")
    # pool-2 still owns shards: it stays; pool-3 owns none: it goes.
    api.find(kube.Kind.WALRUS_NODE, "pool-2", NAMESPACE)["status"] = {"shardsOwned": 2}
    result = await reconciler.reconcile(_pool(2))
    assert _members(api) == ["pool-0", "pool-1", "pool-2"]
    assert result.status["replicas"] == 3
    assert result.status["conditions"][1]["reason"] == "Scaling"
    api.find(kube.Kind.WALRUS_NODE, "pool-2", NAMESPACE)["status"] = {"shardsOwned": 0}
    result = await reconciler.reconcile(_pool(2))
    assert _members(api) == ["pool-0", "pool-1"]
    assert result.status["replicas"] == 2


@pytest.mark.asyncio
async def test_member_the_committee_still_needs_is_kept_whatever_its_status_says(
    api, reconciler
) -> None:
    # The epoch controller may not have refreshed pool-1's status yet: the network's epoch
    # state (pool-1 owns shards in the current committee) is checked as well.
    network = {
        "apiVersion": "walrus-k8s.io/v1alpha1",
        "kind": "WalrusNetwork",
        "metadata": {"name": "devnet", "namespace": NAMESPACE},
        "spec": {"shardCount": 10},
        "status": {"epochState": records.genesis(10, {"pool-0": 1, "pool-1": 1}).to_text()},
    }
    api.put(network)
    await reconciler.reconcile(_pool(2))
    await reconciler.reconcile(_pool(1))
    await reconciler.reconcile(_pool(1))
    assert _members(api) == ["pool-0", "pool-1"]
    # The next committee leaves pool-1 out (here: pool-0 alone): now it may go.
    api.find(kube.Kind.WALRUS_NETWORK, "devnet", NAMESPACE)["status"]["epochState"] = (
        records.genesis(10, {"pool-0": 1}).to_text()
    )
    await reconciler.reconcile(_pool(1))
    assert _members(api) == ["pool-0"]


@pytest.mark.asyncio
async def test_scaling_back_up_cancels_a_pending_removal(api, reconciler) -> None:
    await reconciler.reconcile(_pool(3))
    await reconciler.reconcile(_pool(2))
    assert _annotations(api, "pool-2")[naming.ANNOTATION_EXCLUDE] == "true"
    await reconciler.reconcile(_pool(3))
    assert naming.ANNOTATION_EXCLUDE not in _annotations(api, "pool-2")
    assert _members(api) == ["pool-0", "pool-1", "pool-2"]


@pytest.mark.asyncio
async def test_template_change_reaches_existing_members(api, reconciler) -> None:
    await reconciler.reconcile(_pool(2))
    grown = _pool(2)
    grown["spec"]["template"]["spec"]["storage"]["size"] = "80Gi"
    await reconciler.reconcile(grown)
    for name in ["pool-0", "pool-1"]:
        spec = api.find(kube.Kind.WALRUS_NODE, name, NAMESPACE)["spec"]
        assert spec["storage"]["size"] == "80Gi"


@pytest.mark.asyncio
async def test_nodes_outside_the_pool_are_left_alone(api, reconciler) -> None:
    api.put(
        {
            "apiVersion": "walrus-k8s.io/v1alpha1",
            "kind": "WalrusNode",
            "metadata": {"name": "pool-9", "namespace": NAMESPACE},
            "spec": {},
        }
    )
    await reconciler.reconcile(_pool(1))
    assert _members(api) == ["pool-0", "pool-9"]
    assert naming.ANNOTATION_EXCLUDE not in _annotations(api, "pool-9")


@pytest.mark.asyncio
async def test_invalid_pool_names_the_field(reconciler) -> None:
    body = _pool(1)
    body["spec"]["replicas"] = -2
    result = await reconciler.reconcile(body)
    assert isinstance(result.error, errors.SpecInvalid)
    assert result.error.field == "spec.replicas"
    assert "phase" not in result.status
