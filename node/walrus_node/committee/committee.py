"""One epoch's committee: its members and which shards each owns.

Who calls it: nodes (am I an owner of this shard? who owned it before?), clients (where do
slivers go, is a set of confirmations a quorum?), the operator and testbed (they write it
to the committee file), and the rest of this package.

Every shard ``0..n_shards-1`` has exactly one owner; members are kept sorted by name, which
is the canonical member order (a member's index in it is stable for signer lists). Shard
counts are the BFT weights: with ``f = (n - 1) // 3`` a set of members is a *quorum* when
it owns ``>= n - f`` shards and reaches *validity* (contains an honest one) with
``>= f + 1``.

Plain-dict form (the committee file; keys in this order)::

    {"version": 1, "epoch": 3, "n_shards": 10,
     "members": [<member dict, see walrus_node.committee.member>, ...]}

Inside an :class:`~.epoch.EpochState` dict a committee is written without ``version`` and
``n_shards`` (they are the state's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import params as encoding
from walrus_node.committee import _fields, errors, member

__all__ = ["FORMAT_VERSION", "Committee"]

FORMAT_VERSION = 1
"""Version of the plain-dict forms written by this package."""


@dataclasses.dataclass(frozen=True)
class Committee:
    """Members of epoch ``epoch`` and their shards; invalid input raises ``InvalidFieldError``."""

    epoch: int
    n_shards: int
    members: tuple[member.Member, ...]
    _owners: tuple[member.Member, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _by_name: dict[str, member.Member] = dataclasses.field(init=False, repr=False, compare=False)
    _by_key: dict[bytes, member.Member] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _fields.integer(self.epoch, "epoch")
        _fields.integer(self.n_shards, "n_shards")
        try:
            encoding.EncodingParams(self.n_shards)
        except codec_errors.ParameterError as e:
            raise errors.InvalidFieldError("n_shards", str(e)) from None
        given: object = self.members  # checked at run time: callers may pass anything
        if not isinstance(given, tuple) or not given:
            raise errors.InvalidFieldError("members", "expected a non-empty tuple of members")
        owners: list[member.Member | None] = [None] * self.n_shards
        by_name: dict[str, member.Member] = {}
        by_key: dict[bytes, member.Member] = {}
        for i, m in enumerate(self.members):
            where = _fields.at("members", i)
            if not isinstance(m, member.Member):
                raise errors.InvalidFieldError(where, f"expected a Member, got {type(m).__name__}")
            if m.name in by_name:
                raise errors.InvalidFieldError(_fields.at(where, "name"), f"{m.name!r} twice")
            if m.public_key in by_key:
                raise errors.InvalidFieldError(
                    _fields.at(where, "public_key"),
                    f"{m.name!r} has the same public key as {by_key[m.public_key].name!r}",
                )
            by_name[m.name] = m
            by_key[m.public_key] = m
            for shard in m.shards:
                if shard >= self.n_shards:
                    raise errors.InvalidFieldError(
                        _fields.at(where, "shards"),
                        f"shard {shard} out of range 0..{self.n_shards - 1}",
                    )
                previous = owners[shard]
                if previous is not None:
                    raise errors.InvalidFieldError(
                        _fields.at(where, "shards"),
                        f"shard {shard} is owned by both {previous.name!r} and {m.name!r}",
                    )
                owners[shard] = m
        missing = [s for s, owner in enumerate(owners) if owner is None]
        if missing:
            raise errors.InvalidFieldError("members", f"shards without an owner: {missing}")
        object.__setattr__(self, "members", tuple(sorted(self.members, key=lambda m: m.name)))
        object.__setattr__(self, "_owners", tuple(o for o in owners if o is not None))
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_key", by_key)

    # --- lookups ---------------------------------------------------------------------------

    @property
    def params(self) -> encoding.EncodingParams:
        """Encoding parameters (``f``, quorum, validity, sizes) for this shard count."""
        return encoding.EncodingParams(self.n_shards)

    @property
    def names(self) -> tuple[str, ...]:
        """Member names in canonical (sorted) order."""
        return tuple(m.name for m in self.members)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def by_name(self, name: str) -> member.Member:
        """The member called ``name``; ``KeyError`` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no member {name!r} in the committee of epoch {self.epoch}") from None

    def by_key(self, public_key: bytes) -> member.Member | None:
        return self._by_key.get(public_key)

    def shard_count_of(self, public_key: bytes) -> int:
        """Shards owned by the member with this key; 0 for non-members (signature weight)."""
        m = self._by_key.get(public_key)
        return 0 if m is None else m.weight

    def index_of(self, name: str) -> int:
        """Position of a member in canonical order (for signer lists and bitmaps)."""
        self.by_name(name)
        return self.names.index(name)

    def owner(self, shard: int) -> member.Member:
        """The member that owns ``shard``."""
        if isinstance(shard, bool) or not isinstance(shard, int):
            raise errors.InvalidFieldError("shard", f"expected an integer, got {shard!r}")
        if not 0 <= shard < self.n_shards:
            raise errors.InvalidFieldError("shard", f"{shard} out of range 0..{self.n_shards - 1}")
        return self._owners[shard]

    def owners(self) -> tuple[str, ...]:
        """Owner name of every shard, indexed by shard."""
        return tuple(m.name for m in self._owners)

    def shards_of(self, name: str) -> tuple[int, ...]:
        """Shards owned by ``name`` (empty if it is not a member)."""
        m = self._by_name.get(name)
        return () if m is None else m.shards

    def assignment(self) -> dict[str, tuple[int, ...]]:
        """Member name → its shards, in canonical order."""
        return {m.name: m.shards for m in self.members}

    # --- weights and thresholds -----------------------------------------------------------

    def weight(self, names: Iterable[str]) -> int:
        """Shards owned by a set of members (duplicates and non-members count zero)."""
        return sum(len(self.shards_of(name)) for name in set(names))

    def shard_weight(self, shards: Iterable[int]) -> int:
        """Distinct valid shard indices in ``shards``."""
        return len({s for s in shards if 0 <= s < self.n_shards})

    def is_quorum(self, shards: int) -> bool:
        """Whether ``shards`` (a weight) reaches ``n - f``: enough to certify, finish a change."""
        return shards >= self.params.quorum

    def is_validity(self, shards: int) -> bool:
        """Whether ``shards`` (a weight) reaches ``f + 1``: includes at least one honest owner."""
        return shards >= self.params.validity

    @property
    def total_stake(self) -> int:
        return sum(m.stake for m in self.members)

    # --- plain dicts ---------------------------------------------------------------------

    def to_dict(self, *, standalone: bool = True) -> dict[str, Any]:
        """JSON/YAML-ready form; ``standalone=False`` omits ``version`` and ``n_shards``."""
        head: dict[str, Any] = (
            {"version": FORMAT_VERSION, "epoch": self.epoch, "n_shards": self.n_shards}
            if standalone
            else {"epoch": self.epoch}
        )
        return {**head, "members": [m.to_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, value: object, path: str = "", n_shards: int | None = None) -> Committee:
        """Parse :meth:`to_dict` output; pass ``n_shards`` for the embedded form."""
        d = _fields.mapping(value, path)
        if n_shards is None:
            _fields.check_keys(d, path, ("version", "epoch", "n_shards", "members"))
            check_version(d, path)
            n_shards = _fields.integer(d["n_shards"], _fields.at(path, "n_shards"))
        else:
            _fields.check_keys(d, path, ("epoch", "members"))
        epoch = _fields.integer(d["epoch"], _fields.at(path, "epoch"))
        where = _fields.at(path, "members")
        members = tuple(
            member.Member.from_dict(m, _fields.at(where, i))
            for i, m in enumerate(_fields.sequence(d["members"], where))
        )
        try:
            return cls(epoch, n_shards, members)
        except errors.InvalidFieldError as e:
            raise _fields.prefixed(path, e) from None

    @classmethod
    def from_assignment(
        cls,
        epoch: int,
        n_shards: int,
        nodes: Sequence[member.NodeCandidate],
        assignment: Mapping[str, Iterable[int]],
    ) -> Committee:
        """A committee of the ``nodes`` named in ``assignment`` with those shards."""
        by_name = {node.name: node for node in nodes}
        unknown = sorted(set(assignment) - set(by_name))
        if unknown:
            raise errors.InvalidFieldError("assignment", f"names no candidate: {unknown}")
        members = tuple(
            by_name[name].with_shards(shards) for name, shards in sorted(assignment.items())
        )
        return cls(epoch, n_shards, members)


def check_version(d: Mapping[str, Any], path: str) -> None:
    """Raise unless ``d["version"]`` is :data:`FORMAT_VERSION`."""
    version, where = _fields.item(d, path, "version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise errors.InvalidFieldError(
            where, f"unsupported version {version!r}, this library reads {FORMAT_VERSION}"
        )
