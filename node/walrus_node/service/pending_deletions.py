"""Deletions waiting for their blob's certificate, and which peer relayed each: the
bounded table of :mod:`.certificate_sync`. Pure bookkeeping, no I/O.

A peer's deletion log may list a deletion of a blob this node does not know yet (its
certificate is still to come from another peer), or of a known blob that already
remembers the most deletions of owners without a registration on it here
(:func:`.ownership.lacks_room`; the owner's certificate is still to come, and once it
is here the deletion removes the registration, which is always remembered). Such a
deletion waits here once its owner signature checked. Anyone can make a key and sign
deletions of made-up blobs with it, so a lying committee member could list thousands of
them (or fill a known blob's early deletions with them); the table bounds what each
relaying peer may hold, so that one peer (or a few) cannot crowd out the others' genuine
deletions:

- a peer holds at most ``per_peer`` entries; more from it are dropped;
- the table holds at most ``capacity`` entries; when it is full, a peer's new deletion
  takes the place of the oldest entry of the peer holding the most, if that peer holds
  at least two more than the newcomer's peer. So a peer holding fewer than its fair share
  (``capacity`` divided by the peers relaying) always gets in, however many liars flood.

An entry leaves when it was applied or can no longer remove anything (the caller's
:meth:`discard`). Dropped deletions are not lost for good: the same deletion may still
come from another peer, and a registration it would have removed expires in time.

Each entry keeps its position in the relaying peer's log, so that the caller can keep the
cursor it persists for that peer before the oldest entry still waiting
(:meth:`oldest_position`): the table itself lives in memory, and a restarted node lists
those deletions again instead of forgetting them.
"""

from __future__ import annotations

from collections.abc import Iterator

from walrus_node.protocol.messages import Deletion

__all__ = ["PendingDeletions"]


class PendingDeletions:
    def __init__(self, capacity: int, per_peer: int) -> None:
        self._capacity = capacity
        self._per_peer = per_peer
        self._relayer: dict[Deletion, tuple[bytes, int]] = {}
        """Every waiting deletion, the peer that relayed it and its position in that peer's
        log, oldest first."""
        self._by_peer: dict[bytes, dict[Deletion, None]] = {}
        """Per peer, its waiting deletions, oldest first (never empty)."""

    def __len__(self) -> int:
        return len(self._relayer)

    def __contains__(self, deletion: object) -> bool:
        return deletion in self._relayer

    def __iter__(self) -> Iterator[Deletion]:
        """The waiting deletions, oldest first (a snapshot: the table may change
        meanwhile)."""
        return iter(list(self._relayer))

    def held_by(self, peer: bytes) -> int:
        return len(self._by_peer.get(peer, ()))

    def oldest_position(self, peer: bytes) -> int | None:
        """The lowest log position of the deletions ``peer`` relayed that still wait here;
        None if none does."""
        mine = self._by_peer.get(peer)
        if not mine:
            return None
        return min(self._relayer[deletion][1] for deletion in mine)

    def add(self, deletion: Deletion, peer: bytes, position: int) -> bool:
        """Keep ``deletion`` (its signature checked) relayed by ``peer`` at ``position`` of
        its log; True if it waits here now (it may have already), False if it was
        dropped."""
        if deletion in self._relayer:
            return True
        held = self.held_by(peer)
        if held >= self._per_peer or self._capacity < 1:
            return False
        if len(self._relayer) >= self._capacity:
            heaviest = max(self._by_peer, key=lambda p: len(self._by_peer[p]))
            if len(self._by_peer[heaviest]) < held + 2:
                return False  # every peer holds about as much as this one: the table is fair
            self.discard(next(iter(self._by_peer[heaviest])))
        self._relayer[deletion] = (peer, position)
        self._by_peer.setdefault(peer, {})[deletion] = None
        return True

    def discard(self, deletion: Deletion) -> None:
        """Forget ``deletion`` (applied, or obsolete); nothing if it is not here."""
        entry = self._relayer.pop(deletion, None)
        if entry is None:
            return
        peer = entry[0]
        mine = self._by_peer[peer]
        del mine[deletion]
        if not mine:
            del self._by_peer[peer]
