"""The committee file: what every node and client knows about the network right now.

Who calls it: the node (reads it at start, receives it through ``Admin/SetCommittee`` and
re-reads it when it changes), the client (where to send and read slivers), the testbed
and the operator (write it).

It is the epoch state of :mod:`walrus_node.committee.epoch` (current committee, phase,
previous and next committee, members done syncing) plus network parameters under
``params``, serialised as JSON (YAML is accepted when reading)::

    {"version": 1, "epoch": 3, "phase": "Stable", "n_shards": 10,
     "members": [{"name": "node-0", "public_key": "<base64>", "endpoint": "10.0.0.7:9185",
                  "stake": 1000, ..., "shards": [0, 1, 2]}, ...],
     "previous": null | {"epoch": 2, "members": [...]},
     "next": null | {"epoch": 4, "members": [...]},
     "sync_done": ["node-0", ...],
     "params": {"max_epochs_ahead": 53, "storage_price": 0, "write_price": 0,
                "network_id": "walrus/prod"}}

``params.network_id`` names the network. Admin and shard-sync requests are signed for one
network ID (:class:`walrus_node.protocol.messages.Binding`), so that a request seen by a
node of one network cannot be replayed to another network that trusts the same admin
key. Empty (the default, and files written before it existed) binds to no network; a
node never lets it change once set.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import yaml

from walrus_node.committee import errors as committee_errors
from walrus_node.committee.committee import Committee
from walrus_node.committee.epoch import EpochState, Phase

__all__ = ["MAX_NETWORK_ID", "ActiveCommittees", "CommitteeFileError", "NetworkParams", "parse"]


MAX_NETWORK_ID = 253
"""Longest network ID, in bytes of UTF-8 (a DNS name fits)."""


class CommitteeFileError(ValueError):
    """A committee file that cannot be used; the message names the field."""


@dataclasses.dataclass(frozen=True)
class NetworkParams:
    max_epochs_ahead: int = 53
    """How many epochs ahead storage can be bought."""
    storage_price: int = 0
    """Per MiB of encoded size per epoch, in the smallest currency unit."""
    write_price: int = 0
    """Per MiB of encoded size, once per blob."""
    network_id: str = ""
    """Names the network; control messages are bound to it (module docstring)."""

    def to_dict(self) -> dict[str, int | str]:
        out: dict[str, int | str] = dataclasses.asdict(self)
        if not self.network_id:
            del out["network_id"]  # files without one stay as they were
        return out

    @classmethod
    def from_dict(cls, raw: object) -> NetworkParams:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise CommitteeFileError("params: expected a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise CommitteeFileError(f"params.{key}: unknown parameter")
            if key == "network_id":
                if not isinstance(value, str) or len(value.encode()) > MAX_NETWORK_ID:
                    raise CommitteeFileError(
                        f"params.network_id: expected a string of at most {MAX_NETWORK_ID} bytes"
                    )
                values[key] = value
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CommitteeFileError(f"params.{key}: expected an integer >= 0, got {value!r}")
            values[key] = value
        params = cls(**values)
        if params.max_epochs_ahead < 1:
            raise CommitteeFileError("params.max_epochs_ahead: must be at least 1")
        return params


@dataclasses.dataclass(frozen=True)
class ActiveCommittees:
    state: EpochState
    params: NetworkParams = NetworkParams()

    @property
    def current(self) -> Committee:
        return self.state.current

    @property
    def previous(self) -> Committee | None:
        """The previous committee, while an epoch change is in progress."""
        return self.state.previous if self.state.phase is Phase.EPOCH_CHANGE else None

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def n_shards(self) -> int:
        return self.state.n_shards

    @property
    def phase(self) -> str:
        return self.state.phase.value

    @property
    def max_epochs_ahead(self) -> int:
        return self.params.max_epochs_ahead

    @property
    def storage_price(self) -> int:
        return self.params.storage_price

    @property
    def write_price(self) -> int:
        return self.params.write_price

    @property
    def network_id(self) -> str:
        return self.params.network_id

    def committee_for(self, epoch: int) -> Committee | None:
        """The committee of ``epoch`` if it is the current one or the one being replaced."""
        if epoch == self.current.epoch:
            return self.current
        previous = self.state.previous
        if previous is not None and epoch == previous.epoch:
            return previous
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**self.state.to_dict(), "params": self.params.to_dict()}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode()


def parse(data: bytes | str) -> ActiveCommittees:
    """Parse a committee file (JSON or YAML); errors name the offending field."""
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise CommitteeFileError(f"not valid JSON/YAML: {e}") from e
    if not isinstance(raw, Mapping):
        raise CommitteeFileError("expected a mapping at the top level")
    try:
        state = EpochState.from_dict(raw)
    except committee_errors.InvalidFieldError as e:
        raise CommitteeFileError(str(e)) from e
    return ActiveCommittees(state, NetworkParams.from_dict(raw.get("params")))
