"""The WalrusNodePool reconciler: keeps `replicas` WalrusNodes named `<pool>-<ordinal>`.

Each pass applies every wanted member from the template (creating missing ones and
carrying template changes to existing ones) and handles surplus members, highest ordinal
first, in two steps: mark the member `walrus-k8s.io/exclude-from-committee: "true"` so the
epoch controller leaves it out of the next committee and its shards move, then delete it
once its status says it owns no shards and the network's epoch state agrees (it owns none
in the current committee and every shard it handed over has been received). Raising
`replicas` again before that cancels the removal (the annotation is cleared when the
member is wanted again). Level-based and idempotent like the node reconciler; called by
`handlers` on events and on a timer.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from walrus_operator import epoch_record, errors, kube, metrics, models, naming, outcome, status
from walrus_operator.builders import pool as pool_builder

__all__ = ["PoolReconciler"]

Body = collections.abc.Mapping[str, typing.Any]


@dataclasses.dataclass
class PoolReconciler:
    kube: kube.Kube
    metrics: metrics.Metrics
    clock: collections.abc.Callable[[], str] = outcome.utc_now

    async def reconcile(self, body: Body) -> outcome.Outcome:
        meta = body.get("metadata", {})
        previous = (body.get("status") or {}).get("conditions", [])
        try:
            pool = models.parse_pool(body)
        except errors.SpecInvalid as problem:
            generation = int(meta.get("generation", 0))
            invalid = status.invalid_status(
                generation, previous, problem, now=self.clock(), with_phase=False
            )
            return outcome.Outcome(invalid, problem)
        namespace = pool.metadata.namespace
        selector = {naming.LABEL_POOL: pool.metadata.name}
        members = {
            m["metadata"]["name"]: m
            for m in await self.kube.list_by_labels(kube.Kind.WALRUS_NODE, namespace, selector)
        }
        for ordinal in range(pool.spec.replicas):
            member = pool_builder.build_member(pool, ordinal)
            name = member["metadata"]["name"]
            if self._excluded(members.get(name)):
                await self._set_exclusion(name, namespace, excluded=False)
            await self.kube.apply(member)
        for name in pool_builder.surplus_members(pool, members):
            await self._remove(members[name])
        current = await self.kube.list_by_labels(kube.Kind.WALRUS_NODE, namespace, selector)
        return outcome.Outcome(status.pool_status(pool, current, previous, now=self.clock()))

    @staticmethod
    def _excluded(member: Body | None) -> bool:
        annotations = ((member or {}).get("metadata") or {}).get("annotations") or {}
        return annotations.get(naming.ANNOTATION_EXCLUDE) == "true"

    async def _set_exclusion(self, name: str, namespace: str, *, excluded: bool) -> None:
        value = "true" if excluded else None
        await self.kube.merge_patch(
            kube.Kind.WALRUS_NODE,
            name,
            namespace,
            {"metadata": {"annotations": {naming.ANNOTATION_EXCLUDE: value}}},
        )

    async def _remove(self, member: Body) -> None:
        meta = member["metadata"]
        if meta.get("deletionTimestamp"):
            return
        if not self._excluded(member):
            await self._set_exclusion(meta["name"], meta["namespace"], excluded=True)
            return
        owned = int((member.get("status") or {}).get("shardsOwned") or 0)
        if owned == 0 and await self._released(member):
            await self.kube.delete(kube.Kind.WALRUS_NODE, meta["name"], meta["namespace"])

    async def _released(self, member: Body) -> bool:
        """The network's committee no longer needs the member: it owns no shard and hands
        none over (checked against the network's epoch state as well as the member's
        status, which the epoch controller may not have refreshed yet)."""
        network_name = ((member.get("spec") or {}).get("networkRef") or {}).get("name")
        meta = member["metadata"]
        namespace = meta["namespace"]
        network = await self.kube.get(kube.Kind.WALRUS_NETWORK, str(network_name), namespace)
        if network is None:
            return True
        text = (network.get("status") or {}).get("epochState")
        try:
            record = epoch_record.load(text if isinstance(text, str) else None)
        except errors.StateInvalid:
            return False
        return epoch_record.shards_held(record, meta["name"]) == 0
