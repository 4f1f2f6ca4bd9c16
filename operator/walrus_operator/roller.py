"""Which node pod restarts next when a network's pod templates change: `decide`.

Node StatefulSets use the `OnDelete` update strategy, so a new pod template (an image,
resources, node.yaml, or a new operator release whose builders emit something else) only
becomes a new *revision*: no pod restarts by itself. The operator restarts them, one at a
time, through this decision. Input: one `Member` per WalrusNode of the network (its
shards, its pod, whether the pod runs the StatefulSet's update revision, whether the node
serves), the network's fault tolerance `f`, whether an epoch change is under way, the
limits, and the time. Output: a `Decision`: the pods to restart now (possibly none), the
rollout's progress, and why it waits or which node halted it. Pure, no clock or I/O; the
same observations give the same decision, and nothing is remembered between passes
(a restart "in flight" is a pod that is terminating, missing, at the new revision and
not serving yet, or serving for less than the settle time).

The steps:

1. **Outdated** members are those whose pod runs an older revision than the StatefulSet's
   update revision. Paused members are left alone. None outdated: done.
2. **Epoch change**: nothing restarts while shards move between committees.
3. **Halt**: a member at the update revision that has not served for `timeout` since
   its restart began failed to come back. The rollout halts, naming it, and
   no serving member is restarted until the template changes again (which makes the failed
   member outdated again, and down members are restarted first, below).
4. **In flight**: at most `max_in_flight` pods may be restarting at once (terminating,
   missing, at the new revision and not yet serving, or serving but Ready for less than
   `settle`: clients and peers may not have found its new address yet).
5. **Shards**: shards offline are those of every member that does not serve (restarting or
   down for any reason). A member may restart only if the shards offline plus its own
   stay within `f`. Members already down cost nothing and go first; then the rest in name
   order.

Called by `walrus_operator.rollouts`; property-tested in tests/unit/operator/test_roller.py.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum

__all__ = ["Decision", "Member", "Pod", "decide"]


class Pod(enum.Enum):
    """The state of a member's pod, as far as restarting it goes."""

    RUNNING = "Running"
    """The pod exists and is not being deleted (whether it serves is `Member.serving`)."""
    TERMINATING = "Terminating"
    """Being deleted: a restart in flight."""
    MISSING = "Missing"
    """No pod (the StatefulSet controller has not made the new one yet): in flight."""


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    shards: int
    """Shards the network needs from this node (owned, or handed over and not yet received):
    what goes offline while it restarts."""
    pod: Pod
    updated: bool
    """The pod runs the StatefulSet's update revision (always True for a missing pod's
    replacement, which the StatefulSet controller makes from the update revision)."""
    serving: bool
    """The pod is Ready and the node answers SERVING with the network's committee."""
    since: datetime.datetime | None = None
    """When its restart began (the start of the deadline): when the roller evicted it, or
    else when its pod was created. The eviction time matters where the replacement pod is
    re-created over and over (a pod that fails outright is replaced by its controller)."""
    paused: bool = False
    """`spec.paused`: the operator changes nothing for this node, restarts included."""
    ready_since: datetime.datetime | None = None
    """For a serving member: since when its pod is Ready (None: not known)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    restart: tuple[str, ...] = ()
    """Members whose pods to evict now."""
    updated: int = 0
    """Members at the update revision that serve."""
    total: int = 0
    """Members the rollout covers (not paused)."""
    halted_by: str | None = None
    """The member that failed to come back, which stopped the rollout."""
    waiting: str = ""
    """Why no (more) pods restart now, for the status; empty when nothing is outdated."""
    shards_offline: int = 0

    @property
    def done(self) -> bool:
        return self.updated == self.total and self.halted_by is None

    @property
    def progress(self) -> str:
        """`updated/total`, the network's ROLLOUT printer column."""
        return f"{self.updated}/{self.total}"


def _failed(member: Member, timeout: datetime.timedelta, now: datetime.datetime) -> bool:
    # Whatever its pod does meanwhile: a pod that fails outright is deleted and re-created
    # by its StatefulSet over and over, and is as failed as one that never turns Ready.
    return (
        member.updated
        and not member.serving
        and member.since is not None
        and now - member.since >= timeout
    )


def _in_flight(member: Member, settle: datetime.timedelta, now: datetime.datetime) -> bool:
    if member.pod is not Pod.RUNNING or (member.updated and not member.serving):
        return True
    # Back, but not for long enough for clients to find it again (a new pod IP).
    return member.serving and member.ready_since is not None and now - member.ready_since < settle


def decide(
    members: collections.abc.Sequence[Member],
    *,
    f: int,
    epoch_change: bool,
    now: datetime.datetime,
    timeout: datetime.timedelta,
    max_in_flight: int = 1,
    settle: datetime.timedelta = datetime.timedelta(0),
) -> Decision:
    """The next restarts for one network; see the module docstring for the rules."""
    active = sorted((m for m in members if not m.paused), key=lambda m: m.name)
    offline = sum(m.shards for m in active if not m.serving)
    base = Decision(
        updated=sum(1 for m in active if m.updated and m.serving),
        total=len(active),
        shards_offline=offline,
    )
    outdated = [m for m in active if not m.updated]
    if not outdated:
        return base
    if epoch_change:
        return dataclasses.replace(base, waiting="an epoch change is under way")
    failed = [m for m in active if _failed(m, timeout, now)]
    halted_by = failed[0].name if failed else None
    in_flight = sum(1 for m in active if _in_flight(m, settle, now))
    down_first = sorted(
        (m for m in outdated if m.pod is Pod.RUNNING),
        key=lambda m: (m.serving, m.name),
    )
    restart: list[str] = []
    waiting = ""
    for member in down_first:
        if in_flight + len(restart) >= max_in_flight:
            waiting = waiting or f"{in_flight + len(restart)} restart(s) in flight"
            break
        if member.serving and halted_by is not None:
            break
        cost = member.shards if member.serving else 0
        if offline + cost > f:
            waiting = (
                f"restarting {member.name} would take {offline + cost} shards offline "
                f"({offline} already), more than f = {f}"
            )
            break
        restart.append(member.name)
        offline += cost
    if not restart and not waiting and halted_by is None:
        waiting = "waiting for the restarted pods"
    return dataclasses.replace(base, restart=tuple(restart), halted_by=halted_by, waiting=waiting)
