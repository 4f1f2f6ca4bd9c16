"""The epoch controller: one level-based pass over a WalrusNetwork and its storage nodes.

`EpochController` is the seam `walrus_operator.networks` calls; `Controller` implements it.
A pass (`run`), serialised per network by a lock and started by the network's Kopf timer
every `WALRUS_OPERATOR_EPOCH_POLL_SECONDS` (and by its create/update/resume handlers):

1. **Observe.** Read the network fresh from the API (the body Kopf hands over may predate
   the last pass's own write), its persisted `EpochRecord` (`status.epochState`), every
   WalrusNode that references it, the network's pods (one list, shared with the roller),
   each node's endpoint, and each node's report (`nodeclient`), in parallel; a node that
   did not answer is left alone for a growing while (`backoff`), unless its pod turned
   Ready since. A network without a record resumes from its ConfigMap copy.
2. **Decide** with the pure planner (`epoch_plan.decide`): genesis, endpoint refresh,
   sync progress, the change's deadline, or the next epoch change.
3. **Persist first.** A changed record is written to the network's status *before* any
   node hears of it, so a restart can never leave nodes on a committee the status does
   not know. The write carries the resourceVersion the pass read: if anything wrote the
   network meanwhile (another operator replica, say) the API server refuses it and the
   pass ends there, to start over from what is stored, so two writers cannot fork the
   history. A copy goes to the ConfigMap `<network>.epoch-state`, which is not owned by
   the network: a network re-created without its status (after a deletion, from a
   manifest) resumes from it. The nodes' `epoch`/`shardsOwned`/`shardsSyncing`/`staking`
   follow at once, so a pool never deletes a member that the new committee still needs.
4. **Deliver.** Every reachable node that does not run the recorded committee (compared
   by fingerprint) gets it through `Admin/SetCommittee`, immediately; the ConfigMaps that
   the node reconciler renders from the same status follow eventually.
5. **Roll** (`walrus_operator.rollouts`): keep the network's disruption budget in step
   with the record just persisted, and restart the next node pod whose template changed.
6. **Report.** The rest of the network status (committee summary, prices, sync progress,
   rollout, conditions), metrics, and Events (epoch change started/completed, condition
   changes, restarts).

The status is written here, under the lock, not through Kopf's patch: a patch applied
after the handler returns could land after a newer pass's write and undo it. The
handlers only post the Events. Called by `walrus_operator.networks`; built in `handlers`.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import datetime
import typing

from walrus_node.protocol import keys as node_keys
from walrus_operator import (
    addresses,
    admin,
    conditions,
    epoch_plan,
    epoch_record,
    epoch_status,
    errors,
    kube,
    metrics,
    models,
    naming,
    nodeclient,
    outcome,
    reports,
    rollouts,
    tls_secrets,
)
from walrus_operator import backoff as backoff_mod

__all__ = ["Controller", "EpochController"]

Body = collections.abc.Mapping[str, typing.Any]
_PARALLEL_NODES = 16
"""Nodes asked at once."""
_EPOCH_FIELDS = ("epoch", "shardsOwned", "shardsSyncing", "staking")


class EpochController(typing.Protocol):
    async def run(self, namespace: str, name: str) -> outcome.Outcome:
        """One pass over network `namespace/name`; writes its status itself."""


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _state_copy(
    network: models.WalrusNetwork, record: epoch_record.EpochRecord
) -> dict[str, typing.Any]:
    """The ConfigMap that keeps a copy of the epoch state (deliberately without an owner)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.epoch_state_config_map(network.metadata.name),
            "namespace": network.metadata.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "walrus",
                "app.kubernetes.io/managed-by": naming.MANAGED_BY,
                naming.LABEL_NETWORK: network.metadata.name,
            },
        },
        "data": {"epochState": record.to_text(), "epoch": str(record.epoch)},
    }


def _reachability(view: epoch_plan.NodeView, stamp: str, transport: str) -> dict[str, typing.Any]:
    """`polled` (what this pass saw: the node's health answer, and whether it was asked
    over mutual TLS), `lastError` (the node's last RPC error) and `unreachableSince`, the
    last two None (removed) while the node answers. The node reconciler's Ready condition
    is made from `polled`."""
    report = view.report
    polled = {"serving": report.reachable and report.serving, "transport": transport}
    if report.reachable and not report.error:
        return {"polled": polled, "lastError": None, "unreachableSince": None}
    since = view.current_status.get("unreachableSince")
    return {
        "polled": polled,
        "lastError": report.error or "not reachable",
        "unreachableSince": (since or stamp) if not report.reachable else None,
    }


def _differs(wanted: Body, current: Body) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())


@dataclasses.dataclass
class Controller:
    kube: kube.Kube
    node_client: nodeclient.NodeClient
    admin: admin.AdminKeys
    addresses: addresses.Addresses
    metrics: metrics.Metrics
    clock: collections.abc.Callable[[], datetime.datetime] = _utc_now
    limits: epoch_plan.Limits = dataclasses.field(default_factory=epoch_plan.Limits)
    """The epoch change deadline and candidate expiry."""
    backoff: backoff_mod.Backoff = dataclasses.field(
        default_factory=lambda: backoff_mod.Backoff(
            datetime.timedelta(seconds=5), datetime.timedelta(seconds=60)
        )
    )
    """Nodes that do not answer are asked again after a growing wait."""
    rollout: rollouts.Rollouts | None = None
    """The roller and disruption budget; None leaves pods and budgets alone."""
    tls: tls_secrets.TlsSecrets | None = None
    """With node TLS: where the operator's client certificate for the network is read."""
    _locks: dict[tuple[str, str], asyncio.Lock] = dataclasses.field(default_factory=dict)

    async def run(self, namespace: str, name: str) -> outcome.Outcome:
        lock = self._locks.setdefault((namespace, name), asyncio.Lock())
        async with lock:
            return await self._pass(namespace, name)

    async def _pass(self, namespace: str, name: str) -> outcome.Outcome:
        body = await self.kube.get(kube.Kind.WALRUS_NETWORK, name, namespace)
        if body is None:
            self.metrics.forget_network(namespace, name)
            self._locks.pop((namespace, name), None)
            return outcome.Outcome({})
        network = models.parse_network(body)
        now = self.clock()
        stamp = epoch_record.format_time(now)
        try:
            record = epoch_record.load(network.status.epoch_state)
            if record is None:
                record = await self._restore(network)
        except errors.StateInvalid as problem:
            status = epoch_status.invalid_state_status(network, problem, now=stamp)
            return await self._write_status(network, body, status, ())
        key = await self.admin.key(namespace)
        credentials = (
            None if self.tls is None else await self.tls.operator_credentials(namespace, name)
        )
        pods = await self.kube.list_by_labels(
            kube.Kind.POD, namespace, {naming.LABEL_NETWORK: name}
        )
        views = await self._observe(network, record, key, credentials, pods)
        plan = epoch_plan.decide(record, network, views, now, self.limits)
        restored = record is not None and network.status.epoch_state is None
        if (plan.changed or restored) and plan.record is not None:
            try:
                await self._persist(network, plan.record, body)
            except errors.KubeConflict:
                return outcome.Outcome({})  # written meanwhile: the next pass starts over
            if record is not None and plan.record.epoch > record.epoch:
                self.metrics.epoch_changes.labels(namespace=namespace, network=name).inc()
            if (
                record is not None
                and record.phase == "EpochChange"
                and plan.record.phase != "EpochChange"
            ):
                seconds = (now - plan.record.started).total_seconds()
                self.metrics.epoch_change_finished(namespace, name, max(seconds, 0.0))
        transport = "plaintext" if credentials is None else "mutual TLS"
        await self._update_nodes(namespace, plan.record, views, stamp, transport)
        delivery = await self._deliver(plan.record, views, key, credentials)
        status = epoch_status.network_status(network, plan, views, delivery=delivery, now=stamp)
        events = tuple(plan.events)
        if self.rollout is not None:
            step = await self._roll(network, plan.record, views, now, body, pods)
            status.update(step.status)
            status["conditions"] = [
                *status.get("conditions", []),
                *conditions.merge(
                    network.status.conditions,
                    [step.condition],
                    generation=network.metadata.generation,
                    now=stamp,
                ),
            ]
            events = (*events, *step.events)
            if step.total:
                self.metrics.rollout(namespace, name, step.updated, step.total)
        self._record_metrics(network, plan.record, views, now)
        return await self._write_status(network, body, status, events)

    async def _roll(
        self,
        network: models.WalrusNetwork,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
        now: datetime.datetime,
        body: Body,
        pods: collections.abc.Sequence[Body],
    ) -> rollouts.RolloutStep:
        """One rollout step; an API failure there leaves the epoch status intact."""
        assert self.rollout is not None
        try:
            return await self.rollout.step(
                network, record, views, now, body.get("status") or {}, pods
            )
        except errors.KubeError as failed:
            condition = conditions.Condition(
                conditions.Type.ROLLOUT,
                None,
                conditions.Reason.ROLLOUT_UNOBSERVED,
                f"pods or budget not reached: {failed}",
            )
            return rollouts.RolloutStep({}, condition)

    # ----------------------------------------------------------------------- observe

    async def _observe(
        self,
        network: models.WalrusNetwork,
        record: epoch_record.EpochRecord | None,
        key: node_keys.KeyPair,
        credentials: nodeclient.ChannelTls | None = None,
        pods: collections.abc.Sequence[Body] = (),
    ) -> list[epoch_plan.NodeView]:
        namespace, name = network.metadata.namespace, network.metadata.name
        by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
        nodes = []
        for item in await self.kube.list_by_labels(kube.Kind.WALRUS_NODE, namespace, {}):
            if ((item.get("spec") or {}).get("networkRef") or {}).get("name") != name:
                continue
            try:
                nodes.append((models.parse_node(item), item.get("status") or {}))
            except errors.SpecInvalid:
                continue  # the node reconciler reports it; it cannot be a candidate
        receiving = set()
        if record is not None:
            receiving = {m.destination for m in record.state.moves}
        gate = asyncio.Semaphore(_PARALLEL_NODES)

        now = self.clock()

        async def look(node: models.WalrusNode, status: Body) -> epoch_plan.NodeView:
            async with gate:
                endpoint = await self.addresses.endpoint(node)
                who = f"{namespace}/{node.metadata.name}"
                pod = by_name.get(naming.pod_name(node.metadata.name))
                last_error = self.backoff.waiting(who, now, rollouts.ready_since(pod))
                if endpoint is None:
                    report = reports.unreachable("no endpoint yet (no pod IP)")
                elif last_error is not None:
                    report = reports.unreachable(f"{last_error} (retrying later)")
                else:
                    report = await self.node_client.report(
                        endpoint,
                        key,
                        sync=node.metadata.name in receiving,
                        server_name=node.metadata.name,
                        tls=credentials,
                    )
                    if report.reachable:
                        self.backoff.answered(who)
                    else:
                        self.backoff.failed(who, now, report.error)
                return epoch_plan.NodeView.of(node, endpoint, report, status)

        views = list(await asyncio.gather(*(look(node, status) for node, status in nodes)))
        self.backoff.forget(f"{namespace}/", {f"{namespace}/{v.name}" for v in views})
        return views

    # ----------------------------------------------------------------------- act

    async def _persist(
        self, network: models.WalrusNetwork, record: epoch_record.EpochRecord, body: Body
    ) -> None:
        """Write the new record (and the fields read with it) before anyone acts on it, on
        the condition that the network is still the version this pass read; then its copy."""
        version = (body.get("metadata") or {}).get("resourceVersion")
        await self.kube.merge_patch(
            kube.Kind.WALRUS_NETWORK,
            network.metadata.name,
            network.metadata.namespace,
            {
                "metadata": {"resourceVersion": version},
                "status": {
                    "epochState": record.to_text(),
                    "currentEpoch": record.epoch,
                    "phase": record.phase,
                },
            },
            status=True,
        )
        await self.kube.apply(_state_copy(network, record))

    async def _restore(self, network: models.WalrusNetwork) -> epoch_record.EpochRecord | None:
        """The record kept in the network's ConfigMap, if its shard count matches."""
        copy = await self.kube.get(
            kube.Kind.CONFIG_MAP,
            naming.epoch_state_config_map(network.metadata.name),
            network.metadata.namespace,
        )
        text = ((copy or {}).get("data") or {}).get("epochState")
        record = epoch_record.load(text if isinstance(text, str) else None)
        if record is None or record.state.current.n_shards != network.spec.shard_count:
            return None
        return record

    async def _update_nodes(
        self,
        namespace: str,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
        stamp: str,
        transport: str,
    ) -> None:
        for view in views:
            wanted = {
                **epoch_status.node_status(record, view),
                **_reachability(view, stamp, transport),
            }
            if not _differs(wanted, view.current_status):
                continue
            try:
                await self.kube.merge_patch(
                    kube.Kind.WALRUS_NODE, view.name, namespace, {"status": wanted}, status=True
                )
            except errors.KubeNotFound:
                continue  # deleted meanwhile

    async def _deliver(
        self,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
        key: node_keys.KeyPair,
        credentials: nodeclient.ChannelTls | None = None,
    ) -> dict[str, str]:
        """Push the committee to every reachable node that runs another one."""
        if record is None:
            return {}
        wanted = reports.fingerprint(record.committees.to_dict())
        data = record.committees.to_json()
        stale = [
            v
            for v in views
            if v.report.reachable and v.endpoint is not None and v.report.committee != wanted
        ]
        gate = asyncio.Semaphore(_PARALLEL_NODES)

        async def push(view: epoch_plan.NodeView) -> tuple[str, str | None]:
            async with gate:
                assert view.endpoint is not None  # filtered above
                error = await self.node_client.set_committee(
                    view.endpoint, key, data, server_name=view.name, tls=credentials
                )
                return view.name, error

        results = await asyncio.gather(*(push(v) for v in stale))
        return {name: error for name, error in results if error is not None}

    # ----------------------------------------------------------------------- report

    def _record_metrics(
        self,
        network: models.WalrusNetwork,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
        now: datetime.datetime,
    ) -> None:
        namespace, name = network.metadata.namespace, network.metadata.name
        phase = "Pending" if record is None else record.phase
        self.metrics.network(namespace, name, 0 if record is None else record.epoch, phase)
        per_node = {}
        for view in views:
            fields = epoch_status.node_status(record, view)
            per_node[view.name] = (
                view.report.reachable,
                int(fields["shardsOwned"]),
                int(fields.get("shardsSyncing", 0)),
            )
        self.metrics.network_nodes(namespace, name, per_node)
        offline = 0
        tolerance = 0
        change_age = 0.0
        if record is not None:
            current = record.state.current
            serving = {v.name for v in views if v.report.reachable and v.report.serving}
            offline = sum(len(current.shards_of(m)) for m in current.names if m not in serving)
            tolerance = current.params.f
            if record.phase == "EpochChange":
                change_age = max((now - record.started).total_seconds(), 0.0)
        self.metrics.network_health(
            namespace,
            name,
            shards_offline=offline,
            fault_tolerance=tolerance,
            change_age=change_age,
            now=now.timestamp(),
        )

    async def _write_status(
        self,
        network: models.WalrusNetwork,
        body: Body,
        status: dict[str, typing.Any],
        events: collections.abc.Iterable[outcome.Event],
    ) -> outcome.Outcome:
        current = body.get("status") or {}
        announced = epoch_status.condition_events(
            current.get("conditions") or [], status.get("conditions") or []
        )
        if _differs(status, current):
            try:
                await self.kube.merge_patch(
                    kube.Kind.WALRUS_NETWORK,
                    network.metadata.name,
                    network.metadata.namespace,
                    {"status": status},
                    status=True,
                )
            except errors.KubeNotFound:
                return outcome.Outcome({})
        return outcome.Outcome({}, events=(*events, *announced))
