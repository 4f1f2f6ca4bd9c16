"""The storage node's configuration file, `node.yaml`, as text.

Follows docs/node-runtime.md: the operator owns the keys that tie the node to its pod
(paths, ports, name); a WalrusNode's `spec.config` may set the others. The node refuses
unknown keys at start, so an unknown or operator-owned key in `spec.config` is refused
here, as `errors.SpecInvalid` naming `spec.config.<key>`, before it can crash-loop a pod.
`admin_public_keys` always starts with the operator's own admin key (so the epoch
controller can install committees); keys from `spec.config.admin_public_keys` follow.

The committee file beside it (`committee.yaml`) is the network's committee file exactly
as the nodes read it (`walrus_operator.epoch_record.EpochRecord.committee_file`); it is
JSON, which YAML readers accept.

Pure. Called by the ConfigMap builder.
"""

from __future__ import annotations

import collections.abc
import hashlib
import typing

import yaml

from walrus_operator import errors, models

__all__ = [
    "COMMITTEE_FILE",
    "CONFIG_DIR",
    "DATA_DIR",
    "GRPC_PORT",
    "KEYS_DIR",
    "METRICS_PORT",
    "OPERATOR_KEYS",
    "TLS_DIR",
    "USER_KEYS",
    "config_hash",
    "render_node_config",
    "shutdown_grace_seconds",
]

DATA_DIR = "/var/lib/walrus"
KEYS_DIR = "/etc/walrus/keys"
CONFIG_DIR = "/etc/walrus/config"
TLS_DIR = "/etc/walrus/tls"
"""Where the node's certificate Secret is mounted (`tls.crt`, `tls.key`, `ca.crt`)."""
GRPC_PORT = 9185
METRICS_PORT = 9184
DEFAULT_SHUTDOWN_GRACE_SECONDS = 30

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter when PyYAML has it (about 10x faster, same output), else pure Python."""

OPERATOR_KEYS = frozenset(
    {
        "name",
        "data_dir",
        "key_file",
        "committee_file",
        "listen_host",
        "grpc_port",
        "metrics_port",
        "tls_cert_file",
        "tls_key_file",
        "tls_ca_file",
    }
)
"""node.yaml keys the operator sets; the pod's volumes, ports and probes depend on them."""


def _grace(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
        return "must be an integer number of seconds between 1 and 3600"
    return None


def _public_keys(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "must be a list of base64 Ed25519 public keys"
    return None


USER_KEYS: collections.abc.Mapping[str, collections.abc.Callable[[object], str | None]] = {
    "shutdown_grace_seconds": _grace,
    "admin_public_keys": _public_keys,
}
"""node.yaml keys `spec.config` may set, each with its check (None = valid)."""


def _check_overrides(overrides: collections.abc.Mapping[str, typing.Any]) -> None:
    for key in sorted(overrides):
        field = f"spec.config.{key}"
        if key in OPERATOR_KEYS:
            raise errors.SpecInvalid(field, "is set by the operator and cannot be overridden")
        check = USER_KEYS.get(key)
        if check is None:
            allowed = ", ".join(sorted(USER_KEYS))
            raise errors.SpecInvalid(field, f"is not a node.yaml key (allowed: {allowed})")
        problem = check(overrides[key])
        if problem is not None:
            raise errors.SpecInvalid(field, problem)


def shutdown_grace_seconds(spec: models.NodeSpec) -> int:
    value = spec.config.get("shutdown_grace_seconds", DEFAULT_SHUTDOWN_GRACE_SECONDS)
    return int(value)


COMMITTEE_FILE = "committee.yaml"
"""The ConfigMap key, and file name under CONFIG_DIR, of the committee file."""


def render_node_config(
    node: str,
    spec: models.NodeSpec,
    operator_keys: collections.abc.Sequence[str] = (),
    *,
    tls: bool = False,
) -> str:
    """node.yaml for `node`: the operator's keys, then the validated overrides.

    `operator_keys`: the operator's admin public keys (base64), listed first. `tls`: name
    the mounted certificate files (the node then serves TLS only)."""
    _check_overrides(spec.config)
    document: dict[str, typing.Any] = {
        "name": node,
        "data_dir": DATA_DIR,
        "key_file": f"{KEYS_DIR}/node.key",
        "committee_file": f"{CONFIG_DIR}/{COMMITTEE_FILE}",
        "listen_host": "0.0.0.0",
        "grpc_port": GRPC_PORT,
        "metrics_port": METRICS_PORT,
        "admin_public_keys": [],
        "shutdown_grace_seconds": DEFAULT_SHUTDOWN_GRACE_SECONDS,
    }
    if tls:
        document["tls_cert_file"] = f"{TLS_DIR}/tls.crt"
        document["tls_key_file"] = f"{TLS_DIR}/tls.key"
        document["tls_ca_file"] = f"{TLS_DIR}/ca.crt"
    document.update(spec.config)
    extra = [k for k in spec.config.get("admin_public_keys", []) if k not in operator_keys]
    document["admin_public_keys"] = [*operator_keys, *extra]
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False)


def config_hash(node_yaml: str) -> str:
    """A short digest of node.yaml, put on the pod template so that a change restarts it."""
    return hashlib.sha256(node_yaml.encode()).hexdigest()[:16]
