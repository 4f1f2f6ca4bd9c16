"""Errors raised by the committee library. Every one names what failed and why.

::

    CommitteeError
     ├── InvalidFieldError     a field of a committee file, candidate or argument is missing
     │                         or out of range; ``field`` is its path ("members[2].endpoint")
     ├── ApportionmentError    shards cannot be assigned (no eligible candidate, shard counts
     │                         that do not add up, a previous committee of another size)
     ├── TransitionError       an epoch step that the current phase does not allow
     └── LifetimeError         a blob lifetime operation the rules forbid (extending an
                               expired blob, deleting a permanent one, too many epochs ahead)

``InvalidFieldError``, ``ApportionmentError`` and ``LifetimeError`` are also ``ValueError``
s. Callers above this library (node, client, operator) map them to their own codes.
"""

from __future__ import annotations

__all__ = [
    "ApportionmentError",
    "CommitteeError",
    "InvalidFieldError",
    "LifetimeError",
    "TransitionError",
]


class CommitteeError(Exception):
    """Base class of every committee-library error."""


class InvalidFieldError(CommitteeError, ValueError):
    """A field is missing, of the wrong type, or out of range."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ApportionmentError(CommitteeError, ValueError):
    """Shards cannot be apportioned or reassigned as asked."""


class TransitionError(CommitteeError):
    """An epoch state-machine step that is not allowed in the current state."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"cannot {step}: {reason}")
        self.step = step
        self.reason = reason


class LifetimeError(CommitteeError, ValueError):
    """A blob lifetime operation that the storage rules forbid."""
