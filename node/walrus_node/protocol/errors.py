"""Errors of talking to a node. :class:`NodeError` and its subclasses are what a node
reports to its caller (the service raises them; the transport maps each class to one gRPC
status code); :class:`PeerError` is what a caller sees when a request to a node failed.

::

    NodeError
     ├── InvalidRequest       malformed input: bad sizes, indices, IDs     INVALID_ARGUMENT
     ├── NotFound             unknown blob, sliver or metadata             NOT_FOUND
     ├── FailedPrecondition   valid but out of order or not for this node  FAILED_PRECONDITION
     ├── DataLoss             bytes that do not match their commitments     DATA_LOSS
     ├── PermissionDenied     bad signature, unknown signer                 PERMISSION_DENIED
     ├── ResourceExhausted    too large, too many at once                   RESOURCE_EXHAUSTED
     │    └── NoRoomForDeletion  the blob remembers the most early deletions
     ├── Unavailable          not ready (no committee) or shutting down     UNAVAILABLE
     ├── StaleEpoch           request for an epoch this node is not in      ABORTED
     └── Gone                 blob expired or deleted                       NOT_FOUND (+ reason)
          └── InvalidBlob     blob proven inconsistently encoded            NOT_FOUND (+ "invalid")

    PeerError                a call to another node failed (caller's side)

Codec and protocol errors are wrapped at the service boundary with the original chained.
"""

from __future__ import annotations

__all__ = [
    "DataLoss",
    "FailedPrecondition",
    "Gone",
    "InvalidBlob",
    "InvalidRequest",
    "NoRoomForDeletion",
    "NodeError",
    "NotFound",
    "PeerError",
    "PermissionDenied",
    "ResourceExhausted",
    "StaleEpoch",
    "Unavailable",
]


class NodeError(Exception):
    """Base of every error a node reports to a caller."""


class InvalidRequest(NodeError):
    pass


class NotFound(NodeError):
    pass


class FailedPrecondition(NodeError):
    pass


class DataLoss(NodeError):
    pass


class PermissionDenied(NodeError):
    pass


class ResourceExhausted(NodeError):
    pass


class NoRoomForDeletion(ResourceExhausted):
    """A checked deletion removes none of the blob's registrations here, and the blob
    already remembers the most deletions of owners without one (``MAX_EARLY_DELETIONS``
    of ``walrus_node.service.ownership``): it is not remembered. Once the owner's
    certificate has reached the node the same owner's deletion removes its registration
    and is always remembered; certificate catch-up keeps a relayed one waiting until
    then."""


class Unavailable(NodeError):
    pass


class StaleEpoch(NodeError):
    pass


class Gone(NotFound):
    """The blob existed but its lifetime ended: ``state`` is "expired" or "deleted"."""

    def __init__(self, blob: str, state: str) -> None:
        super().__init__(f"blob {blob} is {state}")
        self.state = state


class InvalidBlob(Gone):
    """The blob's encoding was proven inconsistent: it has no data, and never will.

    Sent as NOT_FOUND with the trailing metadata ``walrus-blob-state: invalid``, which
    the client turns into its own invalid-blob error."""

    def __init__(self, blob: str) -> None:
        super().__init__(blob, "invalid")


class PeerError(Exception):
    """A request to another node failed; the message names the node and the cause."""
