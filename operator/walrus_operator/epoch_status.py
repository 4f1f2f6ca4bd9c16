"""The status the epoch controller writes: on the WalrusNetwork and on each WalrusNode.

`network_status` turns a plan (`epoch_plan.Plan`), the node views and the results of
pushing the committee into the network's status: `phase` (`Pending` before the first
committee, then the library's `Stable` / `EpochChange`), `currentEpoch`, the epoch's start
and the next one's due time, a human summary of the committee (members, shard ranges,
stake), prices, sync progress per receiving node, the persisted `epochState`, and the
conditions Ready / Progressing / Degraded. `node_status` gives a WalrusNode's `epoch`,
`shardsOwned`, `shardsSyncing` and `staking`. `condition_events` turns condition changes
into Events, so a state that lasts is announced once, not at every pass.

Pure; called by `walrus_operator.epochs`.
"""

from __future__ import annotations

import collections.abc
import fractions
import typing

from walrus_node.committee import epoch as epoch_mod
from walrus_node.committee import member, reward
from walrus_operator import conditions, epoch_plan, epoch_record, errors, models, outcome

__all__ = [
    "condition_events",
    "invalid_state_status",
    "network_status",
    "node_status",
]

C = conditions.Condition
T = conditions.Type
R = conditions.Reason
Status = dict[str, typing.Any]
_LISTED = 8


def _listing(items: collections.abc.Sequence[str]) -> str:
    shown = "; ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return f"{shown}; and {more} more" if more > 0 else shown


def _committee_summary(record: epoch_record.EpochRecord) -> Status:
    current = record.state.current
    return {
        "epoch": current.epoch,
        "members": [
            {
                "name": m.name,
                "publicKey": member.encode_public_key(m.public_key),
                "endpoint": m.endpoint,
                "stake": m.stake,
                "commissionBps": m.commission_bps,
                "shardCount": len(m.shards),
                "shards": [
                    {"start": start, "end": end} for start, end in epoch_plan.shard_ranges(m.shards)
                ],
            }
            for m in current.members
        ],
    }


def _sync_progress(
    record: epoch_record.EpochRecord, views: collections.abc.Mapping[str, epoch_plan.NodeView]
) -> Status:
    state = record.state
    receivers = sorted({m.destination for m in state.moves})
    nodes = []
    for name in receivers:
        total = len(state.incoming(name))
        view = views.get(name)
        sync = view.report.sync if view is not None and view.report.reachable else None
        current = sync is not None and sync.epoch == state.epoch
        done = name in state.sync_done
        nodes.append(
            {
                "name": name,
                "shardsTotal": total,
                "shardsDone": total if done else (sync.shards_done if sync and current else 0),
                "bytesReceived": sync.bytes_received if sync and current else 0,
                "done": done,
            }
        )
    return {
        "epoch": state.epoch,
        "shardsTotal": len(state.moves),
        "shardsSynced": sum(n["shardsDone"] for n in nodes),
        "bytesReceived": sum(n["bytesReceived"] for n in nodes),
        "nodes": nodes,
    }


def _progress_text(record: epoch_record.EpochRecord) -> str:
    state = record.state
    pending = sorted({m.destination for m in state.pending_moves})
    moved = len(state.moves) - len(state.pending_moves)
    return f"epoch {state.epoch}: {moved} of {len(state.moves)} moved shards received" + (
        f"; waiting for {', '.join(pending)}" if pending else ""
    )


def _degraded(
    record: epoch_record.EpochRecord | None,
    plan: epoch_plan.Plan,
    views: collections.abc.Mapping[str, epoch_plan.NodeView],
    delivery: collections.abc.Mapping[str, str],
) -> C:
    if plan.failure:
        return C(T.DEGRADED, True, R.EPOCH_CHANGE_FAILED, plan.failure)
    if delivery:
        failed = [f"{name}: {error}" for name, error in sorted(delivery.items())]
        return C(T.DEGRADED, True, R.COMMITTEE_NOT_DELIVERED, _listing(failed))
    if record is not None:
        lost = []
        for name in record.state.current.names:
            view = views.get(name)
            if view is None:
                lost.append(f"{name}: no WalrusNode")
            elif not view.report.reachable:
                lost.append(f"{name}: {view.report.error or 'not reachable'}")
        if lost:
            return C(T.DEGRADED, True, R.MEMBERS_UNREACHABLE, _listing(lost))
    return C(T.DEGRADED, False, R.HEALTHY)


def _conditions(
    network: models.WalrusNetwork,
    record: epoch_record.EpochRecord | None,
    plan: epoch_plan.Plan,
    views: collections.abc.Mapping[str, epoch_plan.NodeView],
    delivery: collections.abc.Mapping[str, str],
) -> list[C]:
    if record is None:
        why = plan.failure or plan.waiting or "no committee yet"
        ready = C(T.READY, False, R.WAITING_FOR_NODES, why)
        progressing = C(T.PROGRESSING, False, R.WAITING_FOR_NODES, why)
    else:
        state = record.state
        ready = C(
            T.READY,
            True,
            R.COMMITTEE_ACTIVE,
            f"epoch {state.epoch}: {len(state.current.members)} members, {state.n_shards} shards",
        )
        waiting = f" ({plan.waiting})" if plan.waiting else ""
        if state.phase is epoch_mod.Phase.EPOCH_CHANGE:
            progressing = C(T.PROGRESSING, True, R.EPOCH_CHANGE, _progress_text(record) + waiting)
        elif state.pending_moves:
            progressing = C(T.PROGRESSING, True, R.SHARDS_MOVING, _progress_text(record) + waiting)
        else:
            due = epoch_record.format_time(epoch_plan.next_epoch_due(record, network.spec))
            progressing = C(T.PROGRESSING, False, R.STABLE, f"next epoch due at {due}{waiting}")
    return [ready, progressing, _degraded(record, plan, views, delivery)]


def network_status(
    network: models.WalrusNetwork,
    plan: epoch_plan.Plan,
    views: collections.abc.Sequence[epoch_plan.NodeView],
    *,
    delivery: collections.abc.Mapping[str, str],
    now: str,
) -> Status:
    """The network's status after `plan`; `delivery` maps node → why the committee could
    not be pushed to it."""
    record = plan.record
    by_name = {v.name: v for v in views}
    generation = network.metadata.generation
    patch: Status = {
        "observedGeneration": generation,
        "phase": "Pending" if record is None else record.phase,
        "currentEpoch": 0 if record is None else record.epoch,
        "conditions": conditions.merge(
            network.status.conditions,
            _conditions(network, record, plan, by_name, delivery),
            generation=generation,
            now=now,
        ),
    }
    if record is not None:
        params = record.committees.params
        patch.update(
            {
                "epochStartTime": epoch_record.format_time(record.started),
                "nextEpochTime": epoch_record.format_time(
                    epoch_plan.next_epoch_due(record, network.spec)
                ),
                "committee": _committee_summary(record),
                "prices": {"storage": params.storage_price, "write": params.write_price},
                "syncProgress": _sync_progress(record, by_name),
                "epochState": record.to_text(),
            }
        )
    return patch


def invalid_state_status(
    network: models.WalrusNetwork, problem: errors.StateInvalid, *, now: str
) -> Status:
    """The controller cannot read the network's epoch state: say so and touch nothing else."""
    generation = network.metadata.generation
    message = f"{problem}; the epoch controller is stopped for this network"
    return {
        "observedGeneration": generation,
        "conditions": conditions.merge(
            network.status.conditions,
            [
                C(T.READY, False, R.INVALID_STATE, message),
                C(T.PROGRESSING, False, R.INVALID_STATE, message),
                C(T.DEGRADED, True, R.INVALID_STATE, message),
            ],
            generation=generation,
            now=now,
        ),
    }


def node_status(record: epoch_record.EpochRecord | None, view: epoch_plan.NodeView) -> Status:
    """A WalrusNode's epoch fields.

    `shardsOwned` counts the shards the network still needs from the node: those it owns
    in the current committee, those it must still hand over (their receivers are not done),
    and those the node itself says it owns (it may run an older committee). Zero means it
    can be deleted without loss. Fields the node could not be asked about are left out.
    """
    report = view.report
    held = set(report.shards) if report.reachable else set()
    stake = view.staking.stake
    if record is None:
        owned, shards, n_shards = len(held), 0, 1
        summary = None
    else:
        current = record.state.current
        held |= set(current.shards_of(view.name)) | epoch_record.outgoing(record, view.name)
        owned, n_shards = len(held), current.n_shards
        shards = len(current.shards_of(view.name))
        summaries = reward.summarise(current, record.last_rewards, record.ledger)
        summary = next((s for s in summaries if s.name == view.name), None)
    totals = record.ledger.total_of(view.name) if record is not None else None
    last = (
        record.last_rewards.of(view.name)
        if record is not None and record.last_rewards is not None
        else None
    )
    status: Status = {
        "shardsOwned": owned,
        "staking": {
            "stake": stake,
            "shards": shards,
            "weight": float(fractions.Fraction(shards, n_shards)),
            "weightBps": summary.weight_bps if summary is not None else 0,
            "commissionBps": view.staking.commission_bps,
            "rewards": totals.total if totals is not None else 0,
            "commission": totals.commission if totals is not None else 0,
            "rewardsLastEpoch": last.reward if last is not None else 0,
        },
    }
    if report.reachable:
        status["epoch"] = report.epoch
        status["shardsSyncing"] = report.shards_syncing
    return status


def condition_events(
    previous: collections.abc.Sequence[collections.abc.Mapping[str, typing.Any]],
    current: collections.abc.Sequence[collections.abc.Mapping[str, typing.Any]],
) -> tuple[outcome.Event, ...]:
    """Events for conditions that changed: Degraded turning True (or its reason changing)
    is a Warning, back to False a Normal `Recovered`; a network starting to wait for its
    nodes gets one Normal `Waiting`."""
    before = {str(c.get("type")): c for c in previous}
    events = []
    for condition in current:
        kind = condition.get("type")
        old = before.get(str(kind), {})
        status, reason = condition.get("status"), str(condition.get("reason"))
        same = old.get("status") == status and old.get("reason") == reason
        if same:
            continue
        message = str(condition.get("message", ""))
        if kind == T.DEGRADED.value and status == "True":
            events.append(outcome.Event(reason, message, warning=True))
        elif kind == T.DEGRADED.value and old.get("status") == "True":
            events.append(outcome.Event("Recovered", f"no longer {old.get('reason')}"))
        elif kind == T.READY.value and reason == R.WAITING_FOR_NODES.value:
            events.append(outcome.Event("Waiting", message))
    return tuple(events)
