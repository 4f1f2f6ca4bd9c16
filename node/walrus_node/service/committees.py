"""The committees a node acts on: the current one and, during an epoch change, the previous.

Who calls it: the node service (ownership checks, certificate verification, peers), the
client (where to send slivers and read them from), the testbed (writes the file).

The *committee file* (JSON; YAML is accepted too) is what the operator or testbed hands to
every node and client::

    {"version": 1, "epoch": 3, "phase": "Stable", "n_shards": 10,
     "members": [{"name": "node-0", "public_key": "<base64>", "endpoint": "10.0.0.7:9185",
                  "shards": [0, 1, 2], "stake": 1000}, ...],
     "previous": null | {"epoch": 2, "members": [...]},
     "params": {"max_epochs_ahead": 53, "storage_price": 0, "write_price": 0}}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from walrus_node.protocol import keys

__all__ = ["ActiveCommittees", "Committee", "CommitteeFileError", "Member", "parse"]

FILE_VERSION = 1


class CommitteeFileError(ValueError):
    """A committee file that cannot be used; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    public_key: bytes
    endpoint: str
    shards: tuple[int, ...]
    stake: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "public_key": keys.encode_public_key(self.public_key),
            "endpoint": self.endpoint,
            "shards": list(self.shards),
            "stake": self.stake,
        }


@dataclasses.dataclass(frozen=True)
class Committee:
    epoch: int
    n_shards: int
    members: tuple[Member, ...]
    _owner: dict[int, Member] = dataclasses.field(init=False, repr=False, compare=False)
    _by_key: dict[bytes, Member] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owners: dict[int, str] = {}
        for member in self.members:
            for shard in member.shards:
                if not 0 <= shard < self.n_shards:
                    raise CommitteeFileError(
                        f"members[{member.name}].shards: {shard} is not in 0..{self.n_shards - 1}"
                    )
                if shard in owners:
                    raise CommitteeFileError(
                        f"shard {shard} is assigned to both {owners[shard]} and {member.name}"
                    )
                owners[shard] = member.name
        if self.members and len(owners) != self.n_shards:
            missing = sorted(set(range(self.n_shards)) - set(owners))
            raise CommitteeFileError(f"shards without an owner: {missing}")
        object.__setattr__(self, "_owner", {s: m for m in self.members for s in m.shards})
        object.__setattr__(self, "_by_key", {m.public_key: m for m in self.members})

    def owner(self, shard: int) -> Member:
        return self._owner[shard]

    def member(self, public_key: bytes) -> Member | None:
        return self._by_key.get(public_key)

    def shards_of(self, public_key: bytes) -> tuple[int, ...]:
        m = self.member(public_key)
        return () if m is None else m.shards

    def shard_count_of(self, public_key: bytes) -> int:
        return len(self.shards_of(public_key))

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "members": [m.to_dict() for m in self.members]}


@dataclasses.dataclass(frozen=True)
class ActiveCommittees:
    current: Committee
    previous: Committee | None = None
    phase: str = "Stable"
    max_epochs_ahead: int = 53
    storage_price: int = 0
    write_price: int = 0

    @property
    def epoch(self) -> int:
        return self.current.epoch

    @property
    def n_shards(self) -> int:
        return self.current.n_shards

    def committee_for(self, epoch: int) -> Committee | None:
        if epoch == self.current.epoch:
            return self.current
        if self.previous is not None and epoch == self.previous.epoch:
            return self.previous
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "epoch": self.current.epoch,
            "phase": self.phase,
            "n_shards": self.current.n_shards,
            "members": [m.to_dict() for m in self.current.members],
            "previous": None if self.previous is None else self.previous.to_dict(),
            "params": {
                "max_epochs_ahead": self.max_epochs_ahead,
                "storage_price": self.storage_price,
                "write_price": self.write_price,
            },
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode()


def _int(d: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise CommitteeFileError(f"{where}{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _members(raw: Any, where: str) -> tuple[Member, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise CommitteeFileError(f"{where}members: expected a list")
    out = []
    for i, m in enumerate(raw):
        at = f"{where}members[{i}]."
        if not isinstance(m, Mapping):
            raise CommitteeFileError(f"{at[:-1]}: expected a mapping")
        try:
            key = keys.parse_public_key(str(m.get("public_key", "")))
        except ValueError as e:
            raise CommitteeFileError(f"{at}public_key: {e}") from e
        endpoint = m.get("endpoint")
        if not isinstance(endpoint, str) or ":" not in endpoint:
            raise CommitteeFileError(f"{at}endpoint: expected host:port, got {endpoint!r}")
        shards = m.get("shards", [])
        if not isinstance(shards, list) or not all(isinstance(s, int) for s in shards):
            raise CommitteeFileError(f"{at}shards: expected a list of integers")
        out.append(
            Member(
                str(m.get("name", f"member-{i}")),
                key,
                endpoint,
                tuple(sorted(shards)),
                _int(m, "stake", at) if "stake" in m else 0,
            )
        )
    return tuple(out)


def parse(data: bytes | str) -> ActiveCommittees:
    """Parse a committee file (JSON or YAML), validating every field."""
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise CommitteeFileError(f"not valid JSON/YAML: {e}") from e
    if not isinstance(raw, Mapping):
        raise CommitteeFileError("expected a mapping at the top level")
    if raw.get("version", FILE_VERSION) != FILE_VERSION:
        raise CommitteeFileError(f"version: unsupported {raw.get('version')!r}")
    n = _int(raw, "n_shards", "", minimum=4)
    phase = raw.get("phase", "Stable")
    if phase not in {"Stable", "EpochChange"}:
        raise CommitteeFileError(f"phase: expected Stable or EpochChange, got {phase!r}")
    current = Committee(_int(raw, "epoch", ""), n, _members(raw.get("members"), ""))
    previous = None
    if raw.get("previous") is not None:
        prev = raw["previous"]
        if not isinstance(prev, Mapping):
            raise CommitteeFileError("previous: expected a mapping")
        previous = Committee(
            _int(prev, "epoch", "previous."), n, _members(prev.get("members"), "previous.")
        )
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise CommitteeFileError("params: expected a mapping")
    return ActiveCommittees(
        current,
        previous,
        phase,
        _int(params, "max_epochs_ahead", "params.", 1) if "max_epochs_ahead" in params else 53,
        _int(params, "storage_price", "params.") if "storage_price" in params else 0,
        _int(params, "write_price", "params.") if "write_price" in params else 0,
    )
