"""Storage-node identities: a :class:`NodeCandidate` wanting shards, a :class:`Member` holding some.

Who calls it: the operator and testbed build candidates from their node resources or
flags; :mod:`.selection` turns candidates into members; nodes and clients read members
from the committee file to find peers, keys and shard owners.

A candidate is identified by its ``name`` (the node id: unique in the network, the
``name`` in the node's ``node.yaml`` and its ``WalrusNode`` resource). It carries its
Ed25519 public key (32 raw bytes; standard base64 in dicts), the ``host:port`` of its gRPC
endpoint, its stake and its votes. Amounts are integers in the network's smallest currency
unit; the commission is in basis points (10 000 = 100 %); price votes use the units of
:mod:`.price`. A member is a candidate plus the sorted shard indices it owns in one epoch.

Plain-dict form (keys in this order; ``shards`` only for members)::

    {"name": "node-0", "public_key": "<base64 of 32 bytes>", "endpoint": "10.0.0.7:9185",
     "stake": 1000, "commission_bps": 6000, "storage_price_vote": 100,
     "write_price_vote": 20, "shards": [0, 1, 2]}
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from walrus_node.committee import _fields, errors

__all__ = [
    "MAX_BPS",
    "MAX_NAME_LENGTH",
    "PUBLIC_KEY_SIZE",
    "Member",
    "NodeCandidate",
    "decode_public_key",
    "encode_public_key",
    "split_endpoint",
]

PUBLIC_KEY_SIZE = 32
"""Bytes in an Ed25519 public key."""

MAX_BPS = 10_000
"""Basis points in 100 %."""

MAX_NAME_LENGTH = 253
"""Longest node name: a DNS subdomain, so a name can also name Kubernetes objects."""

_CANDIDATE_KEYS = ("name", "public_key", "endpoint", "stake")
_CANDIDATE_OPTIONAL = ("commission_bps", "storage_price_vote", "write_price_vote")


def encode_public_key(public_key: bytes) -> str:
    """Printable form of a public key: standard base64 with padding."""
    return base64.b64encode(public_key).decode("ascii")


def decode_public_key(text: str, field: str = "public_key") -> bytes:
    """Parse :func:`encode_public_key` output; the error names ``field``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise errors.InvalidFieldError(field, f"not valid base64: {text!r}") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise errors.InvalidFieldError(
            field, f"decodes to {len(raw)} bytes, an Ed25519 public key is {PUBLIC_KEY_SIZE}"
        )
    return raw


def split_endpoint(endpoint: str, field: str = "endpoint") -> tuple[str, int]:
    """``"host:port"`` (IPv6 hosts in brackets, ``"[::1]:9185"``) as ``(host, port)``."""
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host:
        raise errors.InvalidFieldError(field, f"expected host:port, got {endpoint!r}")
    if host.startswith("["):
        if not host.endswith("]") or len(host) == 2:
            raise errors.InvalidFieldError(field, f"malformed IPv6 host in {endpoint!r}")
        host = host[1:-1]
    elif ":" in host:
        raise errors.InvalidFieldError(field, f"IPv6 hosts must be in brackets: {endpoint!r}")
    if any(c.isspace() or not c.isprintable() or c in "/[]@" for c in host):
        raise errors.InvalidFieldError(field, f"invalid host in {endpoint!r}")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise errors.InvalidFieldError(field, f"port must be 1..65535, got {port_text!r}")
    return host, int(port_text)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeCandidate:
    """A storage node that asks for shards. Invalid fields raise ``InvalidFieldError``."""

    name: str
    public_key: bytes
    endpoint: str
    stake: int
    commission_bps: int = 0
    storage_price_vote: int = 0
    write_price_vote: int = 0

    def __post_init__(self) -> None:
        name = _fields.string(self.name, "name")
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise errors.InvalidFieldError("name", f"must be 1..{MAX_NAME_LENGTH} characters")
        if any(c.isspace() or not c.isprintable() for c in name):
            raise errors.InvalidFieldError("name", f"no spaces or control characters: {name!r}")
        key: object = self.public_key  # checked at run time: callers may pass anything
        if not isinstance(key, bytes) or len(key) != PUBLIC_KEY_SIZE:
            raise errors.InvalidFieldError(
                "public_key", f"expected {PUBLIC_KEY_SIZE} bytes (an Ed25519 public key)"
            )
        split_endpoint(_fields.string(self.endpoint, "endpoint"))
        _fields.integer(self.stake, "stake")
        _fields.integer(self.commission_bps, "commission_bps", 0, MAX_BPS)
        _fields.integer(self.storage_price_vote, "storage_price_vote")
        _fields.integer(self.write_price_vote, "write_price_vote")

    @property
    def candidate(self) -> NodeCandidate:
        """This identity without shards."""
        return NodeCandidate(**_candidate_kwargs(self))

    def with_shards(self, shards: Iterable[int]) -> Member:
        return Member(**_candidate_kwargs(self), shards=tuple(shards))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "public_key": encode_public_key(self.public_key),
            "endpoint": self.endpoint,
            "stake": self.stake,
            "commission_bps": self.commission_bps,
            "storage_price_vote": self.storage_price_vote,
            "write_price_vote": self.write_price_vote,
        }

    @classmethod
    def from_dict(cls, value: object, path: str = "") -> NodeCandidate:
        """Parse :meth:`to_dict` output; the three vote/commission fields default to 0."""
        d = _fields.mapping(value, path)
        _fields.check_keys(d, path, _CANDIDATE_KEYS, _CANDIDATE_OPTIONAL)
        return NodeCandidate(**_parse_candidate(d, path))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Member(NodeCandidate):
    """A candidate with the shards it owns in one epoch (sorted, distinct, at least one)."""

    shards: tuple[int, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.shards, tuple):
            raise errors.InvalidFieldError("shards", "expected a tuple of shard indices")
        for i, shard in enumerate(self.shards):
            _fields.integer(shard, _fields.at("shards", i))
        ordered = tuple(sorted(set(self.shards)))
        if len(ordered) != len(self.shards):
            raise errors.InvalidFieldError("shards", "lists a shard twice")
        if not ordered:
            raise errors.InvalidFieldError("shards", "a member owns at least one shard")
        object.__setattr__(self, "shards", ordered)

    @property
    def weight(self) -> int:
        """Shards owned: this member's voting weight."""
        return len(self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "shards": list(self.shards)}

    @classmethod
    def from_dict(cls, value: object, path: str = "") -> Member:
        d = _fields.mapping(value, path)
        _fields.check_keys(d, path, (*_CANDIDATE_KEYS, "shards"), _CANDIDATE_OPTIONAL)
        raw, where = _fields.item(d, path, "shards")
        shards = tuple(
            _fields.integer(s, _fields.at(where, i))
            for i, s in enumerate(_fields.sequence(raw, where))
        )
        fields = _parse_candidate(d, path)
        try:
            return Member(**fields, shards=shards)
        except errors.InvalidFieldError as e:
            raise _fields.prefixed(path, e) from None


def _candidate_kwargs(node: NodeCandidate) -> dict[str, Any]:
    return {
        "name": node.name,
        "public_key": node.public_key,
        "endpoint": node.endpoint,
        "stake": node.stake,
        "commission_bps": node.commission_bps,
        "storage_price_vote": node.storage_price_vote,
        "write_price_vote": node.write_price_vote,
    }


def _parse_candidate(d: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Checked constructor arguments; errors carry full paths."""
    key_text, key_path = _fields.item(d, path, "public_key")
    out: dict[str, Any] = {
        "name": _fields.string(d["name"], _fields.at(path, "name")),
        "public_key": decode_public_key(_fields.string(key_text, key_path), key_path),
        "endpoint": _fields.string(d["endpoint"], _fields.at(path, "endpoint")),
        "stake": _fields.integer(d["stake"], _fields.at(path, "stake")),
    }
    for key in _CANDIDATE_OPTIONAL:
        out[key] = _fields.integer(d.get(key, 0), _fields.at(path, key))
    try:
        NodeCandidate(**out)
    except errors.InvalidFieldError as e:
        raise _fields.prefixed(path, e) from None
    return out
