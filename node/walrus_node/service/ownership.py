"""Who owns a blob: the rules that add, extend, expire and delete registrations.

Who calls it: :mod:`.registrations` (certificates from clients, peers and shard sync all
go through :func:`certify`), :mod:`.lifetime` (:func:`expire`, :func:`delete`,
:func:`lacks_room`, :func:`room_check`) and the property tests. Pure: blob info in,
blob info out, no store, clock or I/O.

As Walrus keeps several Blob objects per blob ID, a blob here carries several
registrations, each certified on its own:

- A registration is identified by its *owner*: all permanent registrations share one
  owner (nobody: they cannot be deleted, and extending one extends "the permanent
  registration"); each deletable registration is owned by its ``owner_public_key``.
- A certificate adds its registration, or extends the same owner's one to a later end
  epoch. It never replaces or shortens another owner's registration.
- The data stays while any registration lives (end epoch after the current epoch); when
  the last one ends the blob is *expired*.
- An owner's shorter registration certified in a later epoch than its live one is kept
  beside it as a *shadow*: it does nothing while the longer one lives, and becomes the
  owner's live registration if a deletion removes the longer one (the owner deleted,
  then registered again for less time; a node catching up may learn the second
  certificate before the deletion).
- A deletion signed by an owner key in epoch ``e`` removes that owner's registrations
  certified in epoch ``e`` or before (its deletable registration, or an earlier version of
  it that a node which missed the extension still holds), and is remembered as
  (owner, ``e``): a certificate of that owner from epoch ``e`` or before is then refused
  (it is of the deleted registration or of an earlier version of it; replaying it cannot
  bring it back, and a deletion that reached this node before the certificate still
  wins), while one from a later epoch is a new registration. So an owner that deleted
  registers the blob again from the next epoch on. The rule is the same whichever route
  the deletion took (``DeleteBlob`` from the owner, or relayed by a peer from its
  deletion log) and in whichever order deletions and certificates arrive: see
  ``tests/unit/node/test_ownership.py``. The data goes (the blob is *deleted*) only when
  no registration remains.
- A blob remembers at most :data:`MAX_EARLY_DELETIONS` deletions of owners without a
  registration on it here (*early* ones: the deletion came before the certificate, or
  the owner's registration is gone). One more has *no room* (:func:`lacks_room`):
  :func:`delete` does not remember it, and the caller must not take that for "changes
  nothing": deletion catch-up keeps it waiting (:mod:`.pending_deletions`) until the
  owner's certificate is here, when it removes a registration (a removing deletion is
  always remembered), and ``DeleteBlob`` answers an error.
- A remembered deletion is forgotten once ``max_epochs_ahead`` epochs have passed since
  the epoch it was signed in: every registration certified up to then has ended.
- An *invalid* blob (proven inconsistently encoded) takes no registration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from walrus_node.protocol.messages import BlobRegistration
from walrus_node.store.store import BlobInfo, BlobState

__all__ = [
    "MAX_EARLY_DELETIONS",
    "MAX_REGISTRATIONS",
    "Entry",
    "Owner",
    "certify",
    "delete",
    "deleted_by_owner",
    "expire",
    "lacks_room",
    "owner_of",
    "room_check",
]

MAX_REGISTRATIONS = 1024
"""Most live registrations one blob keeps (each took a certificate); more are refused."""

MAX_EARLY_DELETIONS = 32
"""Most deletions one blob remembers of owners without a registration on it here (ones
that arrived before their certificate). Anyone can make a key and sign a deletion with
it, so a lying peer could otherwise grow a blob's info with made-up owners; past the
bound such a deletion has no room (:func:`lacks_room`) and is not remembered (a deletion
that removes a registration is always remembered: each of those took a certificate)."""

Owner = tuple[bool, bytes]
"""(deletable, owner key): (False, b"") for the permanent registration."""


def owner_of(registration: BlobRegistration) -> Owner:
    if not registration.deletable:
        return (False, b"")
    return (True, registration.owner_public_key)


Entry = tuple[BlobRegistration, int]
"""A certified registration and the epoch of its certificate."""


def deleted_by_owner(info: BlobInfo, registration: BlobRegistration, certified_epoch: int) -> bool:
    """True if a certificate of ``registration`` from ``certified_epoch`` is of one its
    owner deleted: a deletion signed in that epoch or later, or (for deletions made before
    they were remembered by epoch) exactly this registration."""
    if registration in info.deleted:
        return True
    if not registration.deletable:
        return False
    signed = dict(info.deletions).get(registration.owner_public_key)
    return signed is not None and certified_epoch <= signed


def _entries(info: BlobInfo | None) -> list[Entry]:
    """Every certified registration the blob keeps: the live ones and the shadows."""
    if info is None or info.state is not BlobState.CERTIFIED:
        return []
    since = info.since + (0,) * (len(info.registrations) - len(info.since))
    return [*zip(info.registrations, since, strict=False), *info.shadows]


def _frontier(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(live, shadows): per owner, the registrations no other of the same owner both
    outlasts and was certified as late as; the longest is the live one, the others
    (shorter, certified later) its shadows. A permanent registration keeps only the
    longest (nobody deletes it)."""
    live: list[Entry] = []
    shadows: list[Entry] = []
    by_owner: dict[Owner, list[Entry]] = {}
    for entry in entries:
        by_owner.setdefault(owner_of(entry[0]), []).append(entry)
    for owner, mine in by_owner.items():
        mine.sort(key=lambda e: (-e[0].end_epoch, -e[1], _order(e[0])))
        kept = [mine[0]]
        if owner[0]:
            for entry in mine[1:]:
                if entry[1] > kept[-1][1] and entry[0].end_epoch < kept[-1][0].end_epoch:
                    kept.append(entry)
        live.append(kept[0])
        shadows.extend(kept[1:])
    return sorted(live, key=_entry_order), sorted(shadows, key=_entry_order)


def _with(info: BlobInfo, entries: list[Entry]) -> BlobInfo:
    live, shadows = _frontier(entries)
    return dataclasses.replace(
        info,
        registrations=tuple(r for r, _ in live),
        since=tuple(e for _, e in live),
        shadows=tuple(shadows),
    )


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
    if info is not None and deleted_by_owner(info, registration, certified_epoch):
        return None  # its owner deleted it: a replayed certificate does not revive it
    entries = [(r, e) for r, e in _entries(info) if r.end_epoch > epoch]
    owner = owner_of(registration)  # shadows: at most max_epochs_ahead per owner
    owners = {owner_of(r) for r, _ in entries}
    if owner not in owners and len(owners) >= MAX_REGISTRATIONS:
        return None
    if _frontier(entries) == _frontier([*entries, (registration, certified_epoch)]):
        return None  # the owner's registrations already last at least this long
    first_certified = certified_epoch
    if info is not None and info.state is BlobState.CERTIFIED and info.certified_epoch:
        first_certified = min(first_certified, info.certified_epoch)
    base = BlobInfo(
        BlobState.CERTIFIED,
        info.created_ms if info is not None else now_ms,
        (),
        first_certified,
        info.deleted if info is not None else (),
        (),
        info.deletions if info is not None else (),
    )
    return _with(base, [*entries, (registration, certified_epoch)])


def expire(info: BlobInfo, epoch: int, horizon: int | None = None) -> BlobInfo | None:
    """Blob info once the registrations ended by ``epoch`` are dropped (expired if none
    is left), and, with ``horizon`` (``max_epochs_ahead``), the remembered deletions
    signed ``horizon`` or more epochs ago forgotten; None when nothing changed."""
    deletions = info.deletions
    if horizon is not None:
        deletions = tuple((o, e) for o, e in deletions if e + horizon > epoch)
    if info.state is not BlobState.CERTIFIED:
        if deletions == info.deletions:
            return None
        return dataclasses.replace(info, deletions=deletions)
    entries = _entries(info)
    kept = [(r, e) for r, e in entries if r.end_epoch > epoch]
    if len(kept) == len(entries) and deletions == info.deletions:
        return None
    pruned = dataclasses.replace(info, deletions=deletions)
    if kept:
        return _with(pruned, kept)
    return dataclasses.replace(pruned, state=BlobState.EXPIRED, shadows=())  # says what ended


def _covered(entry: Entry, owner: bytes, signed_epoch: int) -> bool:
    """True if a deletion by ``owner`` signed in ``signed_epoch`` removes ``entry``."""
    r, certified = entry
    return r.deletable and r.owner_public_key == owner and certified <= signed_epoch


def lacks_room(info: BlobInfo | None, owner: bytes, signed_epoch: int) -> bool:
    """True if ``owner``'s deletion signed in ``signed_epoch`` would be remembered as an
    early one (it removes none of the blob's registrations here, and the blob remembers
    no deletion of that owner yet) but the blob already remembers
    :data:`MAX_EARLY_DELETIONS` of those: :func:`delete` then returns None although the
    deletion is not known here. False for an unknown or invalid blob."""
    return room_check(info)(owner, signed_epoch)


def room_check(info: BlobInfo | None) -> Callable[[bytes, int], bool]:
    """:func:`lacks_room` for one blob's info, asked about many deletions: the
    registrations are read once, and each question then costs a few lookups."""
    if info is None or info.state is BlobState.INVALID:
        return lambda owner, signed_epoch: False
    entries = _entries(info)
    remembered = dict(info.deletions)
    earliest: dict[bytes, int] = {}  # per owner, its first certified registration's epoch
    for r, certified in entries:
        if r.deletable:
            key = r.owner_public_key
            earliest[key] = min(certified, earliest.get(key, certified))
    full = sum(o not in earliest for o in remembered) >= MAX_EARLY_DELETIONS

    def lacks(owner: bytes, signed_epoch: int) -> bool:
        covers = owner in earliest and earliest[owner] <= signed_epoch
        return full and not covers and owner not in remembered

    return lacks


def delete(info: BlobInfo | None, owner: bytes, signed_epoch: int) -> BlobInfo | None:
    """Blob info once ``owner`` deleted, by a deletion signed in ``signed_epoch``, its
    registrations certified up to then: the blob is deleted if none is left. None when
    that changes nothing (the blob is unknown or invalid, or the deletion is already
    remembered and nothing of the owner's is left to remove), and also when the blob has
    no room to remember it (:func:`lacks_room`, which callers ask to tell the two
    apart)."""
    if info is None or info.state is BlobState.INVALID:
        return None
    if lacks_room(info, owner, signed_epoch):
        return None
    entries = _entries(info)
    kept = [e for e in entries if not _covered(e, owner, signed_epoch)]
    removed = len(kept) < len(entries)
    remembered = dict(info.deletions)
    before = remembered.get(owner)
    if not removed and before is not None and before >= signed_epoch:
        return None
    remembered[owner] = max(signed_epoch, before or 0)
    updated = dataclasses.replace(info, deletions=tuple(sorted(remembered.items())))
    if not removed:
        return updated
    if kept:
        return _with(updated, kept)
    # The tombstone says what was deleted.
    return dataclasses.replace(updated, state=BlobState.DELETED, shadows=())


def _order(r: BlobRegistration) -> tuple[bool, bytes, int]:
    return (r.deletable, r.owner_public_key, r.end_epoch)


def _entry_order(entry: Entry) -> tuple[bool, bytes, int, int]:
    return (*_order(entry[0]), entry[1])
