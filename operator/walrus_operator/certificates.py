"""X.509 for the nodes' TLS: a per-network CA and the certificates it signs.

`make_authority` makes a network's CA (ECDSA P-256, self-signed, path length 0);
`issue` signs a leaf for a node (server and client use: the node's certificate is also
its client certificate towards peers) or for the operator (client use only); `facts`
reads back what `walrus_operator.certificate_plan` needs to decide on a re-issue. Names
follow docs/operator.md "TLS": a node's certificate carries its WalrusNode name as a DNS
SAN (peers and the operator verify it under that name), plus its pod's DNS name.

Only the `cryptography` package; no clock (the caller passes `now`), no I/O. Called by
`walrus_operator.tls_secrets`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from walrus_operator import certificate_plan, errors

__all__ = ["Authority", "facts", "issue", "load_authority", "make_authority"]

_BACKDATE = datetime.timedelta(minutes=5)
"""Certificates start this long before `now`, so a peer whose clock is a little behind
does not refuse a fresh one."""


@dataclasses.dataclass(frozen=True)
class Authority:
    certificate_pem: bytes
    key_pem: bytes
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> str:
        return _subject_key_id(self.certificate)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _subject_key_id(certificate: x509.Certificate) -> str:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return ""
    return ext.value.digest.hex()


def _authority_key_id(certificate: x509.Certificate) -> str:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return ""
    return (ext.value.key_identifier or b"").hex()


def make_authority(network: str, *, now: datetime.datetime, days: float) -> Authority:
    """A new CA for `network`, valid `days` from `now`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "walrus-k8s"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{network} network CA"),
        ]
    )
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(
        certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key), certificate, key
    )


def load_authority(certificate_pem: bytes, key_pem: bytes) -> Authority:
    """The CA stored in a Secret; `errors.SpecInvalid` naming the key if it is not one."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise errors.SpecInvalid("ca.crt", f"is not a PEM certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise errors.SpecInvalid("ca.key", f"is not a PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise errors.SpecInvalid("ca.key", "is not an ECDSA key")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]  # any certificate key
        raise errors.SpecInvalid("ca.key", "is not the key of ca.crt")
    if not _subject_key_id(certificate):
        raise errors.SpecInvalid("ca.crt", "has no subject key identifier")
    return Authority(certificate_pem, key_pem, certificate, key)


def issue(
    authority: Authority,
    common_name: str,
    dns_names: collections.abc.Sequence[str],
    *,
    now: datetime.datetime,
    days: float,
    server: bool,
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for `common_name`, signed by `authority`. `server`: also
    usable as a server certificate (a node's); otherwise client use only (the operator's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [
        ExtendedKeyUsageOID.CLIENT_AUTH,
        *([ExtendedKeyUsageOID.SERVER_AUTH] if server else []),
    ]
    not_after = min(now + datetime.timedelta(days=days), authority.certificate.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "walrus-k8s"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def facts(certificate_pem: bytes, key_pem: bytes, ca_pem: bytes) -> certificate_plan.Facts:
    """What a certificate Secret holds; `errors.SpecInvalid` if a part does not parse."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise errors.SpecInvalid("tls.crt", f"unreadable: {exc}") from exc
    try:
        bundled = _subject_key_id(x509.load_pem_x509_certificate(ca_pem)) if ca_pem else ""
    except ValueError:
        bundled = ""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = frozenset(names.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = frozenset()
    matches = isinstance(key, ec.EllipticCurvePrivateKey) and (
        key.public_key().public_numbers() == certificate.public_key().public_numbers()  # type: ignore[union-attr]  # any certificate key
    )
    return certificate_plan.Facts(
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        dns_names=dns,
        issuer_key_id=_authority_key_id(certificate),
        bundled_ca_key_id=bundled,
        key_matches=matches,
    )
