"""The WalrusNetwork reconciler: checks the spec, keeps the network's NetworkPolicy, hands
the network to the epoch controller, and guards its deletion.

A network whose spec cannot be parsed gets `Ready=False/InvalidSpec` (through the handler's
status patch) and nothing else; otherwise its NetworkPolicy is applied (when
`spec.networkPolicy.enabled`), with node TLS its CA, the operator's client certificate
and the network's client certificate (gateways, users) are kept
(`walrus_operator.tls_secrets`), and one pass of the epoch controller
(`walrus_operator.epochs`) observes the network's nodes, moves its epochs on and writes
its status. `check_deletion` holds a network's deletion (through the operator's
finalizer) while any WalrusNode still names it in `spec.networkRef`: deleting the network
first would delete its epoch state, and the nodes would then refuse any new history as
stale. Called by `handlers` on events, on the network's timer and on deletion.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import time
import typing

from walrus_operator import epochs, errors, kube, models, naming, outcome, status, tls_secrets
from walrus_operator.builders import network_policy

__all__ = ["NetworkReconciler"]

Body = collections.abc.Mapping[str, typing.Any]
_LISTED = 5


@dataclasses.dataclass
class NetworkReconciler:
    epochs: epochs.EpochController
    kube: kube.Kube | None = None
    """Where the NetworkPolicy is applied and deletion is guarded; None leaves policies
    alone and guards nothing (tests of epochs)."""
    operator_namespace: str | None = None
    policy_resync_seconds: float = 60.0
    """The policy is applied when it changes, and otherwise at most this often (the network's
    timer runs every few seconds; drift in the policy is undone within this period)."""
    tls: tls_secrets.TlsSecrets | None = None
    """Keeps the network's CA and the operator's client certificate, with node TLS on."""
    monotonic: collections.abc.Callable[[], float] = time.monotonic
    _applied: dict[tuple[str, str], tuple[str, float]] = dataclasses.field(default_factory=dict)
    clock: collections.abc.Callable[[], str] = outcome.utc_now
    deletion_retry_seconds: float = 30.0

    async def reconcile(self, body: Body) -> outcome.Outcome:
        meta = body.get("metadata", {})
        try:
            network = models.parse_network(body)
        except errors.SpecInvalid as problem:
            previous = (body.get("status") or {}).get("conditions", [])
            generation = int(meta.get("generation", 0))
            invalid = status.invalid_status(
                generation, previous, problem, now=self.clock(), with_phase=False
            )
            return outcome.Outcome(invalid, problem)
        await self._keep_policy(network)
        if self.tls is not None:
            namespace, name, uid = (
                network.metadata.namespace,
                network.metadata.name,
                network.metadata.uid,
            )
            authority = await self.tls.authority(namespace, name, uid)
            for secret_name, common_name in (
                (naming.operator_tls_secret_name(name), tls_secrets.OPERATOR_NAME),
                (naming.client_tls_secret_name(name), tls_secrets.CLIENT_NAME),
            ):
                await self.tls.ensure(
                    namespace,
                    secret_name,
                    authority=authority,
                    network=name,
                    owner=("WalrusNetwork", name, uid),
                    names=(common_name,),
                    server=False,
                )
        return await self.epochs.run(network.metadata.namespace, network.metadata.name)

    async def check_deletion(self, body: Body) -> None:
        """Raise `errors.DeletionBlocked` while WalrusNodes reference the network."""
        if self.kube is None:
            return
        meta = body.get("metadata", {})
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
        members = sorted(
            item["metadata"]["name"]
            for item in await self.kube.list_by_labels(kube.Kind.WALRUS_NODE, namespace, {})
            if ((item.get("spec") or {}).get("networkRef") or {}).get("name") == name
        )
        if members:
            shown = ", ".join(members[:_LISTED])
            more = f" and {len(members) - _LISTED} more" if len(members) > _LISTED else ""
            raise errors.DeletionBlocked(
                f"{len(members)} WalrusNodes still reference this network ({shown}{more}): "
                "delete them (or their pools) first; the network holds the epoch history "
                "they run",
                delay=self.deletion_retry_seconds,
            )

    async def _keep_policy(self, network: models.WalrusNetwork) -> None:
        """Apply the network's NetworkPolicy (or delete it, when disabled) if it changed or
        was last written more than `policy_resync_seconds` ago."""
        if self.kube is None:
            return
        namespace, name = network.metadata.namespace, network.metadata.name
        enabled = network.spec.network_policy.enabled
        body = network_policy.build_network_policy(network, self.operator_namespace)
        digest = json.dumps(body, sort_keys=True) if enabled else ""
        last = self._applied.get((namespace, name))
        now = self.monotonic()
        if last is not None and last[0] == digest and now - last[1] < self.policy_resync_seconds:
            return
        if enabled:
            await self.kube.apply(body)
        else:
            await self.kube.delete(
                kube.Kind.NETWORK_POLICY, network_policy.policy_name(name), namespace
            )
        self._applied[namespace, name] = (digest, now)
