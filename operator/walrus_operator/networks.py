"""The WalrusNetwork reconciler: accepts the spec and lets the epoch controller advance.

Until the epoch controller lands (`walrus_operator.epochs`), a network sits in epoch 0,
phase Stable, with no committee. Called by `handlers` on events and on a timer.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from walrus_operator import epochs, errors, models, outcome, status

__all__ = ["NetworkReconciler"]


@dataclasses.dataclass
class NetworkReconciler:
    epochs: epochs.EpochController = dataclasses.field(default_factory=epochs.Inactive)
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
        patch = status.network_status(network, now=self.clock())
        patch.update(await self.epochs.advance(network))
        return outcome.Outcome(patch)
