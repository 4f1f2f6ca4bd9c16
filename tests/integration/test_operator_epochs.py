"""The operator's epoch controller driving real storage-node processes on loopback.

The Kubernetes side is the in-memory API of the operator's unit tests (WalrusNetwork,
WalrusNodePool and its WalrusNodes, the admin Secret); the nodes are real `walrus-node`
processes started by the testbed (which also provides the admin key they trust), reached
over real gRPC. Each test drives `epochs.Controller.run` pass by pass, as the network's
Kopf timer would, and checks what the nodes and the statuses say.
"""

from __future__ import annotations

import asyncio
import base64
import collections.abc
import datetime
import json
import os
import pathlib
import time
import typing

import pytest
import pytest_asyncio

from tests.unit.operator import memory_kube
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.protocol import keys as node_keys
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport.client import ChannelPool
from walrus_operator import (
    admin,
    epoch_record,
    epochs,
    kube,
    metrics,
    models,
    naming,
    nodeclient,
    outcome,
    pools,
)

NS = "walrus"
DEADLINE = 180.0
Body = dict[str, typing.Any]


class BedAddresses:
    """Pool member `pool-<i>` is testbed node `node-<i>`, at whatever port it bound."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed

    async def endpoint(self, node: models.WalrusNode) -> str | None:
        index = node.metadata.name.rsplit("-", 1)[1]
        handle = self.bed.node(f"node-{index}")
        return handle.endpoint if handle.grpc_port and handle.is_running() else None


class PersistedFirstClient(nodeclient.GrpcNodeClient):
    """The real node client, checking that every committee it installs is already in the
    network's status (a restarted operator must never find nodes ahead of its status)."""

    def __init__(self, api: memory_kube.MemoryKube) -> None:
        super().__init__(timeout=5.0)
        self.api = api
        self.pushes = 0

    async def set_committee(
        self,
        endpoint: str,
        admin: node_keys.KeyPair,
        committee_file: bytes,
        *,
        server_name: str = "",
        tls: nodeclient.ChannelTls | None = None,
    ) -> str | None:
        status = self.api.find(kube.Kind.WALRUS_NETWORK, "devnet", NS)["status"]
        persisted = epoch_record.load(status.get("epochState"))
        assert persisted is not None and persisted.committees.to_json() == committee_file
        self.pushes += 1
        return await super().set_committee(
            endpoint, admin, committee_file, server_name=server_name, tls=tls
        )


class Clock:
    """The controller's clock; tests move it forward to make an epoch due."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset


class Network:
    """One network under test: the API, the testbed, and the controller's passes."""

    def __init__(self, api: memory_kube.MemoryKube, bed: Testbed) -> None:
        self.api = api
        self.bed = bed
        self.clock = Clock()
        self.events: list[outcome.Event] = []
        self.metrics = metrics.Metrics()
        self.client = PersistedFirstClient(api)
        self.controller = self.new_controller()

    def new_controller(self) -> epochs.Controller:
        """A controller with nothing in memory, as after an operator restart."""
        return epochs.Controller(
            self.api,
            self.client,
            admin.AdminKeys(self.api),
            BedAddresses(self.bed),
            self.metrics,
            clock=self.clock,
        )

    async def step(self) -> None:
        result = await self.controller.run(NS, "devnet")
        self.events.extend(result.events)

    async def until(self, predicate: collections.abc.Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while True:
            await self.step()
            if predicate():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; status: {self.status()}")
            await asyncio.sleep(0.1)

    def status(self) -> Body:
        return typing.cast(Body, self.api.find(kube.Kind.WALRUS_NETWORK, "devnet", NS)["status"])

    def record(self) -> epoch_record.EpochRecord:
        found = epoch_record.load(self.status().get("epochState"))
        assert found is not None
        return found

    def member(self, name: str) -> Body | None:
        return self.api.find(kube.Kind.WALRUS_NODE, name, NS)

    def settled(self, epoch: int) -> bool:
        """Epoch `epoch` is Stable and every member holds all its shards."""
        status = self.status()
        if status.get("currentEpoch") != epoch or status.get("phase") != "Stable":
            return False
        state = self.record().state
        return not state.pending_moves

    def annotate_network(self, key: str, value: str) -> None:
        body = self.api.find(kube.Kind.WALRUS_NETWORK, "devnet", NS)
        body["metadata"].setdefault("annotations", {})[key] = value

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]


def _pool(replicas: int) -> Body:
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNodePool",
        "metadata": {"name": "pool", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "networkRef": {"name": "devnet"},
                    "storage": {"size": "1Gi"},
                    "staking": {
                        "stake": 1000,
                        "commissionBps": 1000,
                        "storagePriceVote": 3,
                        "writePriceVote": 1,
                    },
                }
            },
        },
    }


async def _scale(net: Network, replicas: int) -> None:
    """Run the pool reconciler at `replicas`, then give new members the identity the node
    reconciler would report (here: the testbed node's key)."""
    existing = net.api.find(kube.Kind.WALRUS_NODE_POOL, "pool", NS)
    if existing is None:
        net.api.put(_pool(replicas))
    else:
        existing["spec"]["replicas"] = replicas
    await pools.PoolReconciler(net.api, net.metrics).reconcile(
        net.api.find(kube.Kind.WALRUS_NODE_POOL, "pool", NS)
    )
    for i in range(replicas):
        member = net.member(f"pool-{i}")
        assert member is not None
        key = node_keys.encode_public_key(net.bed.node(f"node-{i}").public_key)
        member.setdefault("status", {})["publicKey"] = key


@pytest_asyncio.fixture
async def network(tmp_path: pathlib.Path) -> collections.abc.AsyncIterator[Network]:
    """5 testbed nodes (10 shards, shard sync in batches of 2 slivers), 4 of them running;
    a WalrusNetwork and a pool of 4 in the in-memory API."""
    # Plaintext: the operator's node client is driven here without the network's operator
    # certificate (TLS between operator and nodes: docs/security.md).
    bed = Testbed.create(
        tmp_path / "testbed",
        5,
        10,
        node_settings={"shard_sync_batch_slivers": 2},
        plaintext=True,
    )
    try:
        for i in range(4):
            bed.start(f"node-{i}")
        api = memory_kube.MemoryKube()
        api.put(
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": "WalrusNetwork",
                "metadata": {"name": "devnet", "namespace": NS},
                "spec": {
                    "shardCount": 10,
                    "epochDurationSeconds": 3600,
                    "epochRewardPool": 1000,
                    "pricing": {"minWritePrice": 2},
                },
            }
        )
        # The operator's admin identity is the key the testbed's nodes already trust.
        api.put(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": naming.ADMIN_SECRET, "namespace": NS},
                "data": {naming.ADMIN_KEY_FILE: base64.b64encode(bed.admin_key.to_pem()).decode()},
            }
        )
        net = Network(api, bed)
        await _scale(net, 4)
        try:
            yield net
        finally:
            await net.client.close()
    finally:
        bed.down()


async def _committee_on(endpoint: str) -> dict[str, typing.Any]:
    pool = ChannelPool(timeout=10.0)
    try:
        return typing.cast(
            dict[str, typing.Any], json.loads(await pool.peer(endpoint).get_committee())
        )
    finally:
        await pool.close()


async def _every_node_runs(net: Network, names: collections.abc.Iterable[str]) -> bool:
    wanted = net.record().committees.to_dict()
    for name in names:
        if await _committee_on(net.bed.node(name).endpoint) != wanted:
            return False
    return True


def _client(net: Network, names: collections.abc.Iterable[str]) -> WalrusClient:
    endpoints = tuple(net.bed.node(name).endpoint for name in names)
    return WalrusClient(client_config.ClientConfig(nodes=endpoints))


async def _store(net: Network, names: list[str], data: bytes) -> BlobId:
    async with _client(net, names) as client:
        return (await client.store(data, epochs=10)).blob_id


async def _read(net: Network, names: list[str], blob_id: BlobId) -> bytes:
    async with _client(net, names) as client:
        return (await client.read(blob_id)).data


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_genesis_growth_and_safe_scale_down_on_real_nodes(network: Network) -> None:
    net = network
    first = [f"node-{i}" for i in range(4)]

    # Genesis: the four serving pool members form epoch 1, and every node runs it.
    await net.until(lambda: net.status().get("currentEpoch") == 1, "the first committee")
    assert net.status()["phase"] == "Stable"
    committee = net.status()["committee"]
    assert [m["name"] for m in committee["members"]] == [f"pool-{i}" for i in range(4)]
    assert sum(m["shardCount"] for m in committee["members"]) == 10
    assert net.status()["prices"] == {"storage": 3, "write": 2}  # votes; the write floor
    assert await _every_node_runs(net, first)
    await net.step()
    for i in range(4):
        member_status = net.member(f"pool-{i}")["status"]
        assert member_status["epoch"] == 1
        assert member_status["shardsOwned"] == committee["members"][i]["shardCount"]
    assert "CommitteeFormed" in net.reasons()

    blobs = {await _store(net, first, os.urandom(n)): n for n in (1, 60_000, 300_000)}

    # Growth: a fifth member joins when the next epoch is requested.
    net.bed.start("node-4")
    await _scale(net, 5)
    net.annotate_network(naming.ANNOTATION_ADVANCE_EPOCH, "grow")
    await net.step()
    assert net.status()["currentEpoch"] == 2
    started = [e for e in net.events if e.reason == "EpochChangeStarted"]
    assert "joining pool-4" in started[-1].message
    # The operator restarts in the middle of the change: a fresh controller carries on
    # from the network's status alone.
    net.controller = net.new_controller()
    await net.until(lambda: net.settled(2), "epoch 2 to settle")
    assert {"EpochChangeCompleted", "HandOffCompleted"} <= set(net.reasons())
    everyone = [*first, "node-4"]
    assert await _every_node_runs(net, everyone)
    await net.step()
    newcomer = net.member("pool-4")["status"]
    assert newcomer["epoch"] == 2
    assert newcomer["shardsOwned"] == len(net.record().state.current.shards_of("pool-4")) > 0
    progress = net.status()["syncProgress"]
    assert progress["shardsSynced"] == progress["shardsTotal"] > 0
    for blob_id, size in blobs.items():
        assert len(await _read(net, everyone, blob_id)) == size

    # Safe scale-down: the pool marks pool-4; it is deleted only after its shards moved.
    await _scale(net, 4)
    marked = net.member("pool-4")
    assert marked is not None
    assert marked["metadata"]["annotations"][naming.ANNOTATION_EXCLUDE] == "true"
    net.annotate_network(naming.ANNOTATION_ADVANCE_EPOCH, "shrink")
    await net.step()
    assert net.status()["currentEpoch"] == 3
    assert "pool-4" not in net.record().state.current
    await _scale(net, 4)
    assert net.member("pool-4") is not None, "deleted while others still pull its shards"
    await net.until(lambda: net.settled(3), "epoch 3 to settle")
    await net.step()
    assert net.member("pool-4")["status"]["shardsOwned"] == 0
    await _scale(net, 4)
    assert net.member("pool-4") is None
    for blob_id, size in blobs.items():
        assert len(await _read(net, first, blob_id)) == size
    assert (
        net.metrics.registry.get_sample_value(
            "walrus_operator_network_epoch", {"namespace": NS, "network": "devnet"}
        )
        == 3
    )


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_restarted_member_keeps_its_shards_and_gets_its_new_address(
    network: Network,
) -> None:
    net = network
    names = [f"node-{i}" for i in range(4)]
    await net.until(lambda: net.status().get("currentEpoch") == 1, "the first committee")
    blob_id = await _store(net, names, os.urandom(100_000))
    shards_before = net.record().state.current.assignment()

    # node-1 goes down: the network is Degraded, and its shards stay where they are.
    net.bed.kill("node-1")
    await net.until(
        lambda: any(
            c["type"] == "Degraded" and c["reason"] == "MembersUnreachable"
            for c in net.status()["conditions"]
        ),
        "node-1 to be reported unreachable",
    )
    assert "MembersUnreachable" in net.reasons()

    # It comes back on another port (pod-IP mode after a reschedule): the committee is
    # rewritten with its new address in the same epoch and delivered to every node.
    old_endpoint = net.bed.node("node-1").endpoint
    net.bed.start("node-1")
    new_endpoint = net.bed.node("node-1").endpoint
    await net.until(
        lambda: net.record().state.current.by_name("pool-1").endpoint == new_endpoint,
        "the new endpoint in the committee",
    )
    assert net.record().epoch == 1
    assert net.record().state.current.assignment() == shards_before
    await net.until(
        lambda: all(
            c["status"] == "False" for c in net.status()["conditions"] if c["type"] == "Degraded"
        ),
        "the network to recover",
    )
    assert await _every_node_runs(net, names)
    assert "Recovered" in net.reasons()
    # (The kernel may, rarely, hand the same port out again.)
    assert ("EndpointChanged" in net.reasons()) == (new_endpoint != old_endpoint)
    assert len(await _read(net, names, blob_id)) == 100_000

    # An epoch becomes due by the clock: nobody moves, the epoch's rewards are paid.
    net.clock.offset = datetime.timedelta(seconds=3600)
    await net.until(lambda: net.settled(2), "epoch 2, by the clock")
    assert net.record().state.current.assignment() == shards_before
    await net.step()
    staking = [net.member(f"pool-{i}")["status"]["staking"] for i in range(4)]
    assert sum(s["rewards"] for s in staking) == 1000
    assert all(s["commission"] == s["rewards"] // 10 for s in staking)
