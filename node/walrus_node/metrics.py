"""Prometheus metrics of a storage node (namespace ``walrus_``).

Who calls it: the node service (counts data), the gRPC interceptor (RPC latency), and
``walrus-node run`` (serves them on ``metrics_port``). Each node owns its own registry,
so several nodes can live in one test process.
"""

from __future__ import annotations

import prometheus_client as prom

__all__ = ["NodeMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.metadata_stored = prom.Counter(
            "walrus_metadata_stored", "Metadata objects newly stored", registry=r
        )
        self.slivers_stored = prom.Counter(
            "walrus_slivers_stored", "Slivers newly stored", ["sliver_type"], registry=r
        )
        self.sliver_bytes_stored = prom.Counter(
            "walrus_sliver_bytes_stored",
            "Bytes of slivers newly stored",
            ["sliver_type"],
            registry=r,
        )
        self.slivers_served = prom.Counter(
            "walrus_slivers_served", "Slivers returned to callers", ["sliver_type"], registry=r
        )
        self.sliver_bytes_served = prom.Counter(
            "walrus_sliver_bytes_served", "Bytes of slivers returned", ["sliver_type"], registry=r
        )
        self.symbol_bytes_served = prom.Counter(
            "walrus_symbol_bytes_served",
            "Bytes of primary-sliver symbols returned for ranged reads (GetSliverSymbols), by "
            "whether the sliver's Merkle tree was kept from an earlier read or built now",
            ["tree"],
            registry=r,
        )
        self.confirmations_issued = prom.Counter(
            "walrus_storage_confirmations_issued", "Signed storage confirmations", registry=r
        )
        self.certificates_accepted = prom.Counter(
            "walrus_certificates_accepted", "Blob certificates accepted", ["source"], registry=r
        )
        self.rejected_inputs = prom.Counter(
            "walrus_rejected_inputs",
            "Requests refused because of invalid input",
            ["reason"],
            registry=r,
        )
        self.corrupt_slivers = prom.Counter(
            "walrus_corrupt_slivers_detected",
            "Stored slivers that failed their checksum on read",
            registry=r,
        )
        self.recovery_backlog = prom.Gauge(
            "walrus_recovery_backlog",
            "Certified blobs whose slivers are being recovered",
            registry=r,
        )
        self.slivers_recovered = prom.Counter(
            "walrus_slivers_recovered",
            "Slivers rebuilt from recovery symbols",
            ["sliver_type"],
            registry=r,
        )
        self.recovery_requests = prom.Counter(
            "walrus_recovery_requests",
            "Recovery-symbol calls made to peers: 'batch' (one per peer per blob and round, "
            "for all the slivers lacking), 'single' (one per sliver, to peers without it)",
            ["kind"],
            registry=r,
        )
        self.recovery_failures = prom.Counter(
            "walrus_recovery_failures", "Blob recovery attempts that failed (retried)", registry=r
        )
        self.rpc_duration = prom.Histogram(
            "walrus_rpc_duration_seconds",
            "gRPC handling time",
            ["method", "code"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.node_status = prom.Gauge(
            "walrus_current_node_status",
            "1 for the node's current status, 0 for the others",
            ["status"],
            registry=r,
        )
        self.shards_synced = prom.Counter(
            "walrus_shards_synced", "Gained shards fully received", registry=r
        )
        self.shard_sync_slivers = prom.Counter(
            "walrus_shard_sync_slivers", "Slivers received by shard sync", registry=r
        )
        self.shard_sync_bytes = prom.Counter(
            "walrus_shard_sync_bytes", "Bytes of slivers received by shard sync", registry=r
        )
        self.shard_sync_served = prom.Counter(
            "walrus_shard_sync_served", "Slivers sent to new shard owners", registry=r
        )
        self.shards_syncing = prom.Gauge(
            "walrus_shards_syncing", "Gained shards not yet fully received", registry=r
        )
        self.blobs_expired = prom.Counter(
            "walrus_blobs_expired", "Blobs whose data was removed at their end epoch", registry=r
        )
        self.blobs_deleted = prom.Counter(
            "walrus_blobs_deleted", "Deletable blobs deleted by their owner", registry=r
        )
        self.epoch = prom.Gauge(
            "walrus_current_epoch", "Epoch of the current committee", registry=r
        )
        self.shards_owned = prom.Gauge("walrus_shards_owned", "Shards owned now", registry=r)
        self.blobs_stored = prom.Gauge("walrus_blobs", "Blobs this node knows of", registry=r)
        self.memory_used = prom.Gauge(
            "walrus_memory_budget_used_bytes",
            "Bytes reserved now in the memory budget by requests (memory_budget_bytes)",
            registry=r,
        )
        self.memory_peak = prom.Gauge(
            "walrus_memory_budget_peak_bytes",
            "Most bytes ever reserved at once in the memory budget since the node started",
            registry=r,
        )
        self.uncertified_bytes = prom.Gauge(
            "walrus_uncertified_bytes",
            "Bytes of not-yet-certified blobs counted against uncertified_quota_bytes",
            registry=r,
        )

    def set_status(self, status: str, all_statuses: tuple[str, ...]) -> None:
        for s in all_statuses:
            self.node_status.labels(status=s).set(1 if s == status else 0)
