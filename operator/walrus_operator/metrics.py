"""The operator's Prometheus metrics: reconciles, errors, nodes by phase, and epochs.

One `Metrics` object per process, with its own registry (so tests can make fresh ones),
built at startup and passed to the reconcilers and the epoch controller. Served by
`serve` on the port from the settings. Called by `handlers` (startup), the reconcilers and
`walrus_operator.epochs`.

Epoch metrics, per network (`namespace`, `network` labels):
- `walrus_operator_network_epoch`: the current epoch;
- `walrus_operator_network_phase{phase}`: 1 for the current phase (Pending, Stable,
  EpochChange), 0 for the others;
- `walrus_operator_epoch_changes_total`: epoch changes started;
- `walrus_operator_node_up{node}`: 1 if the node answered the last pass, else 0;
- `walrus_operator_node_shards{node, state}`: shards `owned` (still needed from it) and
  `syncing` (being received), as in the WalrusNode's status;
- `walrus_operator_network_shards_offline`: shards of the current committee whose owner
  did not answer SERVING on the last pass (more than f of them and reads fail);
- `walrus_operator_network_fault_tolerance`: f, the shards that may be offline;
- `walrus_operator_epoch_change_age_seconds`: how long the current epoch change has run
  (0 when Stable): the "epoch change stuck" alert watches it;
- `walrus_operator_epoch_change_duration_seconds` (histogram): from the start of an epoch
  change to Stable;
- `walrus_operator_network_last_pass_timestamp_seconds`: when the epoch controller last
  finished a pass over the network;
- `walrus_operator_rollout_progress`: share (0..1) of the network's nodes running their
  current pod spec, set through `rollout` by whoever rolls pods out.

And per kind: `walrus_operator_reconcile_duration_seconds{kind}` (histogram) and
`walrus_operator_last_success_timestamp_seconds{kind}`.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib

import prometheus_client

__all__ = ["NETWORK_PHASES", "Metrics"]

NETWORK_PHASES = ("Pending", "Stable", "EpochChange")
_RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds: a pass is API calls (and, for networks, a few gRPC calls per node)."""
_EPOCH_CHANGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
"""Seconds: an epoch change moves shards, from seconds (empty) to hours (large nodes)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.reconciles = prometheus_client.Counter(
            "walrus_operator_reconciles",
            "Reconciliations by resource kind and outcome (ok, invalid, retry, error).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.errors = prometheus_client.Counter(
            "walrus_operator_errors",
            "Failed reconciliations by resource kind and error class.",
            ["kind", "error"],
            registry=self.registry,
        )
        self.nodes = prometheus_client.Gauge(
            "walrus_operator_nodes",
            "WalrusNodes by phase, as last observed.",
            ["phase"],
            registry=self.registry,
        )
        self.network_epoch = prometheus_client.Gauge(
            "walrus_operator_network_epoch",
            "Current epoch of each WalrusNetwork (0 before its first committee).",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.network_phase = prometheus_client.Gauge(
            "walrus_operator_network_phase",
            "1 for each WalrusNetwork's current phase, 0 for the others.",
            ["namespace", "network", "phase"],
            registry=self.registry,
        )
        self.epoch_changes = prometheus_client.Counter(
            "walrus_operator_epoch_changes",
            "Epoch changes started by the operator.",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.node_up = prometheus_client.Gauge(
            "walrus_operator_node_up",
            "1 if the storage node answered the epoch controller's last look, else 0.",
            ["namespace", "network", "node"],
            registry=self.registry,
        )
        self.node_shards = prometheus_client.Gauge(
            "walrus_operator_node_shards",
            "Shards per storage node: owned (still needed from it) and syncing (receiving).",
            ["namespace", "network", "node", "state"],
            registry=self.registry,
        )
        self.reconcile_duration = prometheus_client.Histogram(
            "walrus_operator_reconcile_duration_seconds",
            "Duration of one reconcile pass, by resource kind.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.last_success = prometheus_client.Gauge(
            "walrus_operator_last_success_timestamp_seconds",
            "Unix time of the last reconcile pass that succeeded, by resource kind.",
            ["kind"],
            registry=self.registry,
        )
        self.epoch_change_duration = prometheus_client.Histogram(
            "walrus_operator_epoch_change_duration_seconds",
            "Time from the start of an epoch change to the network being Stable again.",
            ["namespace", "network"],
            buckets=_EPOCH_CHANGE_BUCKETS,
            registry=self.registry,
        )
        self.epoch_change_age = prometheus_client.Gauge(
            "walrus_operator_epoch_change_age_seconds",
            "How long the running epoch change has lasted (0 when the network is Stable).",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.shards_offline = prometheus_client.Gauge(
            "walrus_operator_network_shards_offline",
            "Shards of the current committee whose owner did not answer SERVING.",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.fault_tolerance = prometheus_client.Gauge(
            "walrus_operator_network_fault_tolerance",
            "f: how many shards of the network may be offline without losing reads.",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.last_pass = prometheus_client.Gauge(
            "walrus_operator_network_last_pass_timestamp_seconds",
            "Unix time the epoch controller last finished a pass over the network.",
            ["namespace", "network"],
            registry=self.registry,
        )
        self.rollout_progress = prometheus_client.Gauge(
            "walrus_operator_rollout_progress",
            "Share (0..1) of the network's nodes that run their current pod spec.",
            ["namespace", "network"],
            registry=self.registry,
        )
        self._phases: dict[tuple[str, str], str] = {}
        self._network_nodes: dict[tuple[str, str], set[str]] = {}

    def node_phase(self, namespace: str, name: str, phase: str | None) -> None:
        """Record a node's phase (None: the node is gone) and refresh the gauge."""
        if phase is None:
            self._phases.pop((namespace, name), None)
        else:
            self._phases[(namespace, name)] = phase
        counts = collections.Counter(self._phases.values())
        for known in {*counts, *self._seen_phases()}:
            self.nodes.labels(phase=known).set(counts.get(known, 0))

    def _seen_phases(self) -> set[str]:
        return {
            sample.labels["phase"] for metric in self.nodes.collect() for sample in metric.samples
        }

    def network(self, namespace: str, network: str, epoch: int, phase: str) -> None:
        """Record a network's epoch and phase."""
        self.network_epoch.labels(namespace=namespace, network=network).set(epoch)
        for known in NETWORK_PHASES:
            self.network_phase.labels(namespace=namespace, network=network, phase=known).set(
                1 if known == phase else 0
            )

    def network_nodes(
        self,
        namespace: str,
        network: str,
        nodes: collections.abc.Mapping[str, tuple[bool, int, int]],
    ) -> None:
        """Record each node's (up, shards owned, shards syncing); forget nodes not listed."""
        key = (namespace, network)
        for gone in self._network_nodes.get(key, set()) - set(nodes):
            self.node_up.remove(namespace, network, gone)
            for state in ("owned", "syncing"):
                self.node_shards.remove(namespace, network, gone, state)
        for name, (up, owned, syncing) in nodes.items():
            self.node_up.labels(namespace=namespace, network=network, node=name).set(int(up))
            shards = self.node_shards
            shards.labels(namespace=namespace, network=network, node=name, state="owned").set(owned)
            shards.labels(namespace=namespace, network=network, node=name, state="syncing").set(
                syncing
            )
        self._network_nodes[key] = set(nodes)

    def passed(self, kind: str, seconds: float, *, ok: bool, now: float) -> None:
        """Record one reconcile pass of `kind` that took `seconds` (`now`: Unix time)."""
        self.reconcile_duration.labels(kind=kind).observe(seconds)
        if ok:
            self.last_success.labels(kind=kind).set(now)

    def network_health(
        self,
        namespace: str,
        network: str,
        *,
        shards_offline: int,
        fault_tolerance: int,
        change_age: float,
        now: float,
    ) -> None:
        """Record a network's offline shards, its f, the age of its epoch change (0 when
        Stable) and the time of this pass."""
        self.shards_offline.labels(namespace=namespace, network=network).set(shards_offline)
        self.fault_tolerance.labels(namespace=namespace, network=network).set(fault_tolerance)
        self.epoch_change_age.labels(namespace=namespace, network=network).set(change_age)
        self.last_pass.labels(namespace=namespace, network=network).set(now)

    def epoch_change_finished(self, namespace: str, network: str, seconds: float) -> None:
        self.epoch_change_duration.labels(namespace=namespace, network=network).observe(seconds)

    def rollout(self, namespace: str, network: str, updated: int, total: int) -> None:
        """Rollout progress of a network: `updated` of its `total` nodes run their current
        pod spec (1.0 when there are none). Set by the epoch controller after each rollout
        step."""
        value = 1.0 if total <= 0 else min(updated, total) / total
        self.rollout_progress.labels(namespace=namespace, network=network).set(value)

    def forget_network(self, namespace: str, network: str) -> None:
        """The network is gone: drop its series."""
        self.network_nodes(namespace, network, {})
        self._network_nodes.pop((namespace, network), None)
        for known in NETWORK_PHASES:
            self._remove(self.network_phase, namespace, network, known)
        self._remove(self.network_epoch, namespace, network)
        for gauge in (
            self.shards_offline,
            self.fault_tolerance,
            self.epoch_change_age,
            self.last_pass,
            self.rollout_progress,
        ):
            self._remove(gauge, namespace, network)

    @staticmethod
    def _remove(gauge: prometheus_client.Gauge, *labels: str) -> None:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)

    def serve(self, port: int) -> None:
        """Serve /metrics on `port` from a background thread."""
        prometheus_client.start_http_server(port, registry=self.registry)
