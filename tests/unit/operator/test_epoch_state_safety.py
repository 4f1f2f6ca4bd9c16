"""The epoch state survives: written only over the version a pass read (a concurrent write
makes the pass start over instead of forking the history), copied to a ConfigMap, and
restored from it when a network comes back without its status; a network with nodes
cannot be deleted. The epoch controller against an in-memory API and fake nodes."""

from __future__ import annotations

import typing

import pytest

from tests.unit.operator import memory_kube, records
from walrus_node.protocol import keys as node_keys
from walrus_operator import (
    addresses,
    admin,
    epoch_record,
    epochs,
    errors,
    kube,
    metrics,
    networks,
    nodeclient,
    reports,
)

NAMESPACE = "walrus"
NAMES = ("a", "b", "c", "d")
NETWORK = {
    "apiVersion": "walrus-k8s.io/v1alpha1",
    "kind": "WalrusNetwork",
    "metadata": {"name": "devnet", "namespace": NAMESPACE, "generation": 1},
    "spec": {"shardCount": 16},
}


class _Nodes:
    """Every node serves with the key the operator made for it."""

    def __init__(self) -> None:
        self.committees_sent = 0

    async def report(
        self,
        endpoint: str,
        admin: node_keys.KeyPair,
        *,
        sync: bool,
        server_name: str = "",
        tls: nodeclient.ChannelTls | None = None,
    ) -> reports.NodeReport:
        name = endpoint.split("-0.", maxsplit=1)[0]
        return reports.NodeReport(reachable=True, serving=True, public_key=records.key_text(name))

    async def set_committee(
        self,
        endpoint: str,
        admin: node_keys.KeyPair,
        data: bytes,
        *,
        server_name: str = "",
        tls: nodeclient.ChannelTls | None = None,
    ) -> None:
        self.committees_sent += 1

    async def close(self) -> None:
        return None


def _seed(api: memory_kube.MemoryKube) -> None:
    api.put(NETWORK)
    for name in NAMES:
        api.put(
            {
                "apiVersion": "walrus-k8s.io/v1alpha1",
                "kind": "WalrusNode",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "networkRef": {"name": "devnet"},
                    "storage": {"size": "1Gi"},
                    "staking": {"stake": 1000},
                },
                "status": {"publicKey": records.key_text(name)},
            }
        )


def _controller(api: memory_kube.MemoryKube, nodes: _Nodes) -> epochs.Controller:
    return epochs.Controller(
        api,
        typing.cast(typing.Any, nodes),
        admin.AdminKeys(api),
        addresses.DnsAddresses("cluster.local"),
        metrics.Metrics(),
        clock=lambda: records.START,
    )


def _state(api: memory_kube.MemoryKube) -> epoch_record.EpochRecord | None:
    status = api.find(kube.Kind.WALRUS_NETWORK, "devnet", NAMESPACE).get("status") or {}
    return epoch_record.load(status.get("epochState"))


class _Interfering(memory_kube.MemoryKube):
    """Another writer touches the network right after each pass has read it."""

    async def get(self, kind: kube.Kind, name: str, namespace: str | None = None) -> typing.Any:
        body = await super().get(kind, name, namespace)
        if kind is kube.Kind.WALRUS_NETWORK and body is not None:
            await self.merge_patch(kind, name, str(namespace), {"metadata": {"labels": {"x": "y"}}})
        return body


@pytest.mark.asyncio
async def test_a_write_in_between_makes_the_pass_start_over_not_fork() -> None:
    api, nodes = _Interfering(), _Nodes()
    _seed(api)
    await _controller(api, nodes).run(NAMESPACE, "devnet")
    assert _state(api) is None  # the genesis was not written over the newer version
    assert nodes.committees_sent == 0  # and no node heard of it
    plain = memory_kube.MemoryKube()
    plain.objects = api.objects
    await _controller(plain, nodes).run(NAMESPACE, "devnet")
    record = _state(plain)
    assert record is not None and record.epoch == 1
    assert nodes.committees_sent == len(NAMES)


@pytest.mark.asyncio
async def test_the_state_is_copied_and_a_network_recreated_without_status_resumes() -> None:
    api, nodes = memory_kube.MemoryKube(), _Nodes()
    _seed(api)
    await _controller(api, nodes).run(NAMESPACE, "devnet")
    copy = api.find(kube.Kind.CONFIG_MAP, "devnet.epoch-state", NAMESPACE)
    assert copy is not None and "ownerReferences" not in copy["metadata"]
    kept = records.genesis(16, {"a": 5000, "b": 1000, "c": 1000, "d": 1000})
    copy["data"]["epochState"] = kept.to_text()  # a history other than a fresh genesis
    # The network is deleted and applied again from its manifest: no status.
    del api.objects[kube.Kind.WALRUS_NETWORK, NAMESPACE, "devnet"]
    api.put(NETWORK)
    await _controller(api, nodes).run(NAMESPACE, "devnet")
    restored = _state(api)
    assert restored is not None

    # The kept history (a holds more shards), not a fresh genesis (4 each); endpoints are
    # refreshed to where the nodes are now.
    def shards(record: epoch_record.EpochRecord) -> dict[str, tuple[int, ...]]:
        return {m.name: tuple(m.shards) for m in record.state.current.members}

    assert shards(restored) == shards(kept)
    assert len(shards(kept)["a"]) > 4


@pytest.mark.asyncio
async def test_a_network_with_nodes_cannot_be_deleted() -> None:
    api = memory_kube.MemoryKube()
    _seed(api)
    reconciler = networks.NetworkReconciler(_controller(api, _Nodes()), kube=api)
    with pytest.raises(errors.DeletionBlocked, match="4 WalrusNodes still reference"):
        await reconciler.check_deletion(NETWORK)
    for name in NAMES:
        del api.objects[kube.Kind.WALRUS_NODE, NAMESPACE, name]
    await reconciler.check_deletion(NETWORK)
