"""The real operator (Kopf + lightkube) against kmock's Kubernetes emulator.

This checks the wiring: the handlers are registered for the right resources, Kopf logs in
and watches, a WalrusNode becomes children applied through lightkube's server-side apply,
its status is patched, and its finalizer is set. kmock is an in-memory API ("a database
over HTTP"): no schema, CEL, SSA field ownership or garbage collection, so those belong
to the control-plane tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import importlib.resources
import time
import typing

import kmock
import kopf
import kopf.testing
import pytest
import pytest_asyncio

from tests.unit.operator import records
from walrus_operator import handlers, kube, naming, settings

NAMESPACE = "walrus"
DEADLINE_SECONDS = 60.0
_CRDS = {
    "walrusnetworks": "WalrusNetwork",
    "walrusnodes": "WalrusNode",
    "walrusnodepools": "WalrusNodePool",
}


class ApplyingEmulator(kmock.KubernetesEmulator):
    """kmock plus two API-server behaviours the operator relies on: server-side apply of a
    missing object creates it, and `generateName` (Kopf's Events) gives each a new name."""

    _generated = 0

    async def _handle(self, request: kmock.Request) -> typing.Any:
        data = request.data if isinstance(request.data, dict) else None
        meta = (data or {}).get("metadata") or {}
        generate = meta.get("generateName")
        if request.method == kmock.method.POST and generate and not meta.get("name"):
            ApplyingEmulator._generated += 1
            meta["name"] = f"{generate}{ApplyingEmulator._generated}"
        content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
        if (
            request.resource is not None
            and request.method == kmock.method.PATCH
            and "apply-patch" in content_type
            and request.name is not None
            and (request.resource, request.namespace, request.name) not in self.objects
        ):
            self.objects[request.resource, request.namespace, request.name] = request.data
            await self._buses[request.resource].put(
                {
                    "type": "ADDED",
                    "object": self.objects[request.resource, request.namespace, request.name].raw,
                }
            )
        return await super()._handle(request)


@pytest_asyncio.fixture
async def api() -> typing.AsyncIterator[ApplyingEmulator]:
    async with ApplyingEmulator() as emulator, kmock.Server(emulator):
        # Built-in resources (discovery data shipped with kmock); `load_bundled` itself
        # uses a deprecated importlib call, which this suite turns into an error.
        bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
        emulator.resources.load_data(gzip.decompress(bundled.read_bytes()))
        for plural, kind in _CRDS.items():
            emulator.resources[f"{naming.GROUP_VERSION}/{plural}"] = kmock.ResourceInfo(
                kind=kind,
                namespaced=True,
                verbs={"list", "watch", "get", "create", "patch", "delete"},
                subresources={"status"},
            )
        yield emulator


async def _wait_for(predicate: typing.Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _get(api: ApplyingEmulator, resource: str, name: str) -> dict[str, typing.Any] | None:
    key = (kmock.resource(resource), NAMESPACE, name)
    if key not in api.objects or api.objects[key].deleted:
        return None
    return typing.cast(dict[str, typing.Any], api.objects[key].raw)


NODES = f"{naming.GROUP_VERSION}/walrusnodes"
NETWORKS = f"{naming.GROUP_VERSION}/walrusnetworks"


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


@contextlib.contextmanager
def _operator(url: str) -> typing.Iterator[kopf.testing.KopfRunner]:
    """The real handler registry, logged in to `url`, in a background thread."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True)

    handlers.register(
        registry,
        settings.OperatorSettings(
            resync_seconds=3600,
            deletion_retry_seconds=1,
            metrics_port=0,
            epoch_poll_seconds=0.5,
            node_timeout_seconds=0.5,
        ),
        make_kube=lambda: kube.Kube.from_server(url),
        serve_metrics=False,
    )
    with kopf.testing.KopfRunner(
        ["run", "--standalone", "--all-namespaces"], registry=registry, timeout=60
    ) as runner:
        yield runner
    assert runner.exception is None, runner.output


def _node_phase(api: ApplyingEmulator) -> str | None:
    return typing.cast(
        str | None, (_get(api, NODES, "node-a") or {}).get("status", {}).get("phase")
    )


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_walrusnode_is_reconciled_through_kopf(api: ApplyingEmulator) -> None:
    _seed(api)
    with _operator(str(api.url).rstrip("/")):
        await _wait_for(lambda: _node_phase(api) is not None, "the WalrusNode's status")
        await _wait_for(
            lambda: (
                (_get(api, NETWORKS, "devnet") or {}).get("status", {}).get("phase") == "Pending"
            ),
            "the WalrusNetwork's status",
        )
    sts = _get(api, "apps/v1/statefulsets", "node-a")
    assert sts is not None
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "walrus-node:0.1.0"
    for resource, name in [
        ("v1/services", "node-a"),
        ("v1/configmaps", "node-a-config"),
        ("v1/secrets", "node-a-keys"),
        ("policy/v1/poddisruptionbudgets", "node-a"),
    ]:
        assert _get(api, resource, name) is not None, resource
    node = _get(api, NODES, "node-a")
    assert node is not None
    assert naming.FINALIZER in node["metadata"].get("finalizers", [])
    assert node["status"]["phase"] == "Pending"
    assert node["status"]["publicKey"]


def _events_with_reason(api: ApplyingEmulator, reason: str) -> list[dict[str, typing.Any]]:
    return [
        obj.raw
        for (resource, _, _), obj in api.objects.items()
        if resource.plural == "events" and not obj.deleted and obj.raw.get("reason") == reason
    ]


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_node_owning_shards_is_kept_until_force_deleted(api: ApplyingEmulator) -> None:
    _seed(api)
    url = str(api.url).rstrip("/")
    client = kube.Kube.from_server(url)
    try:
        with _operator(url):
            await _wait_for(
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
            await _wait_for(
                lambda: (
                    (_get(api, NODES, "node-a") or {}).get("status", {}).get("shardsOwned") == 16
                ),
                "the epoch controller to report node-a's shards",
            )
            await client.delete(kube.Kind.WALRUS_NODE, "node-a", NAMESPACE)
            await _wait_for(
                lambda: bool(_events_with_reason(api, "DeletionBlocked")), "DeletionBlocked"
            )
            assert _get(api, NODES, "node-a") is not None
            assert "owns 16 shards" in _events_with_reason(api, "DeletionBlocked")[0]["message"]
            await client.merge_patch(
                kube.Kind.WALRUS_NODE,
                "node-a",
                NAMESPACE,
                {"metadata": {"annotations": {naming.ANNOTATION_FORCE_DELETE: "true"}}},
            )
            await _wait_for(lambda: _get(api, NODES, "node-a") is None, "the node to be gone")
    finally:
        await client.close()
