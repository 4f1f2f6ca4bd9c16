"""The epoch controller: one level-based pass over a WalrusNetwork and its storage nodes.

`EpochController` is the seam `walrus_operator.networks` calls; `Controller` implements it.
A pass (`run`), serialised per network by a lock and started by the network's Kopf timer
every `WALRUS_OPERATOR_EPOCH_POLL_SECONDS` (and by its create/update/resume handlers):

1. **Observe.** Read the network fresh from the API (the body Kopf hands over may predate
   the last pass's own write), its persisted `EpochRecord` (`status.epochState`), every
   WalrusNode that references it, each node's endpoint, and each node's report
   (`nodeclient`), in parallel.
2. **Decide** with the pure planner (`epoch_plan.decide`): genesis, endpoint refresh,
   sync progress, or the next epoch change.
3. **Persist first.** A changed record is written to the network's status *before* any
   node hears of it, so a restart can never leave nodes on a committee the status does
   not know. The nodes' `epoch`/`shardsOwned`/`shardsSyncing`/`staking` follow at once, so
   a pool never deletes a member that the new committee still needs.
4. **Deliver.** Every reachable node that does not run the recorded committee (compared
   by fingerprint) gets it through `Admin/SetCommittee`, immediately; the ConfigMaps that
   the node reconciler renders from the same status follow eventually.
5. **Report.** The rest of the network status (committee summary, prices, sync progress,
   conditions), metrics, and Events (epoch change started/completed, condition changes).

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
    epoch_plan,
    epoch_record,
    epoch_status,
    errors,
    kube,
    metrics,
    models,
    nodeclient,
    outcome,
    reports,
    tls_secrets,
)

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
        except errors.StateInvalid as problem:
            status = epoch_status.invalid_state_status(network, problem, now=stamp)
            return await self._write_status(network, body, status, ())
        key = await self.admin.key(namespace)
        credentials = (
            None if self.tls is None else await self.tls.operator_credentials(namespace, name)
        )
        views = await self._observe(network, record, key, credentials)
        plan = epoch_plan.decide(record, network, views, now)
        if plan.changed and plan.record is not None:
            await self._persist(network, plan.record)
            if record is not None and plan.record.epoch > record.epoch:
                self.metrics.epoch_changes.labels(namespace=namespace, network=name).inc()
            if (
                record is not None
                and record.phase == "EpochChange"
                and plan.record.phase != "EpochChange"
            ):
                seconds = (now - plan.record.started).total_seconds()
                self.metrics.epoch_change_finished(namespace, name, max(seconds, 0.0))
        await self._update_nodes(namespace, plan.record, views)
        delivery = await self._deliver(plan.record, views, key, credentials)
        status = epoch_status.network_status(network, plan, views, delivery=delivery, now=stamp)
        self._record_metrics(network, plan.record, views, now)
        return await self._write_status(network, body, status, plan.events)

    # ----------------------------------------------------------------------- observe

    async def _observe(
        self,
        network: models.WalrusNetwork,
        record: epoch_record.EpochRecord | None,
        key: node_keys.KeyPair,
        credentials: nodeclient.ChannelTls | None = None,
    ) -> list[epoch_plan.NodeView]:
        namespace, name = network.metadata.namespace, network.metadata.name
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

        async def look(node: models.WalrusNode, status: Body) -> epoch_plan.NodeView:
            async with gate:
                endpoint = await self.addresses.endpoint(node)
                if endpoint is None:
                    report = reports.unreachable("no endpoint yet (no pod IP)")
                else:
                    report = await self.node_client.report(
                        endpoint,
                        key,
                        sync=node.metadata.name in receiving,
                        server_name=node.metadata.name,
                        tls=credentials,
                    )
                return epoch_plan.NodeView.of(node, endpoint, report, status)

        return list(await asyncio.gather(*(look(node, status) for node, status in nodes)))

    # ----------------------------------------------------------------------- act

    async def _persist(
        self, network: models.WalrusNetwork, record: epoch_record.EpochRecord
    ) -> None:
        """Write the new record (and the fields read with it) before anyone acts on it."""
        await self.kube.merge_patch(
            kube.Kind.WALRUS_NETWORK,
            network.metadata.name,
            network.metadata.namespace,
            {
                "status": {
                    "epochState": record.to_text(),
                    "currentEpoch": record.epoch,
                    "phase": record.phase,
                }
            },
            status=True,
        )

    async def _update_nodes(
        self,
        namespace: str,
        record: epoch_record.EpochRecord | None,
        views: collections.abc.Sequence[epoch_plan.NodeView],
    ) -> None:
        for view in views:
            wanted = epoch_status.node_status(record, view)
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
