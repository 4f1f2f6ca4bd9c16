"""Every Kopf handler of the operator, registered in one place.

Each handler is thin: take the body → call a reconciler (`nodes`, `pools`, `networks`) →
write its status patch → translate its error for Kopf. The translation table is here and
only here:

| operator error              | Kopf                          | also                        |
|-----------------------------|-------------------------------|-----------------------------|
| `SpecInvalid`               | `PermanentError` (no retry)   | Warning `InvalidSpec` (once)|
| `NotYet` / `DeletionBlocked`| `TemporaryError(delay)`       | Normal event                |
| `KubeUnavailable`           | `TemporaryError(10 s)`        |                             |
| other `KubeError`           | `TemporaryError(resync)`      | Warning event `ApiError`    |

Level-based: the create/update/resume handlers and a per-object timer run the same
reconcile pass, so drift (a deleted child, a hand edit) is undone within
`resync_seconds`. A WalrusNetwork's timer runs every `epoch_poll_seconds`: it drives the
epoch controller, which writes the network's status itself and hands back Events to post.
`register` is called by `__main__` with the parsed settings; tests call it with a registry
of their own and a `Kube` aimed at a test API.
"""

from __future__ import annotations

import collections.abc
import logging
import typing

import kopf

from walrus_operator import (
    addresses,
    admin,
    conditions,
    epochs,
    errors,
    gateways,
    kube,
    metrics,
    naming,
    networks,
    nodeclient,
    nodes,
    outcome,
    pools,
    settings,
)

__all__ = ["register", "to_kopf"]

_GROUP, _VERSION = naming.API_GROUP, naming.API_VERSION
_UNAVAILABLE_RETRY_SECONDS = 10.0


def to_kopf(error: errors.WalrusOperatorError, *, resync: float) -> Exception:
    """The Kopf exception that gives `error` its retry semantics."""
    if isinstance(error, errors.SpecInvalid):
        return kopf.PermanentError(str(error))
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

    def fail(self, error: errors.WalrusOperatorError, body: kopf.Body) -> typing.NoReturn:
        reason, warning = _event_reason(error)
        label = "invalid" if isinstance(error, errors.SpecInvalid) else "retry"
        if warning:
            self.metrics.errors.labels(kind=self.kind, error=type(error).__name__).inc()
            if not _already_reported(error, body):
                kopf.warn(body, reason=reason, message=str(error))
        else:
            kopf.event(body, type="Normal", reason=reason, message=str(error))
        self.metrics.reconciles.labels(kind=self.kind, outcome=label).inc()
        raise to_kopf(error, resync=self.resync)


Reconcile = collections.abc.Callable[
    [collections.abc.Mapping[str, typing.Any]], collections.abc.Awaitable[outcome.Outcome]
]


async def _run(
    reconcile: Reconcile, reporter: _Reporter, body: kopf.Body, patch: kopf.Patch
) -> None:
    try:
        result = await reconcile(body)
    except errors.WalrusOperatorError as error:
        reporter.fail(error, body)
    except Exception as error:  # a bug: count it, let Kopf log it and retry with backoff
        reporter.metrics.errors.labels(kind=reporter.kind, error=type(error).__name__).inc()
        raise
    reporter.finish(result, body, patch)


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
        settings.persistence.finalizer = naming.FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=naming.API_GROUP
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=naming.API_GROUP
        )
        settings.posting.level = logging.WARNING
        memo.kube = make_kube()
        memo.metrics = metrics.Metrics()
        if serve_metrics and config.metrics_port:
            memo.metrics.serve(config.metrics_port)
        node_addresses = (
            make_addresses(memo.kube)
            if make_addresses is not None
            else addresses.for_settings(config, memo.kube)
        )
        admin_keys = admin.AdminKeys(memo.kube, ttl=resync)
        memo.node_client = nodeclient.GrpcNodeClient(config.node_timeout_seconds)
        memo.nodes = nodes.NodeReconciler(
            memo.kube, config, memo.metrics, admin=admin_keys, addresses=node_addresses
        )
        memo.pools = pools.PoolReconciler(memo.kube, memo.metrics)
        memo.networks = networks.NetworkReconciler(
            epochs.Controller(memo.kube, memo.node_client, admin_keys, node_addresses, memo.metrics)
        )
        memo.node_reporter = _Reporter("WalrusNode", memo.metrics, resync)
        memo.pool_reporter = _Reporter("WalrusNodePool", memo.metrics, resync)
        memo.network_reporter = _Reporter("WalrusNetwork", memo.metrics, resync)
        memo.gateways = gateways.GatewayReconciler(
            memo.kube, config.node_image, config.cluster_domain
        )
        memo.gateway_reporter = _Reporter("WalrusGateway", memo.metrics, resync)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: object) -> None:
        await memo.node_client.close()
        await memo.kube.close()

    # ------------------------------------------------------------------ WalrusNode
    @kopf.on.resume(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    @kopf.on.create(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    @kopf.on.update(_GROUP, _VERSION, "walrusnodes", id="node", registry=registry)
    async def node_changed(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: object
    ) -> None:
        await _run(memo.nodes.reconcile, memo.node_reporter, body, patch)

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
        await _run(memo.nodes.reconcile, memo.node_reporter, body, patch)

    @kopf.on.delete(_GROUP, _VERSION, "walrusnodes", id="node-deletion-guard", registry=registry)
    async def node_deleted(body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
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
        await _run(memo.pools.reconcile, memo.pool_reporter, body, patch)

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
        await _run(memo.networks.reconcile, memo.network_reporter, body, patch)

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
        await _run(memo.gateways.reconcile, memo.gateway_reporter, body, patch)
