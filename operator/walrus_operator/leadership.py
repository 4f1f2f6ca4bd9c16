"""Leader election over a `coordination.k8s.io/v1` Lease: `Leadership`, and its pure rule `claim`.

Several operator replicas may run (the chart runs two); only the one holding the Lease
acts. The others watch like the leader but their handlers do nothing (deletion guards
keep waiting, so a follower never releases a finalizer), and take over once the
leader's Lease has not been renewed for its duration. Kopf's own peering is not used:
it freezes *every* replica when two share a priority, which is a standby, not an
election.

Every write to the Lease carries the `resourceVersion` that was read, so two replicas
racing for an expired Lease cannot both win: the API server refuses the second (409).
A leader that cannot renew steps down on its own `duration / 3` before the Lease could
expire, so an old leader never acts while a new one does. The epoch history has a second
guard of its own (`epochs`: written with the network's resourceVersion).

`claim` is pure (property-tested); `Leadership.run` is the loop `handlers` starts at
startup.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import datetime
import enum
import logging
import typing

from walrus_operator import errors, kube

__all__ = ["Claim", "Leadership", "LeaseView", "claim"]

_log = logging.getLogger(__name__)
Body = collections.abc.Mapping[str, typing.Any]
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


class Claim(enum.Enum):
    CREATE = "create"
    """No Lease yet: create it, holding it."""
    RENEW = "renew"
    """It is ours: renew it."""
    TAKE_OVER = "take-over"
    """Its holder let it expire (or it has none): take it."""
    FOLLOW = "follow"
    """Someone else holds it and renews it: stand by."""


@dataclasses.dataclass(frozen=True)
class LeaseView:
    holder: str
    renewed: datetime.datetime | None
    duration: datetime.timedelta
    version: str
    transitions: int = 0

    @classmethod
    def of(cls, body: Body) -> LeaseView:
        spec = body.get("spec") or {}
        renewed = spec.get("renewTime")
        when = None
        if isinstance(renewed, str):
            try:
                when = datetime.datetime.fromisoformat(renewed.replace("Z", "+00:00"))
            except ValueError:
                when = None
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            renewed=when,
            duration=datetime.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0)),
            version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


def claim(lease: LeaseView | None, me: str, now: datetime.datetime) -> Claim:
    """What replica `me` does with the Lease it read at `now`."""
    if lease is None:
        return Claim.CREATE
    if lease.holder == me:
        return Claim.RENEW
    if not lease.holder or lease.renewed is None or now - lease.renewed > lease.duration:
        return Claim.TAKE_OVER
    return Claim.FOLLOW


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass
class Leadership:
    """This replica's view of the election; `leading` is what handlers check."""

    kube: kube.Kube | None
    """None: no election (a single replica, or tests): always leading."""
    namespace: str
    name: str
    identity: str
    duration: datetime.timedelta = datetime.timedelta(seconds=15)
    clock: collections.abc.Callable[[], datetime.datetime] = _utc_now
    _renewed: datetime.datetime | None = None
    _followed: bool = False

    @property
    def leading(self) -> bool:
        if self.kube is None:
            return True
        if self._renewed is None:
            return False
        return self.clock() - self._renewed < self.duration * 2 / 3

    async def run(self) -> None:
        """Renew or contend every `duration / 3`, until cancelled."""
        while True:
            try:
                await self.step()
            except errors.KubeError as failed:
                _log.warning("leader election: %s", failed)
            await asyncio.sleep(self.duration.total_seconds() / 3)

    async def step(self) -> Claim:
        """One round: read the Lease, and create, renew or take it if the rule says so."""
        assert self.kube is not None
        now = self.clock()
        body = await self.kube.get(kube.Kind.LEASE, self.name, self.namespace)
        lease = None if body is None else LeaseView.of(body)
        action = claim(lease, self.identity, now)
        stamp = now.strftime(_MICRO)
        seconds = int(self.duration.total_seconds())
        spec: dict[str, typing.Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": seconds,
            "renewTime": stamp,
        }
        try:
            if action is Claim.CREATE:
                created = await self.kube.create(
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": {**spec, "acquireTime": stamp, "leaseTransitions": 0},
                    }
                )
                if created is None:  # someone else created it first
                    return Claim.FOLLOW
            elif action in (Claim.RENEW, Claim.TAKE_OVER):
                assert lease is not None
                if action is Claim.TAKE_OVER:
                    spec |= {"acquireTime": stamp, "leaseTransitions": lease.transitions + 1}
                    _log.warning("leader election: taking over from %r", lease.holder)
                await self.kube.merge_patch(
                    kube.Kind.LEASE,
                    self.name,
                    self.namespace,
                    {"metadata": {"resourceVersion": lease.version}, "spec": spec},
                )
            else:
                if self._renewed is not None or not self._followed:
                    holder = lease.holder if lease is not None else ""
                    _log.warning("leader election: %r leads; standing by", holder)
                self._renewed, self._followed = None, True
                return action
        except errors.KubeConflict:
            self._renewed = None
            return Claim.FOLLOW
        if self._renewed is None:
            _log.warning("leader election: leading as %r", self.identity)
        self._renewed = now
        return action
