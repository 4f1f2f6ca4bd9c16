"""`Outcome`: what a reconciler hands back to its handler.

A status patch to write (always, even when something failed, so the failure is visible on
the resource) and the error, if any, that decides how Kopf retries. Pure value; made by
the reconcilers, consumed by `handlers`.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from walrus_operator import errors

__all__ = ["Outcome", "utc_now"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: dict[str, typing.Any]
    error: errors.WalrusOperatorError | None = None


def utc_now() -> str:
    """The clock reading reconcilers stamp conditions with (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
