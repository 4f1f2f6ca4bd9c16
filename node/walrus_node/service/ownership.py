"""Who owns a blob: the rules that add, extend, expire and delete registrations.

Who calls it: :mod:`.registrations` (certificates from clients, peers and shard sync all
go through :func:`certify`), :mod:`.lifetime` (:func:`expire`, :func:`delete`) and the
property tests. Pure: blob info in, blob info out, no store, clock or I/O.

As Walrus keeps several Blob objects per blob ID, a blob here carries several
registrations, each certified on its own:

- A registration is identified by its *owner*: all permanent registrations share one
  owner (nobody: they cannot be deleted, and extending one extends "the permanent
  registration"); each deletable registration is owned by its ``owner_public_key``.
- A certificate adds its registration, or extends the same owner's one to a later end
  epoch. It never replaces or shortens another owner's registration.
- The data stays while any registration lives (end epoch after the current epoch); when
  the last one ends the blob is *expired*.
- A deletion signed by an owner removes that owner's deletable registration only and
  remembers it, so that replaying its certificate cannot bring it back; the data goes
  (the blob is *deleted*) only when no registration remains.
- An *invalid* blob (proven inconsistently encoded) takes no registration.
"""

from __future__ import annotations

import dataclasses

from walrus_node.protocol.messages import BlobRegistration
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["MAX_REGISTRATIONS", "Owner", "certify", "delete", "expire", "owner_of"]

MAX_REGISTRATIONS = 1024
"""Most live registrations one blob keeps (each took a certificate); more are refused."""

Owner = tuple[bool, bytes]
"""(deletable, owner key): (False, b"") for the permanent registration."""


def owner_of(registration: BlobRegistration) -> Owner:
    if not registration.deletable:
        return (False, b"")
    return (True, registration.owner_public_key)


def certify(
    info: BlobInfo | None,
    registration: BlobRegistration,
    certified_epoch: int,
    epoch: int,
    now_ms: int,
) -> BlobInfo | None:
    """Blob info after a verified certificate of ``registration`` from ``certified_epoch``,
    in epoch ``epoch``; None when it changes nothing (already known, ended, deleted by its
    owner, or the blob is invalid)."""
    if registration.end_epoch <= epoch:
        return None  # ended already: keeps nothing alive
    if info is not None and info.state is BlobState.INVALID:
        return None
    if info is not None and registration in info.deleted:
        return None  # its owner deleted it: a replayed certificate does not revive it
    live: list[BlobRegistration] = []
    if info is not None and info.state is BlobState.CERTIFIED:
        live = [r for r in info.registrations if r.end_epoch > epoch]
    owner = owner_of(registration)
    mine = [r for r in live if owner_of(r) == owner]
    if mine and mine[0].end_epoch >= registration.end_epoch:
        return None  # the owner's registration already lasts at least this long
    others = [r for r in live if owner_of(r) != owner]
    if not mine and len(others) >= MAX_REGISTRATIONS:
        return None
    first_certified = certified_epoch
    if info is not None and info.state is BlobState.CERTIFIED and info.certified_epoch:
        first_certified = min(first_certified, info.certified_epoch)
    return BlobInfo(
        BlobState.CERTIFIED,
        info.created_ms if info is not None else now_ms,
        tuple(sorted([*others, registration], key=_order)),
        first_certified,
        info.deleted if info is not None else (),
    )


def expire(info: BlobInfo, epoch: int) -> BlobInfo | None:
    """Blob info once the registrations ended by ``epoch`` are dropped (expired if none
    is left); None when nothing ended."""
    if info.state is not BlobState.CERTIFIED:
        return None
    live = tuple(r for r in info.registrations if r.end_epoch > epoch)
    if live == info.registrations:
        return None
    if live:
        return dataclasses.replace(info, registrations=live)
    return dataclasses.replace(info, state=BlobState.EXPIRED)


def delete(info: BlobInfo, registration: BlobRegistration) -> BlobInfo:
    """Blob info once the owner of the deletable ``registration`` (one of the live ones)
    deleted it: the blob is deleted if it was the last one."""
    live = tuple(r for r in info.registrations if r != registration)
    deleted = (*info.deleted, registration)
    if live:
        return dataclasses.replace(info, registrations=live, deleted=deleted)
    return dataclasses.replace(info, state=BlobState.DELETED, deleted=deleted)


def _order(r: BlobRegistration) -> tuple[bool, bytes, int]:
    return (r.deletable, r.owner_public_key, r.end_epoch)
