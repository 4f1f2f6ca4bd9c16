"""`Outcome`: what a reconciler hands back to its handler.

A status patch to write (always, even when something failed, so the failure is visible on
the resource), the error, if any, that decides how Kopf retries, and Kubernetes Events to
post on the resource (`Event`: the epoch controller reports epoch changes this way). Pure
values; made by the reconcilers, consumed by `handlers`, which alone talk to Kopf.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from walrus_operator import errors

__all__ = ["Event", "Outcome", "utc_now"]


@dataclasses.dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the reconciled object."""

    reason: str
    message: str
    warning: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: dict[str, typing.Any]
    error: errors.WalrusOperatorError | None = None
    events: tuple[Event, ...] = ()


def utc_now() -> str:
    """The clock reading reconcilers stamp conditions with (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
