"""A network's epoch state as the operator keeps it: `WalrusNetwork.status.epochState`.

The WalrusNetwork's status is the source of truth for its epochs: the operator holds
nothing in memory between passes and may restart at any moment. `EpochRecord` is what it
needs to carry on: the committee file (`ActiveCommittees`: the library's `EpochState`
plus network parameters, exactly what the nodes run), when the current epoch started, the
reward ledger and last payout, and the last `walrus-k8s.io/advance-epoch` value acted on.

It is stored as one compact JSON string rather than as a nested status object because
merge patches (Kopf's and the operator's) read `null` as "delete this key", and the
committee file uses `null` for "no previous/next committee": stored as an object, a
patch would silently drop those keys. As a string it is replaced whole, and the human
view of the same state lives beside it (`status.committee`, see `epoch_status`).

```json
{"version": 1, "started": "2026-01-01T00:00:00Z", "advanceHandled": null,
 "committees": {<committee file: ActiveCommittees.to_dict()>},
 "ledger": {<RewardLedger.to_dict()>}, "lastRewards": {<EpochRewards.to_dict()>} | null}
```

Also here, because the node and pool reconcilers need them from the same state: how
many shards a node still holds for the network (`shards_held`, which the network's
disruption budget and the roller count) and whether it takes part in a hand-off.
Pure; called by the epoch controller, the planner, the status builders and the node
and pool reconcilers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import typing

from walrus_node.committee import epoch as epoch_mod
from walrus_node.committee import errors as committee_errors
from walrus_node.committee import reward
from walrus_node.protocol import committee_file
from walrus_operator import errors

__all__ = [
    "FIELD",
    "FORMAT_VERSION",
    "EpochRecord",
    "format_time",
    "in_hand_off",
    "load",
    "outgoing",
    "parse_time",
    "shards_held",
]

FORMAT_VERSION = 1
FIELD = "status.epochState"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC to the second, as Kubernetes writes times."""
    return moment.astimezone(datetime.UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    committees: committee_file.ActiveCommittees
    started: datetime.datetime
    """When the current epoch began (genesis or the start of the change into it)."""
    ledger: reward.RewardLedger = dataclasses.field(default_factory=reward.RewardLedger)
    last_rewards: reward.EpochRewards | None = None
    """The last payout: the pool of the epoch before the current one."""
    advance_handled: str | None = None
    """The `walrus-k8s.io/advance-epoch` value last acted upon."""

    @property
    def state(self) -> epoch_mod.EpochState:
        return self.committees.state

    @property
    def epoch(self) -> int:
        return self.committees.epoch

    @property
    def phase(self) -> str:
        return self.committees.phase

    def committee_file(self) -> str:
        """The committee file the nodes read (committee.yaml, Admin/SetCommittee)."""
        return self.committees.to_json().decode()

    def to_dict(self) -> dict[str, typing.Any]:
        return {
            "version": FORMAT_VERSION,
            "started": format_time(self.started),
            "advanceHandled": self.advance_handled,
            "committees": self.committees.to_dict(),
            "ledger": self.ledger.to_dict(),
            "lastRewards": None if self.last_rewards is None else self.last_rewards.to_dict(),
        }

    def to_text(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> EpochRecord:
        """Parse `to_text` output; `errors.StateInvalid` names what is wrong."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise errors.StateInvalid(FIELD, f"not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise errors.StateInvalid(FIELD, "expected a JSON object")
        expected = {"version", "started", "advanceHandled", "committees", "ledger", "lastRewards"}
        if set(raw) != expected:
            missing, unknown = sorted(expected - set(raw)), sorted(set(raw) - expected)
            raise errors.StateInvalid(FIELD, f"missing keys {missing}, unknown keys {unknown}")
        if raw["version"] != FORMAT_VERSION:
            raise errors.StateInvalid(
                f"{FIELD}.version", f"{raw['version']!r} is not {FORMAT_VERSION}"
            )
        handled = raw["advanceHandled"]
        if handled is not None and not isinstance(handled, str):
            raise errors.StateInvalid(f"{FIELD}.advanceHandled", "expected a string or null")
        try:
            started = parse_time(str(raw["started"]))
        except ValueError as exc:
            raise errors.StateInvalid(f"{FIELD}.started", str(exc)) from exc
        try:
            committees = _committees(raw["committees"])
            ledger = reward.RewardLedger.from_dict(raw["ledger"], "ledger")
            last = None if raw["lastRewards"] is None else _rewards(raw["lastRewards"])
        except (committee_errors.CommitteeError, committee_file.CommitteeFileError) as exc:
            raise errors.StateInvalid(FIELD, str(exc)) from exc
        return cls(committees, started, ledger, last, handled)


def load(text: str | None) -> EpochRecord | None:
    """The record in a network's status; None before the first committee."""
    return None if not text else EpochRecord.from_text(text)


def _committees(raw: object) -> committee_file.ActiveCommittees:
    if not isinstance(raw, dict):
        raise committee_file.CommitteeFileError("committees: expected a mapping")
    state = epoch_mod.EpochState.from_dict(raw)
    return committee_file.ActiveCommittees(
        state, committee_file.NetworkParams.from_dict(raw.get("params"))
    )


def _integer(raw: dict[str, typing.Any], key: str, path: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise committee_errors.InvalidFieldError(f"{path}.{key}", "expected an integer >= 0")
    return value


def _rewards(raw: object) -> reward.EpochRewards:
    """`EpochRewards.to_dict()` read back (the library only writes it)."""
    path = "lastRewards"
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise committee_errors.InvalidFieldError(path, "expected {epoch, pool, nodes: [...]}")
    nodes = []
    for i, item in enumerate(raw["nodes"]):
        where = f"{path}.nodes[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise committee_errors.InvalidFieldError(where, "expected a node reward")
        nodes.append(
            reward.NodeReward(
                name=item["name"],
                shards=_integer(item, "shards", where),
                commission_bps=_integer(item, "commission_bps", where),
                reward=_integer(item, "reward", where),
                commission=_integer(item, "commission", where),
            )
        )
    return reward.EpochRewards(
        epoch=_integer(raw, "epoch", path), pool=_integer(raw, "pool", path), nodes=tuple(nodes)
    )


def outgoing(record: EpochRecord, name: str) -> frozenset[int]:
    """Shards `name` handed over in the current change whose receivers are not done yet:
    it must keep serving them (it is their source for shard sync)."""
    return frozenset(m.shard for m in record.state.pending_moves if m.source == name)


def shards_held(record: EpochRecord | None, name: str) -> int:
    """Shards the network still needs from `name`: those it owns now, plus those it must
    still hand over. Zero means the node can go without loss."""
    if record is None:
        return 0
    return len(set(record.state.current.shards_of(name)) | outgoing(record, name))


def in_hand_off(record: EpochRecord | None, name: str) -> bool:
    """`name` is receiving shards or is the source of shards still being received."""
    if record is None:
        return False
    return any(name in (m.source, m.destination) for m in record.state.pending_moves)
