"""The epoch state machine: which committee serves, and how the network moves to the next.

Who calls it: the operator (it stores the state in the ``WalrusNetwork`` status and the
committee file), the testbed (same logic, in memory), and nodes and clients (they read the
state from the committee file to route reads and writes).

States and steps::

      Stable(e, next=None) ──select_next──▶ Stable(e, next=C') ──start_epoch_change──┐
             ▲                                                                       │
             └─ record_sync_done, once done nodes own >= n-f shards ◀─ EpochChange(e+1)

* :meth:`EpochState.select_next` picks the committee of ``e + 1`` from the candidates
  (D'Hondt plus stable transition, :mod:`.selection`). Stake changes after this count one
  epoch later. Only in ``Stable`` and only once per epoch.
* :meth:`EpochState.start_epoch_change`: ``epoch += 1``, previous ← current, current ←
  next, phase ``EpochChange``. Members that gained no shard are done at once.
* :meth:`EpochState.record_sync_done`: a member of the new committee has received all the
  shards it gained. When done members own ``>= n - f`` shards the phase becomes ``Stable``
  (this can happen inside ``start_epoch_change`` when few shards move). Reports after that
  are still recorded; repeated reports change nothing.

Any other step raises :class:`~.errors.TransitionError`; states are immutable, each step
returns a new one. During ``EpochChange`` writes go to the new committee and reads of
blobs certified before the new epoch go to the previous owners (see
:meth:`EpochState.read_owner`).

Plain-dict form (the committee file nodes read; keys in this order)::

    {"version": 1, "epoch": 4, "phase": "EpochChange", "n_shards": 10,
     "members": [<current members>],
     "previous": {"epoch": 3, "members": [...]} | null,
     "next": {"epoch": 5, "members": [...]} | null,
     "sync_done": ["node-0", "node-2"]}

A top-level ``params`` mapping is reserved for network parameters written alongside the
state (prices, ``max_epochs_ahead``); :meth:`EpochState.from_dict` accepts and ignores it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from typing import Any

from walrus_node.committee import _fields, committee, errors, member, selection, transition

__all__ = ["EpochState", "Phase"]

_RESERVED_KEYS = ("params",)


class Phase(enum.Enum):
    STABLE = "Stable"
    """One committee serves reads and writes."""
    EPOCH_CHANGE = "EpochChange"
    """The new committee takes writes; gaining members are still receiving shards."""

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class EpochState:
    """Epoch, phase and committees; the constructor checks the invariants (module doc)."""

    current: committee.Committee
    phase: Phase = Phase.STABLE
    previous: committee.Committee | None = None
    next: committee.Committee | None = None
    sync_done: frozenset[str] = frozenset()
    """Members of ``current`` that have all their shards."""

    def __post_init__(self) -> None:
        if not isinstance(self.current, committee.Committee):
            raise errors.InvalidFieldError("current", "expected a Committee")
        if not isinstance(self.phase, Phase):
            raise errors.InvalidFieldError("phase", f"expected a Phase, got {self.phase!r}")
        object.__setattr__(self, "sync_done", frozenset(self.sync_done))
        self._check_neighbours()
        self._check_sync_done()
        if self.phase is Phase.EPOCH_CHANGE:
            if self.previous is None:
                raise errors.InvalidFieldError("previous", "required during an epoch change")
            if self.next is not None:
                raise errors.InvalidFieldError("next", "cannot be selected during an epoch change")
            if self.current.is_quorum(self.synced_weight):
                raise errors.InvalidFieldError(
                    "phase",
                    f"must be {Phase.STABLE}: members that are done own {self.synced_weight} "
                    f"shards, a quorum is {self.current.params.quorum}",
                )

    def _check_neighbours(self) -> None:
        for name, other, offset in (("previous", self.previous, -1), ("next", self.next, 1)):
            if other is None:
                continue
            if other.n_shards != self.n_shards:
                raise errors.InvalidFieldError(
                    name, f"has {other.n_shards} shards, the current committee {self.n_shards}"
                )
            if other.epoch != self.epoch + offset:
                raise errors.InvalidFieldError(
                    _fields.at(name, "epoch"), f"must be {self.epoch + offset}, got {other.epoch}"
                )

    def _check_sync_done(self) -> None:
        strangers = sorted(n for n in self.sync_done if n not in self.current)
        if strangers:
            raise errors.InvalidFieldError(
                "sync_done", f"not members of epoch {self.epoch}: {strangers}"
            )
        if self.previous is not None:
            idle = sorted(n for n in self.current.names if not self.gained(n))
            missing = [n for n in idle if n not in self.sync_done]
            if missing:
                raise errors.InvalidFieldError(
                    "sync_done", f"members that gained no shard are done at once: {missing}"
                )

    # --- views -------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.current.epoch

    @property
    def n_shards(self) -> int:
        return self.current.n_shards

    @property
    def synced_weight(self) -> int:
        """Shards of the current committee owned by members that are done."""
        return self.current.weight(self.sync_done)

    def gained(self, name: str) -> tuple[int, ...]:
        """Shards ``name`` owns now but did not own in the previous epoch."""
        before = set(self.previous.shards_of(name)) if self.previous is not None else set()
        return tuple(s for s in self.current.shards_of(name) if s not in before)

    @property
    def moves(self) -> tuple[transition.Move, ...]:
        """Shard moves of the change into the current epoch (empty at genesis)."""
        if self.previous is None:
            return ()
        return transition.moves_between(self.previous, self.current)

    @property
    def pending_moves(self) -> tuple[transition.Move, ...]:
        """Moves whose destination has not reported done yet."""
        return tuple(m for m in self.moves if m.destination not in self.sync_done)

    def incoming(self, name: str) -> tuple[transition.Move, ...]:
        """The shards ``name`` must receive, each with its previous owner to pull it from."""
        return tuple(m for m in self.moves if m.destination == name)

    def write_committee(self) -> committee.Committee:
        """Where new blobs go: always the current committee."""
        return self.current

    def read_committee(self, certified_epoch: int) -> committee.Committee:
        """Where to read a blob certified in ``certified_epoch``, committee by committee.

        During an epoch change, blobs certified before the new epoch are read from the
        previous committee; everything else from the current one.
        """
        _fields.integer(certified_epoch, "certified_epoch")
        if self.phase is Phase.EPOCH_CHANGE and certified_epoch < self.epoch:
            assert self.previous is not None  # guaranteed by __post_init__
            return self.previous
        return self.current

    def read_owner(self, shard: int, certified_epoch: int) -> member.Member:
        """Who serves ``shard`` of a blob certified in ``certified_epoch``, shard by shard.

        Like :meth:`read_committee`, but a new owner that has reported done already serves
        the shards it received.
        """
        owner = self.current.owner(shard)
        if self.read_committee(certified_epoch) is self.current or owner.name in self.sync_done:
            return owner
        assert self.previous is not None  # read_committee returned it
        return self.previous.owner(shard)

    # --- steps ---------------------------------------------------------------------------

    @classmethod
    def genesis(cls, first: committee.Committee) -> EpochState:
        """The state of a new network: ``first`` serves, and has nothing to receive."""
        return cls(current=first, sync_done=frozenset(first.names))

    def select_next(
        self,
        candidates: Iterable[member.NodeCandidate],
        *,
        cap: int | None = None,
        min_stake: int = 0,
    ) -> EpochState:
        """Choose the next epoch's committee from ``candidates`` (:func:`.selection.select`)."""
        step = "select the next committee"
        if self.phase is not Phase.STABLE:
            raise errors.TransitionError(step, f"epoch {self.epoch} is still changing")
        if self.next is not None:
            raise errors.TransitionError(step, f"the committee of epoch {self.epoch + 1} is chosen")
        chosen = selection.select(
            candidates, self.n_shards, previous=self.current, cap=cap, min_stake=min_stake
        )
        return dataclasses.replace(self, next=chosen.committee)

    def start_epoch_change(self) -> EpochState:
        """Move to the next epoch: its committee takes over writes and starts receiving."""
        step = f"start the change to epoch {self.epoch + 1}"
        if self.phase is not Phase.STABLE:
            raise errors.TransitionError(step, f"epoch {self.epoch} is still changing")
        if self.next is None:
            raise errors.TransitionError(step, "no next committee has been selected")
        new, old = self.next, self.current
        idle = frozenset(
            name for name in new.names if set(new.shards_of(name)) <= set(old.shards_of(name))
        )
        return _changing(new, old, idle)

    def record_sync_done(self, name: str, epoch: int) -> EpochState:
        """Member ``name`` reports that it holds all its shards of ``epoch``."""
        step = f"record that {name!r} is done syncing epoch {epoch}"
        if epoch != self.epoch:
            raise errors.TransitionError(step, f"the current epoch is {self.epoch}")
        if name not in self.current:
            raise errors.TransitionError(step, f"{name!r} is not a member of epoch {self.epoch}")
        if name in self.sync_done:
            return self
        if self.phase is Phase.STABLE:
            return dataclasses.replace(self, sync_done=self.sync_done | {name})
        assert self.previous is not None  # guaranteed by __post_init__
        return _changing(self.current, self.previous, self.sync_done | {name})

    # --- plain dicts ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": committee.FORMAT_VERSION,
            "epoch": self.epoch,
            "phase": self.phase.value,
            "n_shards": self.n_shards,
            "members": [m.to_dict() for m in self.current.members],
            "previous": None if self.previous is None else self.previous.to_dict(standalone=False),
            "next": None if self.next is None else self.next.to_dict(standalone=False),
            "sync_done": sorted(self.sync_done),
        }

    @classmethod
    def from_dict(cls, value: object) -> EpochState:
        """Parse :meth:`to_dict` output (a committee file); errors name the field."""
        d = _fields.mapping(value, "")
        keys = ("version", "epoch", "phase", "n_shards", "members", "previous", "next", "sync_done")
        _fields.check_keys(d, "", keys, _RESERVED_KEYS)
        committee.check_version(d, "")
        n_shards = _fields.integer(d["n_shards"], "n_shards")
        phase_text = d["phase"]
        try:
            phase = Phase(phase_text)
        except ValueError:
            allowed = " or ".join(p.value for p in Phase)
            raise errors.InvalidFieldError(
                "phase", f"expected {allowed}, got {phase_text!r}"
            ) from None
        current = committee.Committee.from_dict(
            {"epoch": d["epoch"], "members": d["members"]}, "", n_shards
        )
        previous, upcoming = (
            None if d[key] is None else committee.Committee.from_dict(d[key], key, n_shards)
            for key in ("previous", "next")
        )
        done = _fields.sequence(d["sync_done"], "sync_done")
        names = [_fields.string(n, _fields.at("sync_done", i)) for i, n in enumerate(done)]
        return cls(
            current=current,
            phase=phase,
            previous=previous,
            next=upcoming,
            sync_done=frozenset(names),
        )


def _changing(
    current: committee.Committee, previous: committee.Committee, done: frozenset[str]
) -> EpochState:
    """The state during a change to ``current``: Stable once ``done`` holds a quorum."""
    finished = current.is_quorum(current.weight(done))
    return EpochState(
        current=current,
        phase=Phase.STABLE if finished else Phase.EPOCH_CHANGE,
        previous=previous,
        sync_done=done,
    )
