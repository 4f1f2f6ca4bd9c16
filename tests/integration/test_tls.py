"""TLS on a real node process: who can connect, and what each side verifies.

One node serving four shards (cheap to start); every call goes through the real
``NodeClient`` and ``ChannelPool`` with the credentials under test.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.testbed import pki
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import tls
from walrus_node.transport.client import ChannelPool, NodeClient, RpcError

T = TypeVar("T")


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(tmp_path_factory.mktemp("tls") / "testbed", 1, 4)
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _call(
    credentials: tls.ClientTls | None,
    bed: Testbed,
    fn: Callable[[NodeClient], Awaitable[T]],
    name: str = "node-0",
) -> T:
    async def go() -> T:
        pool = ChannelPool(timeout=10.0, credentials=credentials)
        try:
            return await fn(pool.peer(bed.node("node-0").endpoint, name))
        finally:
            await pool.close()

    return asyncio.run(go())


def _refused(credentials: tls.ClientTls | None, bed: Testbed, name: str = "node-0") -> str:
    with pytest.raises(RpcError) as info:
        _call(credentials, bed, lambda n: n.get_node_info(), name)
    return info.value.code


def _bound(bed: Testbed) -> dict[str, Any]:
    """Where an admin request to node-0 is valid."""
    return {"network_id": bed.network_id, "target": bed.node("node-0").public_key}


def _network_ca(bed: Testbed) -> bytes:
    return bed.ca_cert_file.read_bytes()


def test_the_testbed_credentials_reach_client_peer_and_admin_rpcs(bed: Testbed) -> None:
    credentials = bed.client_tls()
    assert credentials is not None
    info = _call(credentials, bed, lambda n: n.get_node_info())
    assert info.name == "node-0"
    assert _call(credentials, bed, lambda n: n.list_certificates(0, 10)) == []
    assert _call(credentials, bed, lambda n: n.list_deletions(0, 10)) == []
    status = _call(credentials, bed, lambda n: n.get_sync_status(bed.admin_key, **_bound(bed)))
    assert status.epoch == 1


def test_a_plaintext_client_cannot_talk_to_a_tls_node(bed: Testbed) -> None:
    assert _refused(None, bed) == "UNAVAILABLE"


def test_a_client_without_the_network_ca_cannot_verify_the_node(bed: Testbed) -> None:
    stranger = pki.Authority.generate("elsewhere")
    leaf = stranger.issue("client")
    assert _refused(tls.ClientTls(stranger.cert_pem, leaf.cert_pem, leaf.key_pem), bed) == (
        "UNAVAILABLE"
    )


def test_a_client_certificate_from_another_ca_is_refused(bed: Testbed) -> None:
    """The caller trusts the right CA but presents a certificate the network did not sign."""
    leaf = pki.Authority.generate("elsewhere").issue("node-9")
    credentials = tls.ClientTls(_network_ca(bed), leaf.cert_pem, leaf.key_pem)
    assert _refused(credentials, bed) == "UNAVAILABLE"
    with pytest.raises(RpcError):
        _call(credentials, bed, lambda n: n.list_certificates(0, 10))


def test_peer_and_admin_rpcs_without_a_client_certificate_are_refused(bed: Testbed) -> None:
    anonymous = tls.ClientTls(_network_ca(bed))
    with pytest.raises(RpcError) as info:
        _call(anonymous, bed, lambda n: n.list_certificates(0, 10))
    assert info.value.code == "UNAVAILABLE"
    with pytest.raises(RpcError) as info:
        _call(anonymous, bed, lambda n: n.list_deletions(0, 10))
    assert info.value.code == "UNAVAILABLE"
    with pytest.raises(RpcError) as info:
        _call(anonymous, bed, lambda n: n.get_sync_status(bed.admin_key, **_bound(bed)))
    assert info.value.code == "UNAVAILABLE"


def test_a_node_answering_under_another_name_is_refused(bed: Testbed) -> None:
    """The client checks the certificate against the committee name it expects."""
    assert _refused(bed.client_tls(), bed, name="node-1") == "UNAVAILABLE"


def test_a_tls_channel_needs_the_name_to_check(bed: Testbed) -> None:
    with pytest.raises(ValueError, match="name"):
        _call(bed.client_tls(), bed, lambda n: n.get_node_info(), name="")


def test_the_cli_client_reads_the_ca_from_the_testbed_config(bed: Testbed) -> None:
    cfg = client_config.load(bed.client_config)
    assert cfg.tls_ca_file == bed.ca_cert_file
    assert cfg.tls_cert_file == bed.client_cert_file

    async def go() -> bytes:
        async with WalrusClient(cfg) as client:
            stored = await client.store(b"over TLS")
            return (await client.read(stored.blob_id)).data

    assert asyncio.run(go()) == b"over TLS"


def test_a_plaintext_testbed_writes_no_tls_material(tmp_path: pathlib.Path) -> None:
    plain = Testbed.create(tmp_path / "plain", 1, 4, plaintext=True)
    assert plain.client_tls() is None
    assert not plain.ca_cert_file.exists()
    assert client_config.load(plain.client_config).tls_ca_file is None
    assert "tls_cert_file" not in plain.node("node-0").config_file.read_text()


def _replace(path: pathlib.Path, data: bytes) -> None:
    """Swap a file's content in one step, as the kubelet swaps a Secret volume's files."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(data)
    fresh.replace(path)


def test_a_node_takes_up_rotated_certificates_without_a_restart(
    tmp_path: pathlib.Path,
) -> None:
    """The operator re-issues certificates into the same Secret and nothing restarts: the
    node must serve (and call peers with) the new material from its next handshake on.
    Rotated here to a certificate of a new CA, so that the two cannot be confused."""
    own = Testbed.create(tmp_path / "testbed", 1, 4)
    own.up()
    try:
        old = own.client_tls()
        assert old is not None
        pid = own.node("node-0").pid
        assert _call(old, own, lambda n: n.get_node_info()).name == "node-0"

        authority = pki.Authority.generate(own.network_id)
        node_leaf, client_leaf = authority.issue("node-0"), authority.issue("client")
        handle = own.node("node-0")
        _replace(handle.tls_key_file, node_leaf.key_pem)
        _replace(handle.tls_cert_file, node_leaf.cert_pem)
        _replace(own.ca_cert_file, authority.cert_pem)
        new = tls.ClientTls(authority.cert_pem, client_leaf.cert_pem, client_leaf.key_pem)

        assert _call(new, own, lambda n: n.get_node_info()).name == "node-0"
        assert own.node("node-0").pid == pid  # the same process
        # The old CA's client no longer gets in, and the node's new certificate is not one
        # the old CA signed.
        assert _refused(old, own) == "UNAVAILABLE"
        assert _refused(tls.ClientTls(authority.cert_pem), own) == "UNAVAILABLE"
    finally:
        own.down()
