"""The operator's Prometheus metrics: reconciles, errors and nodes by phase.

One `Metrics` object per process, with its own registry (so tests can make fresh ones),
built at startup and passed to the reconcilers. Served by `serve` on the port from the
settings. Called by `handlers` (startup) and the reconcilers.
"""

from __future__ import annotations

import collections

import prometheus_client

__all__ = ["Metrics"]


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
        self._phases: dict[tuple[str, str], str] = {}

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

    def serve(self, port: int) -> None:
        """Serve /metrics on `port` from a background thread."""
        prometheus_client.start_http_server(port, registry=self.registry)
