"""The WalrusNetwork reconciler: checks the spec, hands the network to the epoch controller,
and guards its deletion.

A network whose spec cannot be parsed gets `Ready=False/InvalidSpec` (through the handler's
status patch) and nothing else; otherwise one pass of the epoch controller
(`walrus_operator.epochs`) observes the network's nodes, moves its epochs on and writes
its status. `check_deletion` holds a network's deletion (through the operator's
finalizer) while any WalrusNode still names it in `spec.networkRef`: deleting the network
first would delete its epoch state, and the nodes would then refuse any new history as
stale. Called by `handlers` on events, on the network's timer and on deletion.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from walrus_operator import epochs, errors, kube, models, outcome, status

__all__ = ["NetworkReconciler"]

Body = collections.abc.Mapping[str, typing.Any]
_LISTED = 5


@dataclasses.dataclass
class NetworkReconciler:
    epochs: epochs.EpochController
    clock: collections.abc.Callable[[], str] = outcome.utc_now
    kube: kube.Kube | None = None
    """For the deletion guard (None: nothing guards deletion, as in some tests)."""
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
