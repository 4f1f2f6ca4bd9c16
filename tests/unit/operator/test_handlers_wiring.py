"""The real operator (Kopf + lightkube) against kmock's Kubernetes emulator.

This checks the wiring: the handlers are registered for the right resources, Kopf logs in
and watches, a WalrusNode becomes children applied through lightkube's server-side apply,
its status is patched, and its finalizer is set; the network's timer runs the epoch
controller. kmock is an in-memory API ("a database over HTTP"): no schema, CEL, SSA field
ownership or garbage collection, so those belong to the control-plane tier.
"""

from __future__ import annotations

import base64
import typing

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.unit.operator import records
from tests.unit.operator.kopf_harness import (
    NETWORKS,
    NODES,
    ApplyingEmulator,
    emulated_api,
    running_operator,
    wait_for,
)
from walrus_operator import kube, naming

NAMESPACE = "walrus"


@pytest_asyncio.fixture
async def api() -> typing.AsyncIterator[ApplyingEmulator]:
    async with emulated_api() as emulator:
        yield emulator


def _get(api: ApplyingEmulator, resource: str, name: str) -> dict[str, typing.Any] | None:
    return api.get(resource, NAMESPACE, name)


def _seed(api: ApplyingEmulator) -> None:
    api.objects[NETWORKS, NAMESPACE, "devnet"] = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNetwork",
        "metadata": {
            "name": "devnet",
            "namespace": NAMESPACE,
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {"shardCount": 16},
    }
    api.objects[NODES, NAMESPACE, "node-a"] = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNode",
        "metadata": {
            "name": "node-a",
            "namespace": NAMESPACE,
            "uid": "u-1",
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {"networkRef": {"name": "devnet"}, "storage": {"size": "10Gi"}},
    }


def _node_phase(api: ApplyingEmulator) -> str | None:
    return typing.cast(
        str | None, (_get(api, NODES, "node-a") or {}).get("status", {}).get("phase")
    )


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_walrusnode_is_reconciled_through_kopf(api: ApplyingEmulator) -> None:
    _seed(api)
    async with running_operator(api.url_text()):
        await wait_for(lambda: _node_phase(api) is not None, "the WalrusNode's status")
        await wait_for(
            lambda: (
                (_get(api, NETWORKS, "devnet") or {}).get("status", {}).get("phase") == "Pending"
            ),
            "the WalrusNetwork's status",
        )
        await wait_for(
            lambda: _get(api, "policy/v1/poddisruptionbudgets", "devnet.shards") is not None,
            "the network's disruption budget",
        )
    sts = _get(api, "apps/v1/statefulsets", "node-a")
    assert sts is not None
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "walrus-node:0.1.0"
    for resource, name in [
        ("v1/services", "node-a"),
        ("v1/configmaps", "node-a-config"),
        ("v1/secrets", "node-a-keys"),
        ("networking.k8s.io/v1/networkpolicies", "devnet-nodes"),
    ]:
        assert _get(api, resource, name) is not None, resource
    node = _get(api, NODES, "node-a")
    assert node is not None
    assert naming.FINALIZER in node["metadata"].get("finalizers", [])
    assert node["status"]["phase"] == "Pending"
    assert node["status"]["publicKey"]


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_node_owning_shards_is_kept_until_force_deleted(api: ApplyingEmulator) -> None:
    _seed(api)
    url = api.url_text()
    client = kube.Kube.from_server(url)
    try:
        async with running_operator(url):
            await wait_for(
                lambda: (
                    naming.FINALIZER
                    in (_get(api, NODES, "node-a") or {}).get("metadata", {}).get("finalizers", [])
                ),
                "the finalizer",
            )
            # node-a owns all 16 shards of the network's committee (it is not running: the
            # committee alone says the network still needs it).
            record = records.genesis(16, {"node-a": 1000})
            await client.merge_patch(
                kube.Kind.WALRUS_NETWORK,
                "devnet",
                NAMESPACE,
                {"status": {"epochState": record.to_text()}},
                status=True,
            )
            await wait_for(
                lambda: (
                    (_get(api, NODES, "node-a") or {}).get("status", {}).get("shardsOwned") == 16
                ),
                "the epoch controller to report node-a's shards",
            )
            await client.delete(kube.Kind.WALRUS_NODE, "node-a", NAMESPACE)
            await wait_for(lambda: bool(api.events("DeletionBlocked")), "DeletionBlocked")
            assert _get(api, NODES, "node-a") is not None
            assert "owns 16 shards" in api.events("DeletionBlocked")[0]["message"]
            await client.merge_patch(
                kube.Kind.WALRUS_NODE,
                "node-a",
                NAMESPACE,
                {"metadata": {"annotations": {naming.ANNOTATION_FORCE_DELETE: "true"}}},
            )
            await wait_for(lambda: _get(api, NODES, "node-a") is None, "the node to be gone")
    finally:
        await client.close()


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_an_invalid_spec_is_reported_once_not_at_every_resync(
    api: ApplyingEmulator,
) -> None:
    _seed(api)
    node = api.objects[NODES, NAMESPACE, "node-a"].raw
    node["spec"]["staking"] = {"stake": -5}  # no schema here: the operator sees it

    def ready_reason() -> str | None:
        for condition in (_get(api, NODES, "node-a") or {}).get("status", {}).get("conditions", []):
            if condition["type"] == "Ready":
                return typing.cast(str, condition["reason"])
        return None

    def resyncs(count: int) -> typing.Callable[[], bool]:
        start = api.patches["walrusnodes", "node-a"]
        return lambda: api.patches["walrusnodes", "node-a"] >= start + count

    async with running_operator(api.url_text(), resync_seconds=1):
        await wait_for(lambda: ready_reason() == "InvalidSpec", "the InvalidSpec condition")
        await wait_for(resyncs(3), "three resyncs")
        reported = len(api.events("InvalidSpec"))
        await wait_for(resyncs(3), "three more resyncs")
        # Posted when it appeared (Kopf may run the creation handler twice on a stale body);
        # never again while the Ready condition says it.
        assert len(api.events("InvalidSpec")) == reported
    assert 1 <= reported <= 2
    assert "spec.staking.stake" in api.events("InvalidSpec")[0]["message"]
    assert _node_phase(api) == "Invalid"


def _network_ready_reason(api: ApplyingEmulator) -> str | None:
    network = _get(api, NETWORKS, "devnet") or {}
    for condition in network.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            return typing.cast(str, condition.get("reason"))
    return None


def _condition(api: ApplyingEmulator, kind: str = "Ready") -> dict[str, typing.Any]:
    for condition in (_get(api, NODES, "node-a") or {}).get("status", {}).get("conditions", []):
        if condition["type"] == kind:
            return typing.cast(dict[str, typing.Any], condition)
    return {}


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_typo_in_spec_config_is_a_condition_that_clears_when_fixed(
    api: ApplyingEmulator,
) -> None:
    _seed(api)
    api.objects[NODES, NAMESPACE, "node-a"].raw["spec"]["config"] = {"shutdown_grace_secs": 5}
    url = api.url_text()
    client = kube.Kube.from_server(url)
    try:
        async with running_operator(url, resync_seconds=1):
            await wait_for(
                lambda: _condition(api).get("reason") == "InvalidSpec", "the InvalidSpec condition"
            )
            assert "spec.config.shutdown_grace_secs" in _condition(api)["message"]
            assert _condition(api, "Degraded")["status"] == "True"
            # Nothing was applied for the bad spec...
            assert _get(api, "apps/v1/statefulsets", "node-a") is None
            await client.merge_patch(
                kube.Kind.WALRUS_NODE,
                "node-a",
                NAMESPACE,
                {"spec": {"config": {"shutdown_grace_secs": None, "shutdown_grace_seconds": 5}}},
            )
            # ...and the fixed one is: the conditions clear, the children appear.
            await wait_for(
                lambda: _condition(api).get("reason") not in (None, "InvalidSpec"),
                "the condition to clear",
            )
            assert _condition(api, "Degraded")["status"] == "False"
            await wait_for(
                lambda: _get(api, "apps/v1/statefulsets", "node-a") is not None, "the StatefulSet"
            )
    finally:
        await client.close()


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_malformed_admin_secret_is_a_condition_the_timer_clears_once_fixed(
    api: ApplyingEmulator,
) -> None:
    """Nothing about the node changes when the Secret is fixed: only its timer, still
    running after the problem, can see it."""
    _seed(api)
    api.objects["v1/secrets", NAMESPACE, naming.ADMIN_SECRET] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": naming.ADMIN_SECRET, "namespace": NAMESPACE, "resourceVersion": "1"},
        "data": {naming.ADMIN_KEY_FILE: "bm90IGEga2V5"},  # "not a key"
    }
    url = api.url_text()
    client = kube.Kube.from_server(url)
    try:
        async with running_operator(url, resync_seconds=1):
            await wait_for(
                lambda: _condition(api).get("reason") == "InvalidSpec", "the InvalidSpec condition"
            )
            assert naming.ADMIN_SECRET in _condition(api)["message"]
            assert naming.ADMIN_KEY_FILE in _condition(api)["message"]
            # The network's epochs wait on the same Secret, and say so.
            await wait_for(
                lambda: _network_ready_reason(api) == "InvalidSpec", "the network's condition"
            )
            await client.delete(kube.Kind.SECRET, naming.ADMIN_SECRET, NAMESPACE)
            await wait_for(
                lambda: _condition(api).get("reason") not in (None, "InvalidSpec"),
                "the timer to clear the condition",
            )
            await wait_for(
                lambda: _network_ready_reason(api) not in (None, "InvalidSpec"),
                "the network's condition to clear",
            )
            assert _get(api, "v1/secrets", naming.ADMIN_SECRET) is not None  # made anew
    finally:
        await client.close()


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_by_default_the_operator_issues_and_mounts_certificates(
    api: ApplyingEmulator,
) -> None:
    _seed(api)
    async with running_operator(api.url_text()):  # node TLS is the default
        await wait_for(
            lambda: _get(api, "apps/v1/statefulsets", "node-a") is not None, "the StatefulSet"
        )
        await wait_for(
            lambda: (
                _get(api, "v1/secrets", "devnet-operator-tls") is not None
                and _get(api, "v1/secrets", "devnet-client-tls") is not None
            ),
            "the operator's and the clients' certificates",
        )
    for name in ("devnet-ca", "node-a-tls"):
        assert _get(api, "v1/secrets", name) is not None, name
    client = _get(api, "v1/secrets", "devnet-client-tls") or {}
    assert client["type"] == "kubernetes.io/tls"
    assert set(client["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    # Client use only, from the network's CA: it cannot pose as a node.
    certificate = x509.load_pem_x509_certificate(base64.b64decode(client["data"]["tls.crt"]))
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca = (_get(api, "v1/secrets", "devnet-ca") or {})["data"]["ca.crt"]
    assert certificate.issuer == x509.load_pem_x509_certificate(base64.b64decode(ca)).subject
    assert (_get(api, "v1/secrets", "node-a-tls") or {})["type"] == "kubernetes.io/tls"
    sts = _get(api, "apps/v1/statefulsets", "node-a")
    assert sts is not None
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "node-a-tls"
    config = (_get(api, "v1/configmaps", "node-a-config") or {})["data"]["node.yaml"]
    assert "tls_cert_file: /etc/walrus/tls/tls.crt" in config
