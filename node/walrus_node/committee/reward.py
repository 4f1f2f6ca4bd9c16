"""Epoch rewards: the pool split by shards held, the node's commission, and running totals.

Who calls it: the operator (at each epoch change it pays the ended epoch's pool to the
committee that served it, keeps a :class:`RewardLedger` in the network's status and
shows a :class:`StakingSummary` per node), and the testbed.

Rules, integer arithmetic throughout (amounts in the smallest currency unit):

1. **Split by shards.** Member ``i`` holding ``w_i`` of ``n`` shards is owed
   ``pool * w_i / n``. It gets the floor of that; the ``R = pool - sum(floors)`` units
   left over (``R`` is smaller than the number of members) go one each to the ``R`` members
   with the largest fractional parts ``pool * w_i mod n``, equal parts in name order (the
   largest-remainder method). The payments add up to the pool exactly, and no member gets
   more than one unit above its exact share.
2. **Commission.** Of its reward, a member keeps ``floor(reward * commission_bps /
   10 000)`` as commission; the rest goes to its stakers (rounding favours the stakers).

Example: a pool of 100 over 7 shards held 3/2/2 by a, b, c: exact shares 42.86, 28.57,
28.57; floors 42, 28, 28; the 2 units left go to a (fraction 6/7) and b (4/7, before c by
name): 43, 29, 28. With a 10 % commission ``a`` keeps 4 and its stakers get 39.
"""

from __future__ import annotations

import dataclasses
import fractions
from collections.abc import Iterable, Mapping
from typing import Any

from walrus_node.committee import _fields, committee, errors, member

__all__ = [
    "EpochRewards",
    "NodeReward",
    "RewardLedger",
    "RewardTotals",
    "StakingSummary",
    "split_rewards",
    "summarise",
]


@dataclasses.dataclass(frozen=True)
class NodeReward:
    """One member's reward for one epoch."""

    name: str
    shards: int
    commission_bps: int
    reward: int
    """Everything paid for this member: ``commission + stakers``."""
    commission: int
    """The node operator's cut."""

    @property
    def stakers(self) -> int:
        """What the member's stakers share."""
        return self.reward - self.commission

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shards": self.shards,
            "commission_bps": self.commission_bps,
            "reward": self.reward,
            "commission": self.commission,
            "stakers": self.stakers,
        }


@dataclasses.dataclass(frozen=True)
class EpochRewards:
    """How an epoch's pool was paid out, member by member (name order)."""

    epoch: int
    pool: int
    nodes: tuple[NodeReward, ...]

    def of(self, name: str) -> NodeReward | None:
        return next((r for r in self.nodes if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pool": self.pool, "nodes": [r.to_dict() for r in self.nodes]}


def split_rewards(pool: int, served: committee.Committee) -> EpochRewards:
    """Pay ``pool`` to the members of ``served``, the committee of the epoch that ended."""
    _fields.integer(pool, "pool")
    n = served.n_shards
    shares = {m.name: divmod(pool * m.weight, n) for m in served.members}
    left = pool - sum(base for base, _ in shares.values())
    by_fraction = sorted(shares, key=lambda name: (-shares[name][1], name))
    bonus = set(by_fraction[:left])
    nodes = []
    for m in served.members:
        reward = shares[m.name][0] + (1 if m.name in bonus else 0)
        nodes.append(
            NodeReward(
                name=m.name,
                shards=m.weight,
                commission_bps=m.commission_bps,
                reward=reward,
                commission=reward * m.commission_bps // member.MAX_BPS,
            )
        )
    return EpochRewards(epoch=served.epoch, pool=pool, nodes=tuple(nodes))


@dataclasses.dataclass(frozen=True)
class RewardTotals:
    """Rewards earned by one node over all recorded epochs."""

    commission: int = 0
    stakers: int = 0

    @property
    def total(self) -> int:
        return self.commission + self.stakers


@dataclasses.dataclass(frozen=True)
class RewardLedger:
    """Running reward totals per node name; each epoch can be recorded once, in order."""

    last_epoch: int | None = None
    totals: Mapping[str, RewardTotals] = dataclasses.field(default_factory=dict)

    def total_of(self, name: str) -> RewardTotals:
        return self.totals.get(name, RewardTotals())

    def record(self, rewards: EpochRewards) -> RewardLedger:
        """The ledger with ``rewards`` added; an epoch at or before ``last_epoch`` is an error."""
        if self.last_epoch is not None and rewards.epoch <= self.last_epoch:
            raise errors.InvalidFieldError(
                "epoch",
                f"rewards of epoch {rewards.epoch} come after epoch {self.last_epoch}, "
                "which is already recorded",
            )
        totals = dict(self.totals)
        for r in rewards.nodes:
            before = totals.get(r.name, RewardTotals())
            totals[r.name] = RewardTotals(
                commission=before.commission + r.commission, stakers=before.stakers + r.stakers
            )
        return RewardLedger(last_epoch=rewards.epoch, totals=dict(sorted(totals.items())))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": committee.FORMAT_VERSION,
            "last_epoch": self.last_epoch,
            "nodes": {
                name: {"commission": t.commission, "stakers": t.stakers}
                for name, t in sorted(self.totals.items())
            },
        }

    @classmethod
    def from_dict(cls, value: object, path: str = "") -> RewardLedger:
        d = _fields.mapping(value, path)
        _fields.check_keys(d, path, ("version", "last_epoch", "nodes"))
        committee.check_version(d, path)
        last = d["last_epoch"]
        last_epoch = None if last is None else _fields.integer(last, _fields.at(path, "last_epoch"))
        where = _fields.at(path, "nodes")
        totals = {}
        for name, raw in _fields.mapping(d["nodes"], where).items():
            at = _fields.at(where, name)
            t = _fields.mapping(raw, at)
            _fields.check_keys(t, at, ("commission", "stakers"))
            totals[name] = RewardTotals(
                commission=_fields.integer(t["commission"], _fields.at(at, "commission")),
                stakers=_fields.integer(t["stakers"], _fields.at(at, "stakers")),
            )
        return cls(last_epoch=last_epoch, totals=dict(sorted(totals.items())))


@dataclasses.dataclass(frozen=True)
class StakingSummary:
    """One node's staking status, for resource status and ``kubectl get`` columns."""

    name: str
    stake: int
    shards: int
    n_shards: int
    commission_bps: int
    rewards_epoch: int | None
    """The epoch whose rewards ``*_this_epoch`` show (None before any payout)."""
    rewards_this_epoch: int
    commission_this_epoch: int
    rewards_total: int
    commission_total: int

    @property
    def weight(self) -> fractions.Fraction:
        """Share of the shards, exactly."""
        return fractions.Fraction(self.shards, self.n_shards)

    @property
    def weight_bps(self) -> int:
        """Share of the shards in basis points, rounded down."""
        return self.shards * member.MAX_BPS // self.n_shards

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stake": self.stake,
            "shards": self.shards,
            "weight_bps": self.weight_bps,
            "commission_bps": self.commission_bps,
            "rewards_epoch": self.rewards_epoch,
            "rewards_this_epoch": self.rewards_this_epoch,
            "commission_this_epoch": self.commission_this_epoch,
            "rewards_total": self.rewards_total,
            "commission_total": self.commission_total,
        }


def summarise(
    current: committee.Committee,
    rewards: EpochRewards | None,
    ledger: RewardLedger,
    candidates: Iterable[member.NodeCandidate] = (),
) -> tuple[StakingSummary, ...]:
    """A summary for every member of ``current`` and every other candidate, in name order.

    Shards, stake and commission come from ``current`` (or the candidate), this-epoch
    figures from ``rewards`` (the last payout), totals from ``ledger``.
    """
    nodes: dict[str, member.NodeCandidate] = {c.name: c for c in candidates}
    nodes.update({m.name: m for m in current.members})
    out = []
    for name in sorted(nodes):
        node = nodes[name]
        paid = rewards.of(name) if rewards is not None else None
        totals = ledger.total_of(name)
        out.append(
            StakingSummary(
                name=name,
                stake=node.stake,
                shards=len(current.shards_of(name)),
                n_shards=current.n_shards,
                commission_bps=node.commission_bps,
                rewards_epoch=None if rewards is None else rewards.epoch,
                rewards_this_epoch=0 if paid is None else paid.reward,
                commission_this_epoch=0 if paid is None else paid.commission,
                rewards_total=totals.total,
                commission_total=totals.commission,
            )
        )
    return tuple(out)
