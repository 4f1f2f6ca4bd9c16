"""A network's rollout and disruption budget, one step per epoch-controller pass: `Rollouts`.

Node StatefulSets use the `OnDelete` update strategy, so a changed pod template (image,
resources, node.yaml, or a new operator release that builds another template) restarts
nothing by itself. Each pass of the network's epoch controller calls `step`, which:

1. **observes** the network's StatefulSets and pods (two list calls, by the network
   label; the epoch controller lists the pods for its own pass and hands them over): for
   each WalrusNode, whether its pod runs the StatefulSet's update revision (pod label
   `controller-revision-hash` against `status.updateRevision`, the API server's own hash
   of the pod template, so a re-applied but identical template restarts nothing), whether
   it is terminating or missing, and whether it serves (pod Ready, and the node's own
   report: SERVING, running the network's current epoch);
2. **budgets**: applies the network's PodDisruptionBudget (`builders.budget`) with
   `minAvailable` from `shard_budget` (any pods allowed down hold at most f shards; none
   while shards move: an epoch change, or receivers of the last one not done yet). It
   runs in the same pass that starts an epoch change, so the budget tightens within one
   pass;
3. **decides** with the pure `roller.decide` (one restart in flight by default, a node
   back for less than `WALRUS_OPERATOR_ROLLOUT_SETTLE_SECONDS` still counting as one,
   within f shards counting nodes already down, never while shards move, halting on a node
   that does not serve again within `WALRUS_OPERATOR_ROLLOUT_TIMEOUT_SECONDS`);
4. **restarts** the chosen pods through the eviction API, so the roller and any drain
   share the one budget (a refused eviction simply waits for the next pass; the
   StatefulSet controller re-creates the pod from the update revision);
5. **reports** `status.rollout` (`progress` as `updated/total`, the ROLLOUT printer
   column; `phase` `Idle`/`RollingOut`/`Halted`; `haltedBy`; `message`), a `Rollout`
   condition, and Events: `NodeRestarting` (Normal) for each restart, `RolloutHalted`
   (Warning, naming the node) when the rollout halts.

Called by `walrus_operator.epochs`; built in `handlers`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import typing

from walrus_operator import (
    conditions,
    epoch_plan,
    epoch_record,
    errors,
    kube,
    models,
    naming,
    outcome,
    roller,
    shard_budget,
)
from walrus_operator.builders import budget

__all__ = ["RolloutStep", "Rollouts", "ready_since"]

Body = collections.abc.Mapping[str, typing.Any]
_REVISION_LABEL = "controller-revision-hash"
_TOO_MANY_REQUESTS = 429


@dataclasses.dataclass(frozen=True)
class RolloutStep:
    """What a pass adds to the network's status, and the Events to post."""

    status: dict[str, typing.Any]
    condition: conditions.Condition
    events: tuple[outcome.Event, ...] = ()
    updated: int = 0
    """Members running their current pod template and serving (for the progress metric)."""
    total: int = 0
    """Members the rollout covers; 0 when the step could not look."""


def _time(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ready(pod: Body) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def ready_since(pod: Body | None) -> datetime.datetime | None:
    """Since when `pod` is Ready (its condition's `lastTransitionTime`); None if it is not
    Ready, or does not say since when."""
    for c in ((pod or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return _time(c.get("lastTransitionTime"))
    return None


def _update_revision(sts: Body) -> str | None:
    """The StatefulSet's update revision, once its controller has seen the latest spec."""
    sts_status = sts.get("status") or {}
    if sts_status.get("observedGeneration") != (sts.get("metadata") or {}).get("generation"):
        return None
    revision = sts_status.get("updateRevision")
    return revision if isinstance(revision, str) else None


def member(
    view: epoch_plan.NodeView,
    record: epoch_record.EpochRecord | None,
    sts: Body,
    pod: Body | None,
    restarted: datetime.datetime | None = None,
) -> roller.Member:
    """What the roller needs to know about one node (pure)."""
    shards = epoch_record.shards_held(record, view.name)
    revision = _update_revision(sts)
    paused = view.paused
    if pod is None:
        return roller.Member(
            view.name, shards, roller.Pod.MISSING, True, False, since=restarted, paused=paused
        )
    meta = pod.get("metadata") or {}
    state = roller.Pod.TERMINATING if meta.get("deletionTimestamp") else roller.Pod.RUNNING
    # Until the StatefulSet controller has observed the latest spec, count the pod as up to
    # date: a restart is only ever decided against a revision the API server computed.
    updated = revision is None or (meta.get("labels") or {}).get(_REVISION_LABEL) == revision
    report = view.report
    serving = (
        state is roller.Pod.RUNNING
        and _ready(pod)
        and report.reachable
        and report.serving
        and (record is None or report.epoch == record.epoch)
    )
    return roller.Member(
        view.name,
        shards,
        state,
        updated,
        serving,
        since=restarted or _time(meta.get("creationTimestamp")),
        paused=paused,
        ready_since=ready_since(pod) if serving else None,
    )


def _condition(decision: roller.Decision) -> conditions.Condition:
    if decision.halted_by is not None:
        return conditions.Condition(
            conditions.Type.ROLLOUT,
            False,
            conditions.Reason.ROLLOUT_HALTED,
            f"node {decision.halted_by} did not serve again after its restart; "
            "the rollout is halted until the pod template changes",
        )
    if decision.done:
        return conditions.Condition(
            conditions.Type.ROLLOUT, True, conditions.Reason.UP_TO_DATE, decision.progress
        )
    return conditions.Condition(
        conditions.Type.ROLLOUT,
        False,
        conditions.Reason.ROLLING_OUT,
        f"{decision.progress} nodes updated; {decision.waiting}".rstrip("; "),
    )


@dataclasses.dataclass
class Rollouts:
    kube: kube.Kube
    timeout: datetime.timedelta = datetime.timedelta(minutes=10)
    max_in_flight: int = 1
    settle: datetime.timedelta = datetime.timedelta(0)

    async def step(
        self,
        network: models.WalrusNetwork,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
        now: datetime.datetime,
        previous: Body,
        pods: collections.abc.Sequence[Body] | None = None,
    ) -> RolloutStep:
        """One rollout step for `network`; `previous` is its current `.status`; `pods`
        the network's pods if the caller listed them already in this pass."""
        namespace, name = network.metadata.namespace, network.metadata.name
        selector = {naming.LABEL_NETWORK: name}
        sets = {
            (s.get("metadata") or {}).get("name"): s
            for s in await self.kube.list_by_labels(kube.Kind.STATEFUL_SET, namespace, selector)
        }
        if pods is None:
            pods = await self.kube.list_by_labels(kube.Kind.POD, namespace, selector)
        by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
        before = previous.get("rollout") or {}
        restarts = {
            str(entry.get("node")): moment
            for entry in before.get("restarts") or []
            if isinstance(entry, dict) and (moment := _time(entry.get("since"))) is not None
        }
        members = [
            member(v, record, sts, by_name.get(naming.pod_name(v.name)), restarts.get(v.name))
            for v in views
            if (sts := sets.get(naming.statefulset_name(v.name))) is not None
        ]
        f = (network.spec.shard_count - 1) // 3
        # Shards still move while some receivers are not done, even once the phase is
        # Stable again (members holding n - f shards are done): that is a hand-off too.
        epoch_change = record is not None and (
            record.phase == "EpochChange" or bool(record.state.pending_moves)
        )
        holdings = [epoch_record.shards_held(record, v.name) for v in views]
        minimum = shard_budget.min_available(holdings, f=f, hand_off=epoch_change)
        await self.kube.apply(budget.build_network_budget(network, minimum))
        decision = roller.decide(
            members,
            f=f,
            epoch_change=epoch_change,
            now=now,
            timeout=self.timeout,
            max_in_flight=self.max_in_flight,
            settle=self.settle,
        )
        events: list[outcome.Event] = []
        waiting = decision.waiting
        for node in decision.restart:
            try:
                await self.kube.evict(naming.pod_name(node), namespace)
            except errors.KubeError as refused:
                if refused.status != _TOO_MANY_REQUESTS:
                    raise
                waiting = f"the disruption budget refuses to restart {node} now"
                break
            restarts[node] = now
            events.append(
                outcome.Event(
                    "NodeRestarting",
                    f"restarting {node} for its new pod template "
                    f"({decision.progress} updated, {decision.shards_offline} shards offline)",
                )
            )
        decision = dataclasses.replace(decision, waiting=waiting)
        # Keep the start of each restart until the node serves again (or leaves).
        serving = {m.name for m in members if m.serving and m.updated}
        known = {m.name for m in members}
        restarts = {n: t for n, t in restarts.items() if n in known and n not in serving}
        if decision.halted_by is not None and before.get("haltedBy") != decision.halted_by:
            events.append(
                outcome.Event(
                    "RolloutHalted",
                    f"node {decision.halted_by} did not serve within "
                    f"{int(self.timeout.total_seconds())} s of its restart; the rollout "
                    "stops until the pod template changes",
                    warning=True,
                )
            )
        phase = (
            "Halted"
            if decision.halted_by is not None
            else ("Idle" if decision.done else "RollingOut")
        )
        status = {
            "rollout": {
                "progress": decision.progress,
                "phase": phase,
                "haltedBy": decision.halted_by,
                "shardsOffline": decision.shards_offline,
                "disruptionsAllowed": len(holdings) - minimum,
                "message": decision.waiting if not decision.done else "",
                # A list, not a map: a merge patch replaces lists whole.
                "restarts": [
                    {"node": n, "since": epoch_record.format_time(t)}
                    for n, t in sorted(restarts.items())
                ],
            }
        }
        return RolloutStep(
            status,
            _condition(decision),
            tuple(events),
            updated=decision.updated,
            total=decision.total,
        )
