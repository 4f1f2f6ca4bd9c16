"""The operator's gRPC channel to a node over mutual TLS, against a real gRPC server that
demands a client certificate from the network's CA and presents the node's certificate
(made by the operator's own `certificates` module).

The server answers only the health service: a call that reaches it past the handshake
comes back UNIMPLEMENTED, one refused by TLS comes back UNAVAILABLE.
"""

from __future__ import annotations

import collections.abc
import datetime

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from grpc_health.v1 import health, health_pb2_grpc

from walrus_node.protocol import keys as node_keys
from walrus_operator import certificates, nodeclient, tls_secrets

NOW = datetime.datetime.now(datetime.UTC)


def _material(authority: certificates.Authority, name: str, *, server: bool) -> tuple[bytes, bytes]:
    return certificates.issue(authority, name, [name], now=NOW, days=1, server=server)


@pytest_asyncio.fixture
async def node() -> collections.abc.AsyncIterator[tuple[str, certificates.Authority]]:
    """A TLS server for `node-a` on a free port, requiring a client certificate."""
    authority = certificates.make_authority("devnet", now=NOW, days=10)
    cert, key = _material(authority, "node-a", server=True)
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    credentials = grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=authority.certificate_pem, require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield f"127.0.0.1:{port}", authority
    finally:
        await server.stop(grace=None)


async def _report(endpoint: str, server_name: str, tls: nodeclient.ChannelTls | None) -> str:
    client = nodeclient.GrpcNodeClient(timeout=5.0)
    try:
        report = await client.report(
            endpoint, node_keys.KeyPair.generate(), sync=False, server_name=server_name, tls=tls
        )
    finally:
        await client.close()
    assert not report.reachable
    return report.error


def _operator(authority: certificates.Authority) -> nodeclient.ChannelTls:
    cert, key = _material(authority, tls_secrets.OPERATOR_NAME, server=False)
    return nodeclient.ChannelTls(authority.certificate_pem, cert, key)


@pytest.mark.asyncio
async def test_the_operator_reaches_a_node_verified_by_its_committee_name(
    node: tuple[str, certificates.Authority],
) -> None:
    endpoint, authority = node
    assert "UNIMPLEMENTED" in await _report(endpoint, "node-a", _operator(authority))


@pytest.mark.asyncio
async def test_a_node_answering_under_another_name_is_refused(
    node: tuple[str, certificates.Authority],
) -> None:
    endpoint, authority = node
    assert "UNAVAILABLE" in await _report(endpoint, "node-b", _operator(authority))


@pytest.mark.asyncio
async def test_a_client_certificate_from_another_ca_is_refused(
    node: tuple[str, certificates.Authority],
) -> None:
    endpoint, authority = node
    stranger = certificates.make_authority("other", now=NOW, days=10)
    cert, key = _material(stranger, tls_secrets.OPERATOR_NAME, server=False)
    foreign = nodeclient.ChannelTls(authority.certificate_pem, cert, key)
    assert "UNAVAILABLE" in await _report(endpoint, "node-a", foreign)


@pytest.mark.asyncio
async def test_plaintext_cannot_reach_a_tls_node(
    node: tuple[str, certificates.Authority],
) -> None:
    endpoint, _ = node
    assert "UNAVAILABLE" in await _report(endpoint, "node-a", None)
