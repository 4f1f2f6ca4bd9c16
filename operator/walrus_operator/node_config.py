"""The storage node's configuration files, `node.yaml` and `committee.yaml`, as text.

Follows docs/node-runtime.md: the operator owns the keys that tie the node to its pod
(paths, ports, name); a WalrusNode's `spec.config` may set the others. The node refuses
unknown keys at start, so an unknown or operator-owned key in `spec.config` is refused
here, as `errors.SpecInvalid` naming `spec.config.<key>`, before it can crash-loop a pod.

Pure. Called by the ConfigMap builder.
"""

from __future__ import annotations

import collections.abc
import hashlib
import typing

import yaml

from walrus_operator import errors, models

__all__ = [
    "CONFIG_DIR",
    "DATA_DIR",
    "GRPC_PORT",
    "KEYS_DIR",
    "METRICS_PORT",
    "OPERATOR_KEYS",
    "USER_KEYS",
    "config_hash",
    "render_committee",
    "render_node_config",
    "shutdown_grace_seconds",
]

DATA_DIR = "/var/lib/walrus"
KEYS_DIR = "/etc/walrus/keys"
CONFIG_DIR = "/etc/walrus/config"
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


def render_node_config(node: str, spec: models.NodeSpec) -> str:
    """node.yaml for `node`: the operator's keys, then the validated overrides."""
    _check_overrides(spec.config)
    document: dict[str, typing.Any] = {
        "name": node,
        "data_dir": DATA_DIR,
        "key_file": f"{KEYS_DIR}/node.key",
        "committee_file": f"{CONFIG_DIR}/committee.yaml",
        "listen_host": "0.0.0.0",
        "grpc_port": GRPC_PORT,
        "metrics_port": METRICS_PORT,
        "admin_public_keys": [],
        "shutdown_grace_seconds": DEFAULT_SHUTDOWN_GRACE_SECONDS,
    }
    document.update(spec.config)
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False)


def render_committee(network: str, shard_count: int, committee: models.Committee | None) -> str:
    """committee.yaml: the network's current committee (empty until the first epoch)."""
    members = [] if committee is None else committee.members
    document = {
        "network": network,
        "epoch": 0 if committee is None else committee.epoch,
        "shard_count": shard_count,
        "members": [
            {
                "name": member.name,
                "public_key": member.public_key,
                "endpoint": member.endpoint,
                "stake": member.stake,
                "shards": [{"start": r.start, "end": r.end} for r in member.shards],
            }
            for member in members
        ],
    }
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False)


def config_hash(node_yaml: str) -> str:
    """A short digest of node.yaml, put on the pod template so that a change restarts it."""
    return hashlib.sha256(node_yaml.encode()).hexdigest()[:16]
