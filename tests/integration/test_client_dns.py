"""A client outside a cluster resolves node names with the DNS server it is told to use
(`dns_server`), as it must when the committee names nodes by their cluster DNS names and
the machine's own resolver does not know them."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator

import pytest

from tests.support.dns import DnsServer
from walrus_node.client.api import ClientError, WalrusClient
from walrus_node.client.config import ClientConfig
from walrus_node.testbed.testbed import Testbed

NAME = "node-0.walrus-e2e.invalid"


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    bed = Testbed.create(tmp_path / "testbed", 4)
    bed.up()
    try:
        yield bed
    finally:
        bed.down()


def test_node_names_resolve_through_the_configured_dns_server(bed: Testbed) -> None:
    port = bed.nodes[0].grpc_port
    with DnsServer({NAME: "127.0.0.1"}) as dns:
        config = ClientConfig(
            nodes=(f"{bed.nodes[0].name}@{NAME}:{port}",),
            timeout_seconds=20,
            dns_server=dns.address,
            tls_ca_file=bed.ca_cert_file,
            tls_cert_file=bed.client_cert_file,
            tls_key_file=bed.client_key_file,
        )

        async def store_and_read() -> bytes:
            async with WalrusClient(config) as client:
                blob_id = (await client.store(b"resolved by our own DNS server", epochs=1)).blob_id
                return (await client.read(blob_id)).data

        assert asyncio.run(store_and_read()) == b"resolved by our own DNS server"
        assert (NAME, 1) in dns.questions


def test_without_it_the_system_resolver_does_not_know_the_name(bed: Testbed) -> None:
    port = bed.nodes[0].grpc_port
    config = ClientConfig(
        nodes=(f"{bed.nodes[0].name}@{NAME}:{port}",),
        timeout_seconds=5,
        tls_ca_file=bed.ca_cert_file,
        tls_cert_file=bed.client_cert_file,
        tls_key_file=bed.client_key_file,
    )

    async def committee() -> object:
        async with WalrusClient(config) as client:
            return await client.committees()

    with pytest.raises(ClientError, match="no node answered"):
        asyncio.run(committee())
