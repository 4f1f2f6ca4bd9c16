"""The local control plane's certificates and keys.

`e2e.controlplane.cluster` calls `create()` once per cluster start: it makes a fresh CA,
the API server's serving certificate (valid for loopback and the in-cluster service
names), client certificates for the admin and the controller manager, and the key pair
that signs and verifies service-account tokens. Everything is written as PEM files into
one directory; nothing here is meant to outlive a test run.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Short-lived test clusters: a day of validity, and a small clock skew allowance.
_VALIDITY = datetime.timedelta(days=1)
_SKEW = datetime.timedelta(minutes=5)
FRONT_PROXY_CLIENT = "front-proxy-client"


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of the PEM files that `create()` wrote."""

    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    admin_cert: Path
    admin_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    front_proxy_cert: Path  # the API server's identity towards aggregated API servers
    front_proxy_key: Path
    service_account_key: Path  # private: signs tokens (API server, controller manager)
    service_account_pub: Path  # public: verifies tokens (API server)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, ca: bool
) -> x509.CertificateBuilder:
    """What every certificate here has: names, key, serial, validity, and the basic
    constraints and key usage of a CA (`ca`) or of a leaf."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    builder = (
        _builder(subject, ca_cert.subject, key, ca=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def create(directory: Path, service_ip: str) -> Pki:
    """Make a fresh CA and every certificate and key the control plane needs.

    `service_ip` is the cluster IP of the `kubernetes` Service, which in-cluster clients
    may use as the API server's address."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt",
        apiserver_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        controller_manager_cert=directory / "controller-manager.crt",
        controller_manager_key=directory / "controller-manager.key",
        front_proxy_cert=directory / "front-proxy-client.crt",
        front_proxy_key=directory / "front-proxy-client.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
    )

    ca_key = _key()
    ca_name = _name("walrus-e2e-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.ca_cert, ca_cert)

    dns_names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(service_ip)),
    ]
    serving_key = _key()
    serving = _issue(
        _name("kube-apiserver"),
        serving_key,
        ca_cert,
        ca_key,
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans,
    )
    _write_key(pki.apiserver_key, serving_key)
    _write_cert(pki.apiserver_cert, serving)

    # The API server maps a client certificate's CN to the user and O to its groups.
    clients = [
        (pki.admin_cert, pki.admin_key, _name("walrus-e2e-admin", "system:masters")),
        (
            pki.controller_manager_cert,
            pki.controller_manager_key,
            _name("system:kube-controller-manager"),
        ),
        (pki.front_proxy_cert, pki.front_proxy_key, _name(FRONT_PROXY_CLIENT)),
    ]
    for cert_path, key_path, subject in clients:
        key = _key()
        cert = _issue(subject, key, ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_key(key_path, key)
        _write_cert(cert_path, cert)

    sa_key = _key()
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
