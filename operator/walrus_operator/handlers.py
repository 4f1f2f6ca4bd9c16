"""Every Kopf handler of the operator, registered in one place.

Each handler is thin: take the body → call a reconciler (`nodes`, `pools`, `networks`) →
write its status patch → translate its error for Kopf. The translation table is here and
only here:

| operator error              | Kopf                          | also                        |
|-----------------------------|-------------------------------|-----------------------------|
| `SpecInvalid`               | none: the handler returns     | Warning `InvalidSpec` (once)|
| `NotYet` / `DeletionBlocked`| `TemporaryError(delay)`       | Normal event                |
| `KubeUnavailable`           | `TemporaryError(10 s)`        |                             |
| other `KubeError`           | `TemporaryError(resync)`      | Warning event `ApiError`    |

Only the replica that holds the leader Lease acts (`leadership`): on the others every
handler returns at once, and deletion handlers keep waiting, so a standby never releases a
finalizer. Level-based: the create/update/resume handlers and a per-object timer run the same
reconcile pass, so drift (a deleted child, a hand edit) is undone within
`resync_seconds`. A WalrusNetwork's timer runs every `epoch_poll_seconds`: it drives the
epoch controller, which writes the network's status itself and hands back Events to post.
A spec or Secret problem (`SpecInvalid`) is never a `kopf.PermanentError`: Kopf never
restarts a timer that raised one, so a single typo would stop drift correction until the
operator restarts. It is written as conditions naming the field (`Ready=False`,
`Degraded=True`, reason `InvalidSpec`) and the handler returns normally; the next pass
(an edit, or the timer) looks again, and the conditions clear once the spec or the
Secret is fixed.

`register` is called by `__main__` with the parsed settings; tests call it with a registry
of their own and a `Kube` aimed at a test API.
"""

from __future__ import annotations

import asyncio
import collections.abc
import datetime
import logging
import pathlib
import socket
import time
import typing
import uuid

import kopf

from walrus_operator import (
    addresses,
    admin,
    backoff,
    conditions,
    epoch_plan,
    epochs,
    errors,
    gateways,
    kube,
    leadership,
    metrics,
    naming,
    networks,
    nodeclient,
    nodes,
    outcome,
    pools,
    rollouts,
    settings,
    status,
    tls_secrets,
)

__all__ = ["register", "to_kopf"]

_GROUP, _VERSION = naming.API_GROUP, naming.API_VERSION
_UNAVAILABLE_RETRY_SECONDS = 10.0
_LEASE_NAME = "walrus-operator"
_POD_NAMESPACE_FILE = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_DEFAULT_LEASE_NAMESPACE = "walrus-system"


def _lease_namespace(config: settings.OperatorSettings) -> str:
    """The setting, else the pod's own namespace, else `walrus-system`."""
    if config.lease_namespace:
        return config.lease_namespace
    try:
        return _POD_NAMESPACE_FILE.read_text().strip() or _DEFAULT_LEASE_NAMESPACE
    except OSError:
        return _DEFAULT_LEASE_NAMESPACE


def to_kopf(error: errors.WalrusOperatorError, *, resync: float) -> Exception | None:
    """The Kopf exception that gives `error` its retry semantics; None for a spec problem,
    which the object's conditions report and the next pass re-checks (never a
    `kopf.PermanentError`, which would stop the object's timer for good)."""
    if isinstance(error, errors.SpecInvalid):
        return None
    if isinstance(error, errors.NotYet):
        return kopf.TemporaryError(str(error), delay=error.delay)
    if isinstance(error, errors.KubeUnavailable):
        return kopf.TemporaryError(str(error), delay=_UNAVAILABLE_RETRY_SECONDS)
    return kopf.TemporaryError(str(error), delay=resync)


def _event_reason(error: errors.WalrusOperatorError) -> tuple[str, bool]:
    """(reason, is_warning) of the Kubernetes Event posted for `error`."""
    if isinstance(error, errors.SpecInvalid):
        return "InvalidSpec", True
    if isinstance(error, errors.DeletionBlocked):
        return "DeletionBlocked", False
    if isinstance(error, errors.NotYet):
        return "Waiting", False
    return "ApiError", True


def _already_reported(error: errors.WalrusOperatorError, body: kopf.Body) -> bool:
    """True for a spec problem the object's Ready condition already states: its Event was
    posted when the problem appeared, and each resync must not post it again."""
    if not isinstance(error, errors.SpecInvalid):
        return False
    return any(
        c.get("type") == conditions.Type.READY
        and c.get("reason") == conditions.Reason.INVALID_SPEC
        and c.get("message") == str(error)
        for c in (body.get("status") or {}).get("conditions") or []
    )


class _Reporter:
    """Writes an outcome onto the object and into metrics/events; raises for Kopf."""

    def __init__(self, kind: str, the_metrics: metrics.Metrics, resync: float) -> None:
        self.kind = kind
        self.metrics = the_metrics
        self.resync = resync

    def finish(self, result: outcome.Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
        patch.status.update(result.status)
        for event in result.events:
            kopf.event(
                body,
                type="Warning" if event.warning else "Normal",
                reason=event.reason,
                message=event.message,
            )
        if result.error is None:
            self.metrics.reconciles.labels(kind=self.kind, outcome="ok").inc()
            return
        self.fail(result.error, body)

    def fail(self, error: errors.WalrusOperatorError, body: kopf.Body) -> None:
        """Count and announce `error`; raise what Kopf needs to retry it (a spec problem
        returns: its conditions say it, and the timer keeps looking)."""
        reason, warning = _event_reason(error)
        label = "invalid" if isinstance(error, errors.SpecInvalid) else "retry"
        if warning:
            self.metrics.errors.labels(kind=self.kind, error=type(error).__name__).inc()
            if not _already_reported(error, body):
                kopf.warn(body, reason=reason, message=str(error))
        else:
            kopf.event(body, type="Normal", reason=reason, message=str(error))
        self.metrics.reconciles.labels(kind=self.kind, outcome=label).inc()
        translated = to_kopf(error, resync=self.resync)
        if translated is not None:
            raise translated


Reconcile = collections.abc.Callable[
    [collections.abc.Mapping[str, typing.Any]], collections.abc.Awaitable[outcome.Outcome]
]


async def _run(
    reconcile: Reconcile,
    reporter: _Reporter,
    body: kopf.Body,
    patch: kopf.Patch,
    leader: leadership.Leadership,
) -> None:
    if not leader.leading:
        return  # a standby: the leader's timers cover this object
    started = time.monotonic()
    ok = False
    try:
        ok = await _pass(reconcile, reporter, body, patch)
    finally:
        reporter.metrics.passed(reporter.kind, time.monotonic() - started, ok=ok, now=time.time())


async def _pass(
    reconcile: Reconcile, reporter: _Reporter, body: kopf.Body, patch: kopf.Patch
) -> bool:
    """One pass, its outcome written and reported; True if nothing went wrong."""
    try:
        result = await reconcile(body)
    except errors.SpecInvalid as problem:
        # Found past parsing (a malformed admin Secret, say): state it on the object.
        meta = body.get("metadata", {})
        invalid = status.invalid_status(
            int(meta.get("generation", 0)),
            (body.get("status") or {}).get("conditions", []),
            problem,
            now=outcome.utc_now(),
            with_phase=reporter.kind == "WalrusNode",
        )
        result = outcome.Outcome(invalid, problem)
    except errors.WalrusOperatorError as error:
        reporter.fail(error, body)
        return False
    except Exception as error:  # a bug: count it, let Kopf log it and retry with backoff
        reporter.metrics.errors.labels(kind=reporter.kind, error=type(error).__name__).inc()
        raise
    reporter.finish(result, body, patch)
    return result.error is None


async def _elect(
    the_kube: kube.Kube, config: settings.OperatorSettings
) -> tuple[leadership.Leadership, asyncio.Task[None] | None]:
    """This replica's Leadership, after a first round (a lone replica leads from the
    start), and the task that keeps contending or renewing."""
    leader = leadership.Leadership(
        the_kube if config.leader_election else None,
        namespace=_lease_namespace(config),
        name=_LEASE_NAME,
        identity=f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}",
        duration=datetime.timedelta(seconds=config.lease_seconds),
    )
    if not config.leader_election:
        return leader, None
    try:
        await leader.step()
    except errors.KubeError as failed:
        logging.getLogger(__name__).warning("leader election: %s", failed)
    return leader, asyncio.create_task(leader.run())


def _network_reconciler(
    the_kube: kube.Kube,
    node_client: nodeclient.NodeClient,
    admin_keys: admin.AdminKeys,
    node_addresses: addresses.Addresses,
    the_metrics: metrics.Metrics,
    config: settings.OperatorSettings,
    tls: tls_secrets.TlsSecrets | None,
    resync: float,
) -> networks.NetworkReconciler:
    """The network reconciler with its epoch controller, roller, NetworkPolicy and TLS."""
    roller = rollouts.Rollouts(
        the_kube,
        timeout=datetime.timedelta(seconds=config.rollout_timeout_seconds),
        settle=datetime.timedelta(seconds=config.rollout_settle_seconds),
        max_in_flight=config.rollout_max_in_flight,
    )

    def limit(seconds: float) -> datetime.timedelta | None:
        return datetime.timedelta(seconds=seconds) if seconds > 0 else None

    limits = epoch_plan.Limits(
        epoch_change_deadline=limit(config.epoch_change_deadline_seconds),
        member_unreachable=limit(config.member_unreachable_seconds),
    )
    controller = epochs.Controller(
        the_kube,
        node_client,
        admin_keys,
        node_addresses,
        the_metrics,
        limits=limits,
        backoff=backoff.Backoff(
            datetime.timedelta(seconds=config.epoch_poll_seconds),
            datetime.timedelta(seconds=config.node_backoff_max_seconds),
        ),
        rollout=roller,
        tls=tls,
    )
    return networks.NetworkReconciler(
        controller,
        kube=the_kube,
        operator_namespace=config.pod_namespace or None,
        policy_resync_seconds=resync,
        tls=tls,
        deletion_retry_seconds=config.deletion_retry_seconds,
    )


def _configure_kopf(settings: kopf.OperatorSettings) -> None:
    """The operator's finalizer name, annotations under its API group, Warning events."""
    settings.persistence.finalizer = naming.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=naming.API_GROUP)
    settings.posting.level = logging.WARNING


def _wait_for_leadership(leader: leadership.Leadership, config: settings.OperatorSettings) -> None:
    """A standby must not let a deletion through: it waits, as the leader's guard would."""
    if not leader.leading:
        raise kopf.TemporaryError("not the leader; waiting", delay=config.lease_seconds)


def _wire(
    memo: kopf.Memo,
    config: settings.OperatorSettings,
    make_addresses: collections.abc.Callable[[kube.Kube], addresses.Addresses] | None,
) -> None:
    """The reconcilers and reporters, kept in Kopf's memo (after `memo.kube` and
    `memo.metrics`)."""
    resync = config.resync_seconds
    node_addresses = (
        make_addresses(memo.kube)
        if make_addresses is not None
        else addresses.for_settings(config, memo.kube)
    )
    admin_keys = admin.AdminKeys(memo.kube, ttl=resync)
    memo.node_client = nodeclient.GrpcNodeClient(config.node_timeout_seconds)
    tls = tls_secrets.TlsSecrets(memo.kube, config) if config.node_tls else None
    memo.nodes = nodes.NodeReconciler(
        memo.kube, config, memo.metrics, admin=admin_keys, addresses=node_addresses, tls=tls
    )
    memo.pools = pools.PoolReconciler(memo.kube, memo.metrics)
    memo.networks = _network_reconciler(
        memo.kube,
        memo.node_client,
        admin_keys,
        node_addresses,
        memo.metrics,
        config,
        tls,
        resync,
    )
    memo.node_reporter = _Reporter("WalrusNode", memo.metrics, resync)
    memo.pool_reporter = _Reporter("WalrusNodePool", memo.metrics, resync)
    memo.network_reporter = _Reporter("WalrusNetwork", memo.metrics, resync)
    memo.gateways = gateways.GatewayReconciler(
        memo.kube, config.node_image, config.cluster_domain, node_tls=config.node_tls
    )
    memo.gateway_reporter = _Reporter("WalrusGateway", memo.metrics, resync)


def register(
    registry: kopf.OperatorRegistry,
    config: settings.OperatorSettings,
    *,
    make_kube: collections.abc.Callable[[], kube.Kube] = kube.Kube.from_environment,
    make_addresses: collections.abc.Callable[[kube.Kube], addresses.Addresses] | None = None,
    serve_metrics: bool = True,
    login: bool = True,
) -> None:
    """Register all handlers on `registry`, configured by `config`.

    Tests replace the API client (`make_kube`), how nodes are addressed
    (`make_addresses`; the settings' endpoint mode otherwise) and Kopf's login (`login`:
    False when the test registers its own)."""
    if login:

        @kopf.on.login(registry=registry)
        def credentials(**kwargs: typing.Any) -> kopf.ConnectionInfo | None:
            """In a pod: its service account; elsewhere: $KUBECONFIG or ~/.kube/config.
            (Kopf finds no credentials by itself without the kubernetes client package.)"""
            return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    resync = config.resync_seconds

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
        _configure_kopf(settings)
        memo.kube = make_kube()
        memo.leadership, memo.leadership_task = await _elect(memo.kube, config)
        memo.metrics = metrics.Metrics()
        if serve_metrics and config.metrics_port:
            memo.metrics.serve(config.metrics_port)
        _wire(memo, config, make_addresses)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: object) -> None:
        task = memo.get("leadership_task")
        if task is not None:
            task.cancel()
        await memo.node_client.close()
        await memo.kube.close()

    # ------------------------------------------------------------------ WalrusNode
    @kopf.on.resume(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    @kopf.on.create(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    @kopf.on.update(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    async def node_changed(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object
    ) -> None:
        await _run(memo.nodes.reconcile, memo.node_reporter, body, patch, memo.leadership)

    @kopf.timer(
        _GROUP,
        _VERSION,
        "walrusnodes",
        id="node-resync",
        interval=resync,
        idle=resync,
        registry=registry,
    )
    async def node_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object) -> None:
        await _run(memo.nodes.reconcile, memo.node_reporter, body, patch, memo.leadership)

    @kopf.on.delete(_GROUP, _VERSION, "walrusnodes", id="node-deletion-guard", registry=registry)
    async def node_deleted(body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
        _wait_for_leadership(memo.leadership, config)
        try:
            memo.nodes.check_deletion(body)
        except errors.DeletionBlocked as blocked:
            memo.node_reporter.fail(blocked, body)

    # ------------------------------------------------------------------ WalrusNodePool
    @kopf.on.resume(_GROUP, _VERSION, "walrusnodepools", id="pool", registry=registry)
    @kopf.on.create(_GROUP, _VERSION, "walrusnodepools", id="pool", registry=registry)
    @kopf.on.update(_GROUP, _VERSION, "walrusnodepools", id="pool", registry=registry)
    @kopf.timer(
        _GROUP, _VERSION, "walrusnodepools", id="pool-resync", interval=resync, registry=registry
    )
    async def pool_changed(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object
    ) -> None:
        await _run(memo.pools.reconcile, memo.pool_reporter, body, patch, memo.leadership)

    # ------------------------------------------------------------------ WalrusNetwork
    # The timer is the epoch controller's clock: every pass observes the nodes and moves
    # the epoch on (walrus_operator.epochs). Routine waiting is this interval, not
    # TemporaryError, which Kopf would log as an error and post as a Warning each time.
    @kopf.on.resume(_GROUP, _VERSION, "walrusnetworks", id="network", registry=registry)
    @kopf.on.create(_GROUP, _VERSION, "walrusnetworks", id="network", registry=registry)
    @kopf.on.update(_GROUP, _VERSION, "walrusnetworks", id="network", registry=registry)
    @kopf.timer(
        _GROUP,
        _VERSION,
        "walrusnetworks",
        id="network-epochs",
        interval=config.epoch_poll_seconds,
        registry=registry,
    )
    async def network_changed(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object
    ) -> None:
        await _run(memo.networks.reconcile, memo.network_reporter, body, patch, memo.leadership)

    @kopf.on.delete(
        _GROUP, _VERSION, "walrusnetworks", id="network-deletion-guard", registry=registry
    )
    async def network_deleted(body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
        _wait_for_leadership(memo.leadership, config)
        try:
            await memo.networks.check_deletion(body)
        except errors.DeletionBlocked as blocked:
            memo.network_reporter.fail(blocked, body)
        except errors.KubeError as failed:
            memo.network_reporter.fail(failed, body)

    # ------------------------------------------------------------------ WalrusGateway
    @kopf.on.resume(_GROUP, _VERSION, "walrusgateways", id="gateway", registry=registry)
    @kopf.on.create(_GROUP, _VERSION, "walrusgateways", id="gateway", registry=registry)
    @kopf.on.update(_GROUP, _VERSION, "walrusgateways", id="gateway", registry=registry)
    @kopf.timer(
        _GROUP, _VERSION, "walrusgateways", id="gateway-resync", interval=resync, registry=registry
    )
    async def gateway_changed(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object
    ) -> None:
        await _run(memo.gateways.reconcile, memo.gateway_reporter, body, patch, memo.leadership)
