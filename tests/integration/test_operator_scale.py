"""What one epoch-controller pass costs at 100 nodes, against 100 in-process gRPC node stubs
(`tests.support.node_stubs`) and the in-memory API: gRPC calls and API requests per pass,
and the back-off that keeps dead nodes from costing a deadline every pass. The figures
printed here are the ones docs/operator.md quotes; the assertions are on call counts, not
on speed.

    .venv/bin/pytest -q -s tests/integration/test_operator_scale.py
"""

from __future__ import annotations

import collections
import datetime
import time
import typing

import pytest

from tests.support import node_stubs
from tests.unit.operator import memory_kube
from walrus_node.protocol import keys
from walrus_operator import (
    admin,
    backoff,
    epochs,
    kube,
    metrics,
    models,
    naming,
    nodeclient,
    rollouts,
)

NODES = 100
NAMESPACE = "walrus"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
POLL = datetime.timedelta(seconds=5)


class _CountingKube(memory_kube.MemoryKube):
    """Counts every API request the operator makes, by verb and kind."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: collections.Counter[str] = collections.Counter()

    async def get(self, kind: kube.Kind, name: str, namespace: str | None = None) -> typing.Any:
        self.requests[f"get {kind.name}"] += 1
        return await super().get(kind, name, namespace)

    async def list_by_labels(
        self, kind: kube.Kind, namespace: str, labels: typing.Any
    ) -> typing.Any:
        self.requests[f"list {kind.name}"] += 1
        return await super().list_by_labels(kind, namespace, labels)

    async def apply(self, body: typing.Any) -> typing.Any:
        self.requests[f"apply {body['kind']}"] += 1
        return await super().apply(body)

    async def merge_patch(
        self, kind: kube.Kind, name: str, namespace: str, patch: typing.Any, *, status: bool = False
    ) -> typing.Any:
        self.requests[f"patch {kind.name}{'/status' if status else ''}"] += 1
        return await super().merge_patch(kind, name, namespace, patch, status=status)


class _StubAddresses:
    def __init__(self, stubs: list[node_stubs.StubNode]) -> None:
        self.by_name = {s.name: s.endpoint for s in stubs}

    async def endpoint(self, node: models.WalrusNode) -> str | None:
        return self.by_name.get(node.metadata.name)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


def _seed(api: _CountingKube, stubs: list[node_stubs.StubNode]) -> None:
    api.put(
        {
            "apiVersion": "walrus-k8s.io/v1alpha1",
            "kind": "WalrusNetwork",
            "metadata": {"name": "devnet", "namespace": NAMESPACE},
            "spec": {"shardCount": 256},
        }
    )
    for stub in stubs:
        api.put(
            {
                "apiVersion": "walrus-k8s.io/v1alpha1",
                "kind": "WalrusNode",
                "metadata": {"name": stub.name, "namespace": NAMESPACE},
                "spec": {
                    "networkRef": {"name": "devnet"},
                    "storage": {"size": "1Gi"},
                    "staking": {"stake": 1000},
                },
                "status": {"publicKey": keys.encode_public_key(stub.key.public_key)},
            }
        )


def _ready_pod(node: str, since: datetime.datetime) -> dict[str, typing.Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": naming.pod_name(node),
            "namespace": NAMESPACE,
            "labels": {naming.LABEL_NETWORK: "devnet"},
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ]
        },
    }


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_one_pass_over_100_nodes() -> None:
    async with node_stubs.stub_nodes(NODES) as (stubs, calls):
        api, clock = _CountingKube(), _Clock()
        _seed(api, stubs)
        # Generous: 100 servers and the operator share one process and event loop here, so a
        # loaded machine stretches calls; dead stubs fail at once, never by the deadline.
        client = nodeclient.GrpcNodeClient(timeout=10.0)
        controller = epochs.Controller(
            api,
            client,
            admin.AdminKeys(api),
            typing.cast(typing.Any, _StubAddresses(stubs)),
            metrics.Metrics(),
            clock=clock,
            backoff=backoff.Backoff(POLL, datetime.timedelta(seconds=60)),
            rollout=rollouts.Rollouts(api),
        )
        try:
            await controller.run(NAMESPACE, "devnet")  # genesis: 100 SetCommittee
            assert calls["SetCommittee"] == NODES
            clock.now += POLL
            await controller.run(NAMESPACE, "devnet")  # the nodes' statuses catch up
            # Steady state: passes that change nothing.
            passes, elapsed = 5, 0.0
            calls.clear()
            api.requests.clear()
            for _ in range(passes):
                clock.now += POLL
                started = time.perf_counter()
                await controller.run(NAMESPACE, "devnet")
                elapsed += time.perf_counter() - started
            grpc_per_pass = sum(calls.values()) / passes
            api_per_pass = sum(api.requests.values()) / passes
            print(
                f"\n{NODES} nodes, steady pass: {elapsed / passes * 1000:.0f} ms, "
                f"{grpc_per_pass:.0f} gRPC calls ({dict(calls)}), "
                f"{api_per_pass:.0f} API requests ({dict(api.requests)})"
            )
            assert grpc_per_pass == 3 * NODES  # GetNodeInfo, GetCommittee, health
            # The network, lists of its nodes, StatefulSets and pods, the budget: none per node.
            assert api_per_pass == 5
            # Ten nodes die: each costs one failed call, then waits out its back-off.
            for stub in stubs[:10]:
                stub.down = True
            calls.clear()
            for _ in range(4):
                clock.now += POLL
                await controller.run(NAMESPACE, "devnet")
            asked_dead = calls["GetNodeInfo"] - 4 * (NODES - 10)
            print(f"10 dead nodes over 4 passes (5 s apart): asked {asked_dead} times, not 40")
            assert asked_dead == 10 * 3  # on passes 1, 2 and 4; the next try waits 20 s
            node = api.find(kube.Kind.WALRUS_NODE, "node-0", NAMESPACE)
            assert "UNAVAILABLE" in node["status"]["lastError"]
            assert node["status"]["unreachableSince"] == "2026-01-01T00:00:35Z"
            assert node["status"]["polled"] == {"serving": False, "transport": "plaintext"}
            live = api.find(kube.Kind.WALRUS_NODE, f"node-{NODES - 1}", NAMESPACE)
            assert live["status"]["polled"] == {"serving": True, "transport": "plaintext"}
            assert "lastError" not in live["status"] or live["status"]["lastError"] is None
            # node-0 comes back and its pod turns Ready: it is asked at the next pass, not
            # when its back-off runs out; the nine others still wait theirs.
            stubs[0].down = False
            clock.now += POLL
            api.put(_ready_pod("node-0", since=clock.now - datetime.timedelta(seconds=1)))
            calls.clear()
            await controller.run(NAMESPACE, "devnet")
            assert calls["GetNodeInfo"] == NODES - 10 + 1
            node = api.find(kube.Kind.WALRUS_NODE, "node-0", NAMESPACE)
            assert node["status"]["polled"] == {"serving": True, "transport": "plaintext"}
        finally:
            await client.close()
