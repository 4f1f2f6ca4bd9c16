"""How long the epoch controller leaves a node alone after it failed to answer: `Backoff`.

A node that does not answer costs a full gRPC deadline per pass; at a few seconds per
pass and many dead nodes that adds up. After each consecutive failure the next attempt
waits twice as long, from one poll interval up to `ceiling`; one answer resets it. While
it waits, the node counts as unreachable with its last error (what the planner and the
roller already assume of a node that does not answer).

The wait ends early when the node's pod turned Ready after the last failure (`ready_since`,
its Ready condition's `lastTransitionTime`): a restarted node is asked as soon as the
kubelet sees it up, not when a back-off that grew while it was down runs out. A rolling
restart waits for exactly that answer before it takes the next pod down.

Pure bookkeeping with the time passed in; kept in memory by `walrus_operator.epochs`, one
per controller.
"""

from __future__ import annotations

import dataclasses
import datetime

__all__ = ["Backoff"]


@dataclasses.dataclass(frozen=True)
class _Failure:
    count: int
    """Consecutive failures (the exponent of the wait)."""
    failed_at: datetime.datetime
    retry_at: datetime.datetime
    error: str


@dataclasses.dataclass
class Backoff:
    base: datetime.timedelta
    """The first wait (the poll interval)."""
    ceiling: datetime.timedelta
    """The longest wait between attempts."""
    _failures: dict[str, _Failure] = dataclasses.field(default_factory=dict)

    def waiting(
        self, key: str, now: datetime.datetime, ready_since: datetime.datetime | None = None
    ) -> str | None:
        """The last error if `key` must not be asked yet, else None. `ready_since`: since
        when the node's pod is Ready (None: not Ready, or not known); a pod Ready since
        after the last failure ends the wait and starts the count again.

        `lastTransitionTime` has whole seconds: a pod Ready within the second of the
        failure counts as Ready after it (at worst one extra call)."""
        entry = self._failures.get(key)
        if entry is None or now >= entry.retry_at:
            return None
        if ready_since is not None and ready_since >= entry.failed_at.replace(microsecond=0):
            del self._failures[key]
            return None
        return entry.error

    def failed(self, key: str, now: datetime.datetime, error: str) -> None:
        entry = self._failures.get(key)
        count = (0 if entry is None else entry.count) + 1
        wait = min(self.base * 2 ** (count - 1), self.ceiling)
        self._failures[key] = _Failure(count, now, now + wait, error)

    def answered(self, key: str) -> None:
        self._failures.pop(key, None)

    def forget(self, prefix: str, keep: set[str]) -> None:
        """Drop the keys under `prefix` not in `keep` (nodes gone; bounded memory)."""
        for key in [k for k in self._failures if k.startswith(prefix) and k not in keep]:
            del self._failures[key]
