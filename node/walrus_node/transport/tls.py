"""TLS material of one party (node, client, operator) and the gRPC credentials built from it.

Who calls it: :mod:`.server` (the node's listening port), :class:`.client.ChannelPool`
(every outgoing call: nodes to peers, the client library, the testbed, the operator) and
the servicers (is the caller an authenticated member of the network?).

The agreement (docs/security.md, "TLS"): a network has one CA. Every node certificate
carries a DNS subject alternative name equal to the node's committee-member ``name``,
and callers verify a node against that name (gRPC's target-name override), never against
its address. A node's certificate is also its client certificate towards peers.

Client certificates. grpcio's Python API offers a server two modes only: request no
client certificate, or require one and verify it against the CA (the C core's optional
"request and verify" mode is not exposed). A node that has a CA configured therefore
*requires* a client certificate signed by that CA on every connection: peers and the
operator present their own, and users present a client certificate issued by the same
CA (the testbed writes one next to ``client.yaml``). The peer and admin RPCs also check
that the caller was verified (:func:`verified_peer`), so that they stay closed if the
port is ever opened to callers without certificates.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
import typing
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

__all__ = ["ClientTls", "ServerTls", "ServerTlsFiles", "TlsError", "verified_peer"]


class TlsError(ValueError):
    """TLS material is missing or unreadable; the message names the file or key."""


def _read(key: str, path: pathlib.Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TlsError(f"{key}: cannot read {path}: {e.strerror}") from e
    if b"-----BEGIN" not in data:
        raise TlsError(f"{key}: {path} is not PEM")
    return data


@dataclasses.dataclass(frozen=True)
class ClientTls:
    """What a caller needs: the network CA, and optionally its own certificate and key."""

    ca_pem: bytes
    cert_pem: bytes | None = None
    key_pem: bytes | None = None

    def __post_init__(self) -> None:
        if (self.cert_pem is None) != (self.key_pem is None):
            raise TlsError("tls_cert_file and tls_key_file go together")

    @classmethod
    def load(
        cls,
        ca_file: pathlib.Path,
        cert_file: pathlib.Path | None = None,
        key_file: pathlib.Path | None = None,
    ) -> ClientTls:
        if (cert_file is None) != (key_file is None):
            raise TlsError("tls_cert_file and tls_key_file go together")
        return cls(
            _read("tls_ca_file", ca_file),
            None if cert_file is None else _read("tls_cert_file", cert_file),
            None if key_file is None else _read("tls_key_file", key_file),
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )


@dataclasses.dataclass(frozen=True)
class ServerTls:
    """A node's material: its certificate and key, and the network CA."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    @classmethod
    def load(
        cls, cert_file: pathlib.Path, key_file: pathlib.Path, ca_file: pathlib.Path
    ) -> ServerTls:
        return cls(
            _read("tls_cert_file", cert_file),
            _read("tls_key_file", key_file),
            _read("tls_ca_file", ca_file),
        )

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials: every caller must present a certificate the CA signed."""
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def as_client(self) -> ClientTls:
        """The same certificate, used to call peers."""
        return ClientTls(self.ca_pem, self.cert_pem, self.key_pem)

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self.key_pem, self.cert_pem)], root_certificates=self.ca_pem
        )


_Stamp = tuple[tuple[int, int, int], ...]


class ServerTlsFiles:
    """A node's TLS material as files that may be replaced while it runs (rotation).

    The operator re-issues a node's certificate into the same Secret and the kubelet swaps
    the mounted files; the testbed may rewrite them too. The node notices without a
    restart: gRPC asks :meth:`credentials`' fetcher before each new TLS handshake, which
    compares the three files' inode, size and modification time with what it loaded and
    re-reads them when one changed. Connections already open keep the certificate they
    were made with. Material that cannot be read (a rotation half-way) is ignored until the
    next handshake finds it whole; until then the previous material serves.
    """

    def __init__(self, cert_file: pathlib.Path, key_file: pathlib.Path, ca_file: pathlib.Path):
        self._files = (cert_file, key_file, ca_file)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._current = ServerTls.load(cert_file, key_file, ca_file)
        self.reloads = 0
        """Times new material was taken up (for tests and logs)."""

    def _stat(self) -> _Stamp | None:
        try:
            stats = [os.stat(path) for path in self._files]
        except OSError:
            return None
        return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)

    @property
    def current(self) -> ServerTls:
        return self._current

    def refresh(self) -> ServerTls | None:
        """The material if it changed since the last look (and reads whole), else None."""
        stamp = self._stat()
        with self._lock:
            if stamp is None or stamp == self._stamp:
                return None
            try:
                fresh = ServerTls.load(*self._files)
            except TlsError:
                return None
            self._stamp, self._current = stamp, fresh
            self.reloads += 1
            return fresh

    def client(self) -> ClientTls:
        """The node's current certificate as client credentials towards peers."""
        self.refresh()
        return self._current.as_client()

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that take up new files at the next handshake; every caller
        must present a certificate the (current) CA signed."""

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            fresh = self.refresh()
            return None if fresh is None else fresh.configuration()

        # gRPC documents None from the fetcher as "keep the current material"; grpc-stubs
        # types the fetcher as never returning None.
        fetcher = typing.cast(Callable[[], grpc.ServerCertificateConfiguration], fetch)
        return grpc.dynamic_ssl_server_credentials(
            self._current.configuration(), fetcher, require_client_authentication=True
        )


def verified_peer(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The verified client certificate's common name, or None for an unauthenticated caller.

    gRPC only fills ``x509_pem_cert`` once the certificate chained to the server's CA
    (the handshake fails otherwise), so its presence is the proof.
    """
    auth = context.auth_context()
    if not list(auth.get("x509_pem_cert", ())):
        return None
    names = [*auth.get("x509_common_name", ()), b""]
    return names[0].decode(errors="replace")
