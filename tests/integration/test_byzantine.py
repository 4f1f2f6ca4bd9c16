"""Nodes that lie: corrupted slivers, corrupted metadata, forged confirmations.

Each liar is a real node behind :class:`tests.support.byzantine.ByzantineProxy`; the
client reaches it through a committee file that lists the proxy's address.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import yaml

from tests.support.byzantine import ByzantineProxy
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.protocol import committee_file
from walrus_node.testbed.testbed import Testbed

from .conftest import owners, run


def _client_config_via(
    bed: Testbed, proxies: dict[str, ByzantineProxy], where: pathlib.Path
) -> pathlib.Path:
    """A client configuration whose committee reaches the named nodes through proxies."""
    c = committee_file.parse(bed.committee_file.read_bytes())
    members = tuple(
        dataclasses.replace(m, endpoint=proxies[m.name].endpoint) if m.name in proxies else m
        for m in c.current.members
    )
    current = dataclasses.replace(c.current, members=members)
    lying = dataclasses.replace(c, state=dataclasses.replace(c.state, current=current))
    (where / "committee.json").write_bytes(lying.to_json())
    config = where / "client.yaml"
    settings = {"committee_file": "committee.json"}
    if not bed.plaintext:
        settings.update(
            tls_ca_file=str(bed.ca_cert_file),
            tls_cert_file=str(bed.client_cert_file),
            tls_key_file=str(bed.client_key_file),
        )
    config.write_text(yaml.safe_dump(settings))
    return config


def _store(config: pathlib.Path, data: bytes) -> tuple[BlobId, list[str]]:
    async def go(client: WalrusClient) -> tuple[BlobId, list[str]]:
        result = await client.store(data)
        return result.blob_id, result.problems

    return run(go, config)


def test_reads_survive_nodes_returning_corrupt_slivers_and_metadata(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = os.urandom(2 << 20)
    blob_id, _ = _store(testbed.client_config, data)
    params = EncodingParams(7)
    shard_owner = owners(testbed)
    # Lie exactly where the client looks first: the owners of systematic slivers 0 and 1.
    liars = [shard_owner[params.shard_of_pair(blob_id.raw, i)] for i in (0, 1)]
    with (
        ByzantineProxy.for_node(testbed, liars[0]) as p0,
        ByzantineProxy.for_node(testbed, liars[1]) as p1,
    ):
        config = _client_config_via(testbed, {liars[0]: p0, liars[1]: p1}, tmp_path)

        async def go(client: WalrusClient) -> tuple[bytes, list[str]]:
            result = await client.read(blob_id)
            return result.data, result.problems

        for _ in range(3):  # metadata comes from a random node: repeat to meet the liars
            read, problems = run(go, config)
            assert read == data
        assert p0.lies > 0 and p1.lies > 0
        reported = " ".join(problems)
        assert f"{liars[0]}: returned a corrupt sliver" in reported
        assert f"{liars[1]}: returned a corrupt sliver" in reported


def test_writes_survive_nodes_forging_confirmations(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    with (
        ByzantineProxy.for_node(testbed, "node-1", corrupt_confirmations=True) as p1,
        ByzantineProxy.for_node(testbed, "node-4", corrupt_confirmations=True) as p4,
    ):
        config = _client_config_via(testbed, {"node-1": p1, "node-4": p4}, tmp_path)
        data = os.urandom(500_000)
        blob_id, problems = _store(config, data)
        assert p1.lies == 1 and p4.lies == 1
        assert any("node-1 returned an invalid confirmation" in p for p in problems)
        assert any("node-4 returned an invalid confirmation" in p for p in problems)

    async def go(client: WalrusClient) -> bytes:
        return (await client.read(blob_id)).data

    assert run(go, testbed.client_config) == data


def test_a_read_asks_a_node_for_its_slivers_in_one_call_or_an_older_node_one_by_one(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = os.urandom(300_000)
    blob_id, _ = _store(testbed.client_config, data)
    params = EncodingParams(7)
    node = owners(testbed)[params.shard_of_pair(blob_id.raw, 0)]  # systematic sliver 0's

    async def go(client: WalrusClient) -> bytes:
        return (await client.read(blob_id)).data

    seen = []
    for unknown in ((), ("GetSlivers",)):
        with ByzantineProxy.for_node(
            testbed, node, corrupt_slivers=False, corrupt_metadata=False, unknown=unknown
        ) as proxy:
            config = _client_config_via(testbed, {node: proxy}, tmp_path)
            assert run(go, config) == data
            seen.append({k: v for k, v in proxy.calls.items() if k.startswith("GetSliver")})
    assert seen == [{"GetSlivers": 1}, {"GetSliver": 1}]
