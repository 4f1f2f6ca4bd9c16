"""Client settings: where the committee comes from, and timeouts.

Who calls it: the ``walrus`` CLI and :class:`walrus_node.client.api.WalrusClient`.

A client configuration (YAML) names *one* source of the committee::

    committee_file: /path/to/committee.json      # written by the testbed or operator
    # or
    nodes: ["node-0@10.0.0.7:9185", "10.0.0.8:9185"]  # ask these nodes (answers must agree)

    timeout_seconds: 60          # per RPC
    max_concurrent_uploads: 16   # nodes uploaded to at once
    dns_server: 10.96.0.10:53    # resolve node names here, not with the system resolver

``dns_server`` is for a client outside a Kubernetes cluster whose committee names nodes
by their cluster DNS names (the operator's ``dns`` endpoint mode): point it at the
cluster's DNS service, reachable from where the client runs.

    tls_ca_file: ca.crt          # the network CA: nodes are verified against it (TLS on)
    tls_cert_file: client.crt    # this client's certificate, signed by the same CA
    tls_key_file: client.key     # and its key (nodes that check callers require them)

Without ``tls_ca_file`` the client speaks plaintext (a network started with
``--plaintext``). With it, each node is verified by its committee name, so a ``nodes``
entry must say which node it is: ``name@host:port``. Relative paths are relative to the
configuration file.

Lookup order when no ``--config`` is given: ``$WALRUS_CONFIG``, then
``./.testbed/client.yaml`` (the default testbed), then ``~/.config/walrus/client.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import yaml

__all__ = ["ClientConfig", "ClientConfigError", "default_path", "load"]


class ClientConfigError(ValueError):
    """A client configuration problem; the message names the key or file."""


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    committee_file: pathlib.Path | None = None
    nodes: tuple[str, ...] = ()
    timeout_seconds: float = 60.0
    max_concurrent_uploads: int = 16
    tls_ca_file: pathlib.Path | None = None
    tls_cert_file: pathlib.Path | None = None
    tls_key_file: pathlib.Path | None = None
    dns_server: str = ""
    """host[:port] of the DNS server that resolves node endpoints; empty: the system's."""

    def __post_init__(self) -> None:
        if (self.committee_file is None) == (not self.nodes):
            raise ClientConfigError("set exactly one of committee_file and nodes")
        if self.timeout_seconds <= 0:
            raise ClientConfigError("timeout_seconds: must be positive")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ClientConfigError("tls_cert_file and tls_key_file: set both or neither")
        if self.tls_cert_file is not None and self.tls_ca_file is None:
            raise ClientConfigError("tls_cert_file needs tls_ca_file")
        if self.tls_ca_file is not None:
            for entry in self.nodes:
                if "@" not in entry:
                    raise ClientConfigError(
                        f"nodes: {entry!r} needs the node's name for TLS (name@host:port)"
                    )


def default_path() -> pathlib.Path:
    env = os.environ.get("WALRUS_CONFIG")
    if env:
        return pathlib.Path(env)
    local = pathlib.Path(".testbed/client.yaml")
    if local.exists():
        return local
    return pathlib.Path.home() / ".config" / "walrus" / "client.yaml"


def from_mapping(data: dict[str, Any], base: pathlib.Path) -> ClientConfig:
    known = {f.name for f in dataclasses.fields(ClientConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ClientConfigError(f"unknown key(s): {', '.join(unknown)}")
    committee = data.get("committee_file")

    def path(key: str) -> pathlib.Path | None:
        value = data.get(key)
        return None if value is None else base / str(value)

    nodes = data.get("nodes") or ()
    if not isinstance(nodes, list | tuple) or not all(isinstance(n, str) for n in nodes):
        raise ClientConfigError("nodes: expected a list of host:port strings")
    try:
        return ClientConfig(
            committee_file=None if committee is None else (base / str(committee)),
            nodes=tuple(nodes),
            timeout_seconds=float(data.get("timeout_seconds", 60.0)),
            max_concurrent_uploads=int(data.get("max_concurrent_uploads", 16)),
            tls_ca_file=path("tls_ca_file"),
            tls_cert_file=path("tls_cert_file"),
            tls_key_file=path("tls_key_file"),
            dns_server=str(data.get("dns_server") or ""),
        )
    except (TypeError, ValueError) as e:
        raise ClientConfigError(str(e)) from e


def load(path: str | os.PathLike[str] | None = None) -> ClientConfig:
    target = pathlib.Path(path) if path is not None else default_path()
    try:
        data = yaml.safe_load(target.read_text()) or {}
    except FileNotFoundError as e:
        raise ClientConfigError(
            f"no client configuration at {target} (start a testbed with `walrus testbed up`, "
            "or pass --config)"
        ) from e
    except (OSError, yaml.YAMLError) as e:
        raise ClientConfigError(f"cannot read {target}: {e}") from e
    if not isinstance(data, dict):
        raise ClientConfigError(f"{target}: expected a mapping")
    return from_mapping(data, target.parent)
