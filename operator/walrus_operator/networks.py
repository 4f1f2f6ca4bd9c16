"""The WalrusNetwork reconciler: checks the spec and hands the network to the epoch controller.

A network whose spec cannot be parsed gets `Ready=False/InvalidSpec` (through the handler's
status patch) and nothing else; otherwise one pass of the epoch controller
(`walrus_operator.epochs`) observes the network's nodes, moves its epochs on and writes
its status. Called by `handlers` on events and on the network's timer.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from walrus_operator import epochs, errors, models, outcome, status

__all__ = ["NetworkReconciler"]


@dataclasses.dataclass
class NetworkReconciler:
    epochs: epochs.EpochController
    clock: collections.abc.Callable[[], str] = outcome.utc_now

    async def reconcile(self, body: collections.abc.Mapping[str, typing.Any]) -> outcome.Outcome:
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
