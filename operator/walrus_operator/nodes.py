"""The WalrusNode reconciler: from the spec and the observed children to applied objects
and a status.

One pass (`reconcile`) is level-based and idempotent: it reads the network and the
existing StatefulSet/Secret/PVC, builds every child with the pure builders, applies them
(server-side apply), creates the key Secret if it is missing (never replacing one), grows
the data PVC when `spec.storage.size` went up and the StorageClass allows expansion, and
computes the status from what it saw. The same pass runs on create, update, resume and on
a timer, so drift is undone within `resync_seconds`. The ConfigMap carries the network's
committee file and a node.yaml that trusts the operator's admin key
(`walrus_operator.admin`). Disruptions are budgeted per network by the epoch controller
(`walrus_operator.rollouts`); a per-node PodDisruptionBudget left by an older release is
deleted, because the eviction API refuses pods matched by two budgets. The node's epoch fields
(`epoch`, `shardsOwned`, `shardsSyncing`, `staking`) are the epoch controller's.

`spec.paused: true` skips every write except the status. Deletion is guarded by
`check_deletion`: a node whose status says it owns shards stays until it owns none or
carries `walrus-k8s.io/force-delete: "true"`.

Kopf-free: handlers call this and translate `Outcome.error`. Called by `handlers`.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import time
import typing

from walrus_operator import (
    addresses,
    admin,
    epoch_record,
    errors,
    keys,
    kube,
    metrics,
    models,
    naming,
    outcome,
    quantity,
    settings,
    status,
    tls_secrets,
)
from walrus_operator.builders import children, context, secret, statefulset

__all__ = ["NodeReconciler"]

Body = collections.abc.Mapping[str, typing.Any]
_UNPROCESSABLE = 422


def _claim_observation(
    pvc: Body | None, storage_class: Body | None, name: str
) -> status.ClaimObservation | None:
    if pvc is None:
        return None
    capacity = pvc.get("status", {}).get("capacity", {}).get("storage")
    resizing = [
        str(c.get("type"))
        for c in pvc.get("status", {}).get("conditions", []) or []
        if c.get("status") == "True"
    ]
    allowed = None if storage_class is None else bool(storage_class.get("allowVolumeExpansion"))
    return status.ClaimObservation(
        name=name,
        capacity=capacity if isinstance(capacity, str) else None,
        resize_status=", ".join(resizing),
        expansion_allowed=allowed,
    )


def _rolled_out(sts: Body | None) -> bool:
    if sts is None:
        return False
    sts_status = sts.get("status", {}) or {}
    generation = sts.get("metadata", {}).get("generation")
    return bool(
        sts_status.get("observedGeneration") == generation
        and sts_status.get("currentRevision") == sts_status.get("updateRevision")
    )


@dataclasses.dataclass
class NodeReconciler:
    kube: kube.Kube
    settings: settings.OperatorSettings
    metrics: metrics.Metrics
    admin: admin.AdminKeys
    addresses: addresses.Addresses
    clock: collections.abc.Callable[[], str] = outcome.utc_now
    _budgets_checked: set[str] = dataclasses.field(default_factory=set)
    _networks: dict[tuple[str, str], tuple[float, Body | None]] = dataclasses.field(
        default_factory=dict
    )
    tls: tls_secrets.TlsSecrets | None = None
    """Keeps the node's certificate Secret when the operator runs with node TLS."""

    async def reconcile(self, body: Body) -> outcome.Outcome:
        meta = body.get("metadata", {})
        try:
            node = models.parse_node(body)
        except errors.SpecInvalid as problem:
            self.metrics.node_phase(meta.get("namespace", ""), meta.get("name", ""), "Invalid")
            return outcome.Outcome(
                status.invalid_status(
                    int(meta.get("generation", 0)),
                    body.get("status", {}).get("conditions", []),
                    problem,
                    now=self.clock(),
                ),
                problem,
            )
        result = await self._reconcile(node)
        self.metrics.node_phase(
            node.metadata.namespace, node.metadata.name, result.status.get("phase")
        )
        return result

    async def _reconcile(self, node: models.WalrusNode) -> outcome.Outcome:
        name, namespace = node.metadata.name, node.metadata.namespace
        endpoint = await self.addresses.endpoint(node)
        network_body = await self._network(namespace, node.spec.network_ref.name)
        if network_body is None:
            seen = status.NodeObservation(network_found=False, endpoint=endpoint)
            missing = errors.NotYet(
                f"spec.networkRef.name: WalrusNetwork {node.spec.network_ref.name!r} not found",
                delay=self.settings.resync_seconds,
            )
            return outcome.Outcome(status.node_status(node, seen, now=self.clock()), missing)
        network = models.parse_network(network_body)
        try:
            record = epoch_record.load(network.status.epoch_state)
            committee_file = None if record is None else record.committee_file()
        except errors.StateInvalid:
            committee_file = None  # the epoch controller reports this on the network
        sts = await self.kube.get(kube.Kind.STATEFUL_SET, naming.statefulset_name(name), namespace)
        existing_size = None if sts is None else statefulset.claim_template_size(sts)
        ctx = context.NodeContext(
            node=node,
            image=node.spec.image or self.settings.node_image,
            shard_count=network.spec.shard_count,
            committee_file=committee_file,
            # A paused node's children are not applied: no need to make the admin key.
            admin_public_keys=() if node.spec.paused else (await self.admin.public_key(namespace),),
            claim_size=existing_size or node.spec.storage.size,
            cluster_domain=self.settings.cluster_domain,
            tls=self.tls is not None,
        )
        if self.tls is not None and not node.spec.paused:
            await self._ensure_certificate(node, network)
        problem: errors.SpecInvalid | None = None
        try:
            desired = children.build_children(ctx)
        except errors.SpecInvalid as exc:
            problem, desired = exc, []
        public_key = await self._ensure_key(ctx, create=not node.spec.paused)
        if not node.spec.paused:
            for body in desired:
                try:
                    applied = await self.kube.apply(body)
                except errors.KubeError as exc:
                    if exc.status != _UNPROCESSABLE:
                        raise
                    # The API server refused what the spec asked for (a malformed pod
                    # overlay, say): report it on the node instead of retrying forever.
                    problem = errors.SpecInvalid(
                        "spec", f"{body['kind']} {body['metadata']['name']} refused: {exc}"
                    )
                    break
                if body["kind"] == "StatefulSet":
                    sts = applied
            await self._drop_node_budget(name, namespace)
        claim = await self._observe_claim(node, grow=not node.spec.paused and problem is None)
        seen = status.NodeObservation(
            problem=problem,
            statefulset_found=sts is not None,
            ready_replicas=int(((sts or {}).get("status") or {}).get("readyReplicas") or 0),
            rolled_out=_rolled_out(sts),
            claim=claim,
            public_key=public_key,
            endpoint=endpoint,
        )
        return outcome.Outcome(status.node_status(node, seen, now=self.clock()), problem)

    async def _network(self, namespace: str, name: str) -> Body | None:
        """The network, read at most once per `epoch_poll_seconds`: every node's timer
        needs it, and it carries the whole epoch state (a hundred nodes would otherwise
        fetch it a hundred times per resync). A copy that old only delays a committee
        file by as much; the epoch controller delivers committees to nodes itself."""
        key = (namespace, name)
        now = time.monotonic()
        cached = self._networks.get(key)
        if cached is not None and now - cached[0] < self.settings.epoch_poll_seconds:
            return cached[1]
        body = await self.kube.get(kube.Kind.WALRUS_NETWORK, name, namespace)
        self._networks[key] = (now, body)
        return body

    async def _drop_node_budget(self, name: str, namespace: str) -> None:
        """Delete the per-node PodDisruptionBudget an older release made (once per node and
        process; only one this operator manages)."""
        if name in self._budgets_checked:
            return
        old = await self.kube.get(kube.Kind.PDB, naming.pdb_name(name), namespace)
        labels = ((old or {}).get("metadata") or {}).get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") == naming.MANAGED_BY and (
            labels.get(naming.LABEL_NODE) == name
        ):
            await self.kube.delete(kube.Kind.PDB, naming.pdb_name(name), namespace)
        self._budgets_checked.add(name)

    async def _ensure_certificate(
        self, node: models.WalrusNode, network: models.WalrusNetwork
    ) -> None:
        """The node's `<node>-tls` Secret, issued or renewed by the network's CA."""
        assert self.tls is not None
        name, namespace = node.metadata.name, node.metadata.namespace
        authority = await self.tls.authority(namespace, network.metadata.name, network.metadata.uid)
        await self.tls.ensure(
            namespace,
            naming.tls_secret_name(name),
            authority=authority,
            network=network.metadata.name,
            owner=("WalrusNode", name, node.metadata.uid),
            names=tls_secrets.node_names(name, namespace, self.settings.cluster_domain),
            server=True,
        )

    async def _ensure_key(self, ctx: context.NodeContext, *, create: bool) -> str | None:
        """The node's public key; the key Secret is created first if it is missing."""
        secret_name = naming.keys_secret_name(ctx.name)
        existing = await self.kube.get(kube.Kind.SECRET, secret_name, ctx.namespace)
        if existing is None and create:
            pem = keys.generate_private_key_pem()
            created = await self.kube.create(secret.build_keys_secret(ctx, pem))
            if created is not None:
                return keys.public_key(pem)
            existing = await self.kube.get(kube.Kind.SECRET, secret_name, ctx.namespace)
        if existing is None:
            return None
        encoded = (existing.get("data") or {}).get("node.key")
        if not isinstance(encoded, str):
            return None
        try:
            return keys.public_key(base64.b64decode(encoded))
        except errors.SpecInvalid:
            return None

    async def _observe_claim(
        self, node: models.WalrusNode, *, grow: bool
    ) -> status.ClaimObservation | None:
        """The data PVC, after asking it to grow to `spec.storage.size` if it is smaller."""
        claim_name = naming.data_claim_name(node.metadata.name)
        namespace = node.metadata.namespace
        pvc = await self.kube.get(kube.Kind.PVC, claim_name, namespace)
        if pvc is None:
            return None
        class_name = (pvc.get("spec") or {}).get("storageClassName")
        storage_class = (
            await self.kube.get(kube.Kind.STORAGE_CLASS, class_name) if class_name else None
        )
        requested = (
            ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        )
        wanted = node.spec.storage.size
        allowed = storage_class is not None and bool(storage_class.get("allowVolumeExpansion"))
        if (
            grow
            and allowed
            and isinstance(requested, str)
            and quantity.parse(wanted) > quantity.parse(requested)
        ):
            pvc = await self.kube.merge_patch(
                kube.Kind.PVC,
                claim_name,
                namespace,
                {"spec": {"resources": {"requests": {"storage": wanted}}}},
            )
        return _claim_observation(pvc, storage_class, claim_name)

    def check_deletion(self, body: Body) -> None:
        """Raise `errors.DeletionBlocked` while the node owns shards (unless forced)."""
        meta = body.get("metadata", {})
        annotations = meta.get("annotations") or {}
        owned = int((body.get("status") or {}).get("shardsOwned") or 0)
        if owned > 0 and annotations.get(naming.ANNOTATION_FORCE_DELETE) != "true":
            raise errors.DeletionBlocked(
                f"the node still owns {owned} shards: it is deleted once the epoch "
                f"controller has moved them (annotate {naming.ANNOTATION_EXCLUDE}=true to "
                f'ask for that), or at once with {naming.ANNOTATION_FORCE_DELETE}="true", '
                "which loses those shards' slivers on this node",
                delay=self.settings.deletion_retry_seconds,
            )
        self.metrics.node_phase(meta.get("namespace", ""), meta.get("name", ""), None)
