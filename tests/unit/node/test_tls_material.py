"""TLS material: the testbed's certificates, loading PEM files, the client's TLS settings,
and the servicer's check of a verified caller."""

from __future__ import annotations

import asyncio
import pathlib
import re
from collections.abc import Iterable, Mapping

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from walrus_node.client import config as client_config
from walrus_node.testbed import pki
from walrus_node.transport import client, tls


def test_a_node_certificate_names_the_node_and_serves_both_ends() -> None:
    authority = pki.Authority.generate("net")
    leaf = authority.issue("node-3", extra_dns=("node-3.walrus.svc",))
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["node-3", "node-3.walrus.svc"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.issuer == authority.cert.subject
    cert.verify_directly_issued_by(authority.cert)
    ca = authority.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca.ca is True


def test_the_authority_survives_a_round_trip_through_files(tmp_path: pathlib.Path) -> None:
    authority = pki.Authority.generate("net")
    authority.save(tmp_path / "ca.crt", tmp_path / "ca.key")
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
    again = pki.Authority.load(tmp_path / "ca.crt", tmp_path / "ca.key")
    leaf = again.issue("node-0")
    x509.load_pem_x509_certificate(leaf.cert_pem).verify_directly_issued_by(authority.cert)


def test_loading_names_the_missing_or_malformed_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(tls.TlsError, match="tls_ca_file: cannot read"):
        tls.ClientTls.load(tmp_path / "absent.crt")
    (tmp_path / "junk.crt").write_text("not a certificate")
    with pytest.raises(tls.TlsError, match=re.escape("tls_cert_file: ")):
        tls.ServerTls.load(tmp_path / "junk.crt", tmp_path / "junk.crt", tmp_path / "junk.crt")
    with pytest.raises(tls.TlsError, match="go together"):
        tls.ClientTls(b"-----BEGIN", cert_pem=b"-----BEGIN")


def test_client_config_reads_tls_paths_relative_to_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "client.yaml").write_text(
        "committee_file: committee.json\n"
        "tls_ca_file: ca.crt\ntls_cert_file: client.crt\ntls_key_file: client.key\n"
    )
    cfg = client_config.load(tmp_path / "client.yaml")
    assert cfg.tls_ca_file == tmp_path / "ca.crt"
    assert cfg.tls_key_file == tmp_path / "client.key"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"committee_file": "c", "tls_cert_file": "a", "tls_ca_file": "b"}, "set both"),
        ({"committee_file": "c", "tls_cert_file": "a", "tls_key_file": "b"}, "needs tls_ca_file"),
        ({"nodes": ["10.0.0.1:9185"], "tls_ca_file": "ca"}, "name@host:port"),
    ],
)
def test_client_tls_settings_are_checked(data: dict[str, object], message: str) -> None:
    with pytest.raises(client_config.ClientConfigError, match=re.escape(message)):
        client_config.from_mapping(data, pathlib.Path("/"))


class _Context:
    def __init__(self, auth: Mapping[str, Iterable[bytes]]) -> None:
        self._auth = auth

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._auth


def test_a_caller_is_verified_only_with_a_certificate_in_its_auth_context() -> None:
    anonymous = _Context({"transport_security_type": [b"ssl"]})
    assert tls.verified_peer(anonymous) is None  # type: ignore[arg-type]
    peer = _Context({"x509_pem_cert": [b"-----BEGIN CERTIFICATE"], "x509_common_name": [b"node-2"]})
    assert tls.verified_peer(peer) == "node-2"  # type: ignore[arg-type]


def test_a_pool_with_rotating_credentials_replaces_the_channel_at_next_use(
    tmp_path: pathlib.Path,
) -> None:
    first = pki.Authority.generate("net").issue("node-0")
    second = pki.Authority.generate("net").issue("node-0")
    current = [tls.ClientTls(b"-----BEGIN CA-----", first.cert_pem, first.key_pem)]

    async def go() -> None:
        pool = client.ChannelPool(credentials=lambda: current[0])
        try:
            one = pool.peer("127.0.0.1:1", "node-0")
            assert pool.peer("127.0.0.1:1", "node-0").channel is one.channel
            current[0] = tls.ClientTls(b"-----BEGIN CA-----", second.cert_pem, second.key_pem)
            assert pool.peer("127.0.0.1:1", "node-0").channel is not one.channel
        finally:
            await pool.close()

    asyncio.run(go())


def test_server_material_is_re_read_when_a_file_changes(tmp_path: pathlib.Path) -> None:
    authority = pki.Authority.generate("net")
    cert, key, ca = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    pki.write_leaf(authority.issue("node-0"), cert, key)
    ca.write_bytes(authority.cert_pem)
    files = tls.ServerTlsFiles(cert, key, ca)
    assert files.refresh() is None  # nothing changed
    leaf = authority.issue("node-0")
    staged = tmp_path / "staged.crt"
    staged.write_bytes(leaf.cert_pem)
    staged.replace(cert)
    fresh = files.refresh()
    assert fresh is not None and fresh.cert_pem == leaf.cert_pem
    assert files.client().cert_pem == leaf.cert_pem
    assert files.reloads == 1
    key.write_bytes(b"not PEM")  # half-way: ignored, the last good material serves
    assert files.refresh() is None
    assert files.current.cert_pem == leaf.cert_pem
