"""How long the epoch controller leaves a node alone after it failed to answer: `Backoff`.

A node that does not answer costs a full gRPC deadline per pass; at a few seconds per
pass and many dead nodes that adds up. After each consecutive failure the next attempt
waits twice as long, from one poll interval up to `ceiling`; one answer resets it. While
it waits, the node counts as unreachable with its last error (what the planner and the
roller already assume of a node that does not answer). Pure bookkeeping with the time
passed in; kept in memory by `walrus_operator.epochs`, one per controller.
"""

from __future__ import annotations

import dataclasses
import datetime

__all__ = ["Backoff"]


@dataclasses.dataclass
class Backoff:
    base: datetime.timedelta
    """The first wait (the poll interval)."""
    ceiling: datetime.timedelta
    """The longest wait between attempts."""
    _failures: dict[str, tuple[int, datetime.datetime, str]] = dataclasses.field(
        default_factory=dict
    )

    def waiting(self, key: str, now: datetime.datetime) -> str | None:
        """The last error if `key` must not be asked yet, else None."""
        entry = self._failures.get(key)
        if entry is None or now >= entry[1]:
            return None
        return entry[2]

    def failed(self, key: str, now: datetime.datetime, error: str) -> None:
        count = self._failures.get(key, (0, now, ""))[0] + 1
        wait = min(self.base * 2 ** (count - 1), self.ceiling)
        self._failures[key] = (count, now + wait, error)

    def answered(self, key: str) -> None:
        self._failures.pop(key, None)

    def forget(self, prefix: str, keep: set[str]) -> None:
        """Drop the keys under `prefix` not in `keep` (nodes gone; bounded memory)."""
        for key in [k for k in self._failures if k.startswith(prefix) and k not in keep]:
            del self._failures[key]
