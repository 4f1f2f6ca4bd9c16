"""The whole operator (Kopf, lightkube, every handler) running epochs of real storage nodes.

The API is kmock's emulator (tests/unit/operator/kopf_harness.py); the nodes are real
`walrus-node` processes from the testbed, whose keys are handed to the operator as the
nodes' key Secrets (so the node reconciler reports the identities the processes hold) and
whose admin key is the operator's admin Secret, and whose CA is the network's CA Secret
(the operator calls the nodes over mutual TLS, its default). Nothing here calls the controller by
hand: the network's Kopf timer forms the first committee, delivers it, and changes the
epoch when the network is annotated.
"""

from __future__ import annotations

import base64
import pathlib
import typing

import pytest

from tests.unit.operator.kopf_harness import (
    NETWORKS,
    NODES,
    ApplyingEmulator,
    emulated_api,
    running_operator,
    wait_for,
)
from walrus_node.protocol import committee_file
from walrus_node.testbed.testbed import Testbed
from walrus_operator import kube, models, naming

NS = "walrus"
DEADLINE = 120.0


class BedAddresses:
    """WalrusNode `node-<i>` is testbed node `node-<i>`, on its loopback port."""

    def __init__(self, bed: Testbed) -> None:
        self.bed = bed

    async def endpoint(self, node: models.WalrusNode) -> str | None:
        handle = self.bed.node(node.metadata.name)
        return handle.endpoint if handle.grpc_port else None


def _seed(api: ApplyingEmulator, bed: Testbed) -> None:
    def secret(name: str, key: str, pem: bytes) -> dict[str, typing.Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
            "data": {key: base64.b64encode(pem).decode()},
        }

    api.objects["v1/secrets", NS, naming.ADMIN_SECRET] = secret(
        naming.ADMIN_SECRET, naming.ADMIN_KEY_FILE, bed.admin_key.to_pem()
    )
    # The testbed's CA is the network's: the operator issues its own client certificate
    # from it and verifies each node process under its name (`node-<i>`, as the WalrusNode).
    ca = secret(naming.ca_secret_name("devnet"), "ca.crt", bed.ca_cert_file.read_bytes())
    ca["data"]["ca.key"] = base64.b64encode(bed.ca_key_file.read_bytes()).decode()
    api.objects["v1/secrets", NS, naming.ca_secret_name("devnet")] = ca
    api.objects[NETWORKS, NS, "devnet"] = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "WalrusNetwork",
        "metadata": {"name": "devnet", "namespace": NS, "generation": 1, "resourceVersion": "1"},
        "spec": {"shardCount": 8, "epochDurationSeconds": 3600},
    }
    for i, handle in enumerate(bed.nodes):
        name = handle.name
        pem = (handle.directory / "node.key").read_bytes()
        api.objects["v1/secrets", NS, f"{name}-keys"] = secret(f"{name}-keys", "node.key", pem)
        api.objects[NODES, NS, name] = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "WalrusNode",
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"u-{i}",
                "generation": 1,
                "resourceVersion": "1",
            },
            "spec": {
                "networkRef": {"name": "devnet"},
                "storage": {"size": "1Gi"},
                "staking": {"stake": 1000 * (i + 1)},
            },
        }


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_operator_forms_and_changes_committees_of_real_nodes(
    tmp_path: pathlib.Path,
) -> None:
    # TLS, the operator's default: the nodes refuse any caller without a certificate.
    bed = Testbed.create(tmp_path / "testbed", 4, 8)
    try:
        for handle in bed.nodes:
            bed.start(handle.name)
        async with emulated_api() as api:
            _seed(api, bed)
            url = api.url_text()

            def network() -> dict[str, typing.Any]:
                return (api.get(NETWORKS, NS, "devnet") or {}).get("status") or {}

            async with running_operator(
                url, make_addresses=lambda _: BedAddresses(bed), resync_seconds=1
            ):
                await wait_for(
                    lambda: (network().get("committee") or {}).get("epoch") == 1,
                    "the first committee",
                    DEADLINE,
                )
                members = network()["committee"]["members"]
                assert sorted(m["name"] for m in members) == [h.name for h in bed.nodes]
                # Shards follow stake (1000, 2000, 3000, 4000 over 8 shards would give
                # 1, 2, 2, 3), capped at f = 2 (maxShardsPerNode's default): no node may
                # hold more shards than the code can lose.
                assert [m["shardCount"] for m in members] == [2, 2, 2, 2]
                await wait_for(
                    lambda: all(
                        (api.get(NODES, NS, h.name) or {}).get("status", {}).get("epoch") == 1
                        for h in bed.nodes
                    ),
                    "every node to report epoch 1",
                    DEADLINE,
                )
                # The node reconciler's ConfigMaps carry the same committee file.
                await wait_for(
                    lambda: (
                        "committee.yaml"
                        in ((api.get("v1/configmaps", NS, "node-3-config") or {}).get("data") or {})
                    ),
                    "committee.yaml in the ConfigMap",
                    DEADLINE,
                )
                config = api.get("v1/configmaps", NS, "node-3-config")
                assert config is not None
                parsed = committee_file.parse(config["data"]["committee.yaml"])
                assert (parsed.epoch, parsed.phase) == (1, "Stable")

                client = kube.Kube.from_server(url)
                try:
                    await client.merge_patch(
                        kube.Kind.WALRUS_NETWORK,
                        "devnet",
                        NS,
                        {"metadata": {"annotations": {naming.ANNOTATION_ADVANCE_EPOCH: "now"}}},
                    )
                finally:
                    await client.close()
                await wait_for(
                    lambda: (
                        network().get("currentEpoch") == 2 and network().get("phase") == "Stable"
                    ),
                    "epoch 2",
                    DEADLINE,
                )
                await wait_for(
                    lambda: bool(api.events("EpochChangeCompleted")), "the event", DEADLINE
                )
            assert api.events("CommitteeFormed")
            assert "epoch 1 → 2 (requested)" in api.events("EpochChangeStarted")[0]["message"]
    finally:
        bed.down()
