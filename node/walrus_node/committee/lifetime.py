"""How long a blob is stored: end epochs, the purchase horizon, extension, expiry, deletion.

Who calls it: the client (what to buy, whether a blob can be extended or deleted), nodes
(what to keep, what to garbage-collect), and the operator.

Rules (Walrus's, without the chain):

* Storage bought in epoch ``e`` for ``k`` epochs covers ``[e, e + k)``: ``end_epoch`` is
  exclusive. ``1 <= k <= max_epochs_ahead`` (default 53, Walrus Mainnet's).
* A blob is **expired** from its end epoch on, and must be stored while ``start <= epoch <
  end``.
* **Extension** by ``k`` epochs needs an unexpired blob and keeps the new end within
  ``max_epochs_ahead`` of the current epoch; it moves the end only.
* **Deletion**: a *deletable* blob can be deleted by its owner before it expires; a
  *permanent* blob cannot be deleted at all and lives until its end epoch.
* A node keeps a blob's data while **any** of its registrations (the same blob may be
  registered more than once, deletable or not) is live: not expired and not deleted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from walrus_node.committee import _fields, errors

__all__ = ["DEFAULT_MAX_EPOCHS_AHEAD", "Lifetime", "end_epoch", "retained"]

DEFAULT_MAX_EPOCHS_AHEAD = 53
"""How far ahead storage can be bought (Walrus Mainnet: 53 two-week epochs, about 2 years)."""


def end_epoch(start_epoch: int, epochs: int) -> int:
    """First epoch not covered by ``epochs`` epochs of storage from ``start_epoch``."""
    _fields.integer(start_epoch, "start_epoch")
    _fields.integer(epochs, "epochs", 1)
    return start_epoch + epochs


@dataclasses.dataclass(frozen=True)
class Lifetime:
    """One registration's storage period ``[start_epoch, end_epoch)`` and deletability."""

    start_epoch: int
    end_epoch: int
    deletable: bool
    deleted: bool = False

    def __post_init__(self) -> None:
        _fields.integer(self.start_epoch, "start_epoch")
        _fields.integer(self.end_epoch, "end_epoch", self.start_epoch + 1)
        for name in ("deletable", "deleted"):
            if not isinstance(getattr(self, name), bool):
                raise errors.InvalidFieldError(name, "expected true or false")
        if self.deleted and not self.deletable:
            raise errors.InvalidFieldError("deleted", "a permanent blob cannot be deleted")

    @classmethod
    def purchase(
        cls,
        current_epoch: int,
        epochs: int,
        *,
        deletable: bool,
        max_epochs_ahead: int = DEFAULT_MAX_EPOCHS_AHEAD,
    ) -> Lifetime:
        """Storage bought now for ``epochs`` epochs (``1 <= epochs <= max_epochs_ahead``)."""
        _fields.integer(max_epochs_ahead, "max_epochs_ahead", 1)
        end = end_epoch(current_epoch, epochs)
        if epochs > max_epochs_ahead:
            raise errors.LifetimeError(
                f"epochs: {epochs} is more than the {max_epochs_ahead} epochs ahead one can buy"
            )
        return cls(start_epoch=current_epoch, end_epoch=end, deletable=deletable)

    @property
    def epochs(self) -> int:
        return self.end_epoch - self.start_epoch

    def is_expired(self, epoch: int) -> bool:
        """Whether the storage period ended before ``epoch``."""
        return _fields.integer(epoch, "epoch") >= self.end_epoch

    def is_live(self, epoch: int) -> bool:
        """Whether nodes must hold the data in ``epoch``: started, not expired, not deleted."""
        expired = self.is_expired(epoch)
        return not self.deleted and not expired and self.start_epoch <= epoch

    def extend(
        self,
        current_epoch: int,
        extra_epochs: int,
        *,
        max_epochs_ahead: int = DEFAULT_MAX_EPOCHS_AHEAD,
    ) -> Lifetime:
        """The lifetime with its end moved ``extra_epochs`` later."""
        _fields.integer(extra_epochs, "extra_epochs", 1)
        _fields.integer(max_epochs_ahead, "max_epochs_ahead", 1)
        if self.deleted:
            raise errors.LifetimeError("cannot extend a deleted blob")
        if self.is_expired(current_epoch):
            raise errors.LifetimeError(
                f"cannot extend a blob that expired at epoch {self.end_epoch} "
                f"(current epoch {current_epoch})"
            )
        new_end = self.end_epoch + extra_epochs
        if new_end - current_epoch > max_epochs_ahead:
            raise errors.LifetimeError(
                f"extra_epochs: the end would be epoch {new_end}, more than {max_epochs_ahead} "
                f"epochs after the current epoch {current_epoch}; at most "
                f"{max(0, current_epoch + max_epochs_ahead - self.end_epoch)} more are possible"
            )
        return dataclasses.replace(self, end_epoch=new_end)

    def can_delete(self, current_epoch: int) -> bool:
        return self.deletable and not self.deleted and not self.is_expired(current_epoch)

    def delete(self, current_epoch: int) -> Lifetime:
        """The lifetime marked deleted; permanent, expired or deleted blobs raise."""
        if not self.deletable:
            raise errors.LifetimeError(
                f"a permanent blob cannot be deleted; it expires at epoch {self.end_epoch}"
            )
        if self.deleted:
            raise errors.LifetimeError("the blob is already deleted")
        if self.is_expired(current_epoch):
            raise errors.LifetimeError(f"the blob already expired at epoch {self.end_epoch}")
        return dataclasses.replace(self, deleted=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_epoch": self.start_epoch,
            "end_epoch": self.end_epoch,
            "deletable": self.deletable,
            "deleted": self.deleted,
        }

    @classmethod
    def from_dict(cls, value: object, path: str = "") -> Lifetime:
        d = _fields.mapping(value, path)
        _fields.check_keys(d, path, ("start_epoch", "end_epoch", "deletable"), ("deleted",))
        try:
            return cls(
                start_epoch=d["start_epoch"],
                end_epoch=d["end_epoch"],
                deletable=d["deletable"],
                deleted=d.get("deleted", False),
            )
        except errors.InvalidFieldError as e:
            raise _fields.prefixed(path, e) from None


def retained(lifetimes: Iterable[Lifetime], epoch: int) -> bool:
    """Whether a node keeps a blob's data in ``epoch``: some registration is live."""
    return any(lifetime.is_live(epoch) for lifetime in lifetimes)
