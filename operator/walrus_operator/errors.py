"""The operator's errors: one hierarchy, mapped onto Kopf's retry semantics in one place.

```
WalrusOperatorError
├── SettingsInvalid        an operator setting (environment variable) is malformed: exit at start
├── SpecInvalid            a resource's spec (or a Secret it depends on) is wrong in a way the
│                          CRD schema cannot express; names the field. → conditions
│                          Ready=False/InvalidSpec; no Kopf error, the next pass looks again
├── StateInvalid           a network's persisted epoch state (status.epochState) cannot be read;
│                          the epoch controller stops for that network (Degraded=True) rather
│                          than start a new history over it
├── KubeError              the Kubernetes API refused or failed a call (wraps the client's error)
│   ├── KubeNotFound       404
│   ├── KubeConflict       409 (already exists, or a conflicting field manager)
│   └── KubeUnavailable    5xx, 429, timeouts, connection errors → kopf.TemporaryError
└── NotYet                 an expected wait (a PVC still resizing, shards still owned):
    └── DeletionBlocked    deleting a node that still owns shards, or a network that nodes
                           still reference                          → kopf.TemporaryError(delay)
```

The pure layers (models, builders, status) raise `SpecInvalid` only. `kube` wraps
third-party errors into `KubeError`s with the original chained as `__cause__`. Only
`handlers` translates these into Kopf's `TemporaryError` (or a condition), so nothing
below it imports Kopf.
"""

from __future__ import annotations

__all__ = [
    "DeletionBlocked",
    "KubeConflict",
    "KubeError",
    "KubeNotFound",
    "KubeUnavailable",
    "NotYet",
    "SettingsInvalid",
    "SpecInvalid",
    "StateInvalid",
    "WalrusOperatorError",
]


class WalrusOperatorError(Exception):
    """Root of every error the operator raises on purpose."""


class SettingsInvalid(WalrusOperatorError):
    """An operator setting could not be parsed; `variable` names the environment variable."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class SpecInvalid(WalrusOperatorError):
    """A resource spec is invalid; `field` is its dotted path as written in the CRD."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason_message = message


class StateInvalid(WalrusOperatorError):
    """Persisted state cannot be parsed; `field` names the status field and the path in it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class KubeError(WalrusOperatorError):
    """A Kubernetes API call failed. `status` is the HTTP status (0 when none was received)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeNotFound(KubeError):
    """The object does not exist."""


class KubeConflict(KubeError):
    """The object already exists, or another field manager owns the field."""


class KubeUnavailable(KubeError):
    """The API server is unreachable, overloaded or failing: worth retrying."""


class NotYet(WalrusOperatorError):
    """An expected, temporary state: retry after `delay` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class DeletionBlocked(NotYet):
    """A WalrusNode's deletion waits until it owns no shards (or is force-deleted)."""
