"""The operator's settings: read once from the environment at start, typed, immutable.

Every field names its variable, unit and default, and why. `__main__` builds the one
`OperatorSettings` and hands it to `handlers.register`; nothing reads the environment
after that.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os

from walrus_operator import errors

__all__ = ["ENDPOINT_MODES", "OperatorSettings"]

_PREFIX = "WALRUS_OPERATOR_"
ENDPOINT_MODES = ("dns", "pod-ip")


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    namespaces: tuple[str, ...] = ()
    """WALRUS_OPERATOR_NAMESPACES: comma-separated namespaces to watch; empty (the default)
    watches the whole cluster, which needs the ClusterRole."""

    node_image: str = "walrus-node:0.1.0"
    """WALRUS_OPERATOR_NODE_IMAGE: image for WalrusNodes without `spec.image`."""

    resync_seconds: float = 60.0
    """WALRUS_OPERATOR_RESYNC_SECONDS: how often each resource is observed and its children
    re-applied, correcting drift that no watch event announces (a deleted Service, a hand
    edit). 60 s keeps API load at one apply per child per minute per node."""

    deletion_retry_seconds: float = 30.0
    """WALRUS_OPERATOR_DELETION_RETRY_SECONDS: how often a blocked deletion (a node that
    still owns shards) is looked at again."""

    cluster_domain: str = "cluster.local"
    """WALRUS_OPERATOR_CLUSTER_DOMAIN: DNS suffix of the nodes' endpoints."""

    metrics_port: int = 8000
    """WALRUS_OPERATOR_METRICS_PORT: Prometheus metrics on :PORT/metrics; 0 turns them off."""

    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """WALRUS_OPERATOR_LIVENESS_ENDPOINT: Kopf's liveness probe URL; empty turns it off."""

    log_format: str = "json"
    """WALRUS_OPERATOR_LOG_FORMAT: `json` (for containers), `plain` or `full`."""

    endpoint_mode: str = "dns"
    """WALRUS_OPERATOR_ENDPOINT_MODE: how nodes are addressed in the committee and by the
    operator. `dns` (the default): `<node>-0.<node>.<ns>.svc.<clusterDomain>:9185`, stable
    across pod restarts; `pod-ip`: `<pod IP>:9185`, for clusters without cluster DNS (the
    epoch controller rewrites a member's endpoint in the committee when its pod IP changes)."""

    epoch_poll_seconds: float = 5.0
    """WALRUS_OPERATOR_EPOCH_POLL_SECONDS: how often each WalrusNetwork's epoch controller
    looks at its nodes (health, shards, sync progress) and moves the epoch on. Sets how soon
    a finished shard sync is recorded and a requested epoch change starts; each look costs
    about three gRPC calls per node."""

    node_timeout_seconds: float = 5.0
    """WALRUS_OPERATOR_NODE_TIMEOUT_SECONDS: deadline of one gRPC call to a node. A node that
    does not answer within it counts as unreachable for that pass."""

    node_backoff_max_seconds: float = 60.0
    """WALRUS_OPERATOR_NODE_BACKOFF_MAX_SECONDS: the longest the epoch controller waits
    before asking again a node that did not answer (the wait doubles from one poll
    interval after each failure), so dead nodes do not cost a gRPC deadline every pass."""

    rollout_timeout_seconds: float = 600.0
    """WALRUS_OPERATOR_ROLLOUT_TIMEOUT_SECONDS: how long a node pod restarted for a new pod
    template may take to serve again before the rollout halts and names it. Ten minutes
    covers a slow image pull and a node that reloads a large store."""

    rollout_settle_seconds: float = 30.0
    """WALRUS_OPERATOR_ROLLOUT_SETTLE_SECONDS: how long a restarted node pod must have been
    Ready before the rollout takes the next one down. Clients and peers find a restarted
    pod (a new IP under the same DNS name) only after their resolvers and DNS caches catch
    up: CoreDNS caches answers, a failed lookup included, for up to its `ttl` (30 s in
    kubeadm's configuration). Without the wait they could still miss one node while the
    next is down: more than f shards out of their reach. 0 moves on as soon as the node
    serves (when every client reaches nodes by pod IP)."""

    rollout_max_in_flight: int = 1
    """WALRUS_OPERATOR_ROLLOUT_MAX_IN_FLIGHT: node pods of one network restarted at once by
    a rollout. Whatever this says, a restart never takes more than f shards offline."""

    epoch_change_deadline_seconds: float = 1800.0
    """WALRUS_OPERATOR_EPOCH_CHANGE_DEADLINE_SECONDS: how long an epoch change may wait for
    its members to receive their shards. After it, members that have not finished and do
    not answer are dropped from the sync plan and the change is re-planned without them
    (their shards are recovered by the others), so a lost node cannot hold a network in
    EpochChange forever. 0 turns the deadline off."""

    member_unreachable_seconds: float = 600.0
    """WALRUS_OPERATOR_MEMBER_UNREACHABLE_SECONDS: a committee member that has not answered
    for this long stops being a candidate for the next committee (a shorter outage, a pod
    restart, keeps its shards). 0 turns this off."""

    leader_election: bool = True
    """WALRUS_OPERATOR_LEADER_ELECTION: `true` (the default) lets several replicas run, the
    one holding the Lease acting; `false` for a single replica that acts at once."""

    lease_namespace: str = ""
    """WALRUS_OPERATOR_LEASE_NAMESPACE: where the Lease `walrus-operator` lives; empty (the
    default) means the operator pod's own namespace, else `walrus-system`."""

    lease_seconds: float = 15.0
    """WALRUS_OPERATOR_LEASE_SECONDS: how long a leader's Lease lasts without renewal, so
    how soon a standby takes over from a replica that died (renewed every third of it)."""
    pod_namespace: str = ""
    """WALRUS_OPERATOR_POD_NAMESPACE: the namespace the operator's own pod runs in (the
    manifests set it from the downward API). Each network's NetworkPolicy lets operator
    pods in only from there; empty: from any namespace."""

    node_tls: bool = True
    """WALRUS_OPERATOR_NODE_TLS: `true` (the default) issues each network a CA and every
    node a certificate, mounts it and sets the node's `tls_*` keys, and calls the nodes over
    mutual TLS with the network's operator certificate (docs/operator.md, "TLS"). `false`
    runs every node in plaintext: only for measuring what TLS costs, or for node images too
    old to know the `tls_*` keys."""

    certificate_validity_days: float = 90.0
    """WALRUS_OPERATOR_CERTIFICATE_VALIDITY_DAYS: lifetime of a node or operator certificate."""

    certificate_renew_days: float = 30.0
    """WALRUS_OPERATOR_CERTIFICATE_RENEW_DAYS: a certificate with less than this left is
    re-issued (the node reloads it from its mounted Secret, no restart). Must be below the
    validity; a third of it by default, so a missed day or two of passes is harmless."""

    @classmethod
    def from_environment(
        cls, environ: collections.abc.Mapping[str, str] | None = None
    ) -> OperatorSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def text(name: str, default: str) -> str:
            return env.get(_PREFIX + name, default).strip()

        def number(name: str, default: float, minimum: float) -> float:
            raw = text(name, str(default))
            try:
                value = float(raw)
            except ValueError:
                raise errors.SettingsInvalid(_PREFIX + name, f"{raw!r} is not a number") from None
            if value < minimum:
                raise errors.SettingsInvalid(_PREFIX + name, f"must be at least {minimum}")
            return value

        log_format = text("LOG_FORMAT", defaults.log_format)
        if log_format not in {"json", "plain", "full"}:
            raise errors.SettingsInvalid(_PREFIX + "LOG_FORMAT", "must be json, plain or full")
        port = number("METRICS_PORT", defaults.metrics_port, 0)
        if port != int(port) or port > 65535:
            raise errors.SettingsInvalid(_PREFIX + "METRICS_PORT", "must be a port number")
        endpoint_mode = text("ENDPOINT_MODE", defaults.endpoint_mode)
        if endpoint_mode not in ENDPOINT_MODES:
            raise errors.SettingsInvalid(_PREFIX + "ENDPOINT_MODE", "must be dns or pod-ip")
        image = text("NODE_IMAGE", defaults.node_image)
        if not image:
            raise errors.SettingsInvalid(_PREFIX + "NODE_IMAGE", "must not be empty")
        in_flight = number("ROLLOUT_MAX_IN_FLIGHT", defaults.rollout_max_in_flight, 1)
        if in_flight != int(in_flight):
            raise errors.SettingsInvalid(_PREFIX + "ROLLOUT_MAX_IN_FLIGHT", "must be an integer")
        election = text("LEADER_ELECTION", "true").lower()
        if election not in {"true", "false"}:
            raise errors.SettingsInvalid(_PREFIX + "LEADER_ELECTION", "must be true or false")
        tls = text("NODE_TLS", str(defaults.node_tls).lower()).lower()
        if tls not in {"true", "false"}:
            raise errors.SettingsInvalid(_PREFIX + "NODE_TLS", "must be true or false")
        validity = number("CERTIFICATE_VALIDITY_DAYS", defaults.certificate_validity_days, 1)
        renew = number("CERTIFICATE_RENEW_DAYS", defaults.certificate_renew_days, 0.01)
        if renew >= validity:
            raise errors.SettingsInvalid(
                _PREFIX + "CERTIFICATE_RENEW_DAYS", "must be less than the certificate validity"
            )
        return cls(
            namespaces=tuple(n.strip() for n in text("NAMESPACES", "").split(",") if n.strip()),
            node_image=image,
            resync_seconds=number("RESYNC_SECONDS", defaults.resync_seconds, 1),
            deletion_retry_seconds=number(
                "DELETION_RETRY_SECONDS", defaults.deletion_retry_seconds, 1
            ),
            cluster_domain=text("CLUSTER_DOMAIN", defaults.cluster_domain),
            metrics_port=int(port),
            liveness_endpoint=text("LIVENESS_ENDPOINT", defaults.liveness_endpoint),
            log_format=log_format,
            endpoint_mode=endpoint_mode,
            epoch_poll_seconds=number("EPOCH_POLL_SECONDS", defaults.epoch_poll_seconds, 0.1),
            node_timeout_seconds=number("NODE_TIMEOUT_SECONDS", defaults.node_timeout_seconds, 0.1),
            rollout_timeout_seconds=number(
                "ROLLOUT_TIMEOUT_SECONDS", defaults.rollout_timeout_seconds, 1
            ),
            rollout_settle_seconds=number(
                "ROLLOUT_SETTLE_SECONDS", defaults.rollout_settle_seconds, 0
            ),
            rollout_max_in_flight=int(in_flight),
            leader_election=election == "true",
            node_backoff_max_seconds=number(
                "NODE_BACKOFF_MAX_SECONDS", defaults.node_backoff_max_seconds, 0.1
            ),
            epoch_change_deadline_seconds=number(
                "EPOCH_CHANGE_DEADLINE_SECONDS", defaults.epoch_change_deadline_seconds, 0
            ),
            member_unreachable_seconds=number(
                "MEMBER_UNREACHABLE_SECONDS", defaults.member_unreachable_seconds, 0
            ),
            lease_namespace=text("LEASE_NAMESPACE", defaults.lease_namespace),
            lease_seconds=number("LEASE_SECONDS", defaults.lease_seconds, 3),
            pod_namespace=text("POD_NAMESPACE", defaults.pod_namespace),
            node_tls=tls == "true",
            certificate_validity_days=validity,
            certificate_renew_days=renew,
        )
