"""Network prices from the members' votes: the stake-weighted two-thirds quantile.

Who calls it: the operator (it publishes the prices with the committee), the client (to
quote a store), and :mod:`.cost`.

Units: the **storage price** is what one MiB (1 048 576 bytes) of *encoded* size costs
per epoch, and the **write price** what one MiB of encoded size costs once, when the blob
is registered. Both are integers in the network's smallest currency unit (Walrus: FROST,
10^-9 WAL); nothing here uses floating point.

Rule (:func:`quorum_below`): each member votes one value per price, weighted by its stake.
The network price is the **lowest vote value ``v`` such that the members voting ``<= v``
hold at least two thirds of the stake**, i.e. ``3 * stake(votes <= v) >= 2 * total``.
Ties: equal votes are pooled (their stakes add up), and reaching exactly two thirds is
enough. The price is always one of the votes, between the lowest and the highest. It
exceeds ``x`` only when members holding more than a third of the stake vote above ``x``,
so a third of the stake cannot force a low price on the rest (the 66.7th percentile, as in
Walrus's ``quorum_below``). A committee whose members all have zero stake has no price
(``InvalidFieldError``); selected committees never do. Walrus weights votes by shards
rather than stake; shards follow stake (D'Hondt), so the two differ only by rounding and
the cap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from walrus_node.committee import _fields, committee, errors

__all__ = ["Prices", "network_prices", "quorum_below"]


@dataclasses.dataclass(frozen=True)
class Prices:
    """Network prices, in smallest currency units per MiB of encoded size (module doc)."""

    storage_price: int
    """Per MiB per epoch."""
    write_price: int
    """Per MiB, once per registration."""

    def __post_init__(self) -> None:
        _fields.integer(self.storage_price, "storage_price")
        _fields.integer(self.write_price, "write_price")

    def to_dict(self) -> dict[str, Any]:
        return {"storage_price": self.storage_price, "write_price": self.write_price}

    @classmethod
    def from_dict(cls, value: object, path: str = "") -> Prices:
        d = _fields.mapping(value, path)
        _fields.check_keys(d, path, ("storage_price", "write_price"))
        return cls(
            storage_price=_fields.integer(d["storage_price"], _fields.at(path, "storage_price")),
            write_price=_fields.integer(d["write_price"], _fields.at(path, "write_price")),
        )


def quorum_below(votes: Iterable[tuple[int, int]]) -> int:
    """Lowest ``value`` such that votes ``<= value`` carry ``>= 2/3`` of the weight.

    ``votes`` are ``(value, weight)`` pairs with non-negative integers; zero-weight votes
    take part in nothing. The total weight must be positive.
    """
    pooled: dict[int, int] = {}
    for i, (value, weight) in enumerate(votes):
        _fields.integer(value, _fields.at(_fields.at("votes", i), 0))
        _fields.integer(weight, _fields.at(_fields.at("votes", i), 1))
        if weight:
            pooled[value] = pooled.get(value, 0) + weight
    total = sum(pooled.values())
    if total == 0:
        raise errors.InvalidFieldError("votes", "no vote carries any weight")
    running = 0
    for value in sorted(pooled):
        running += pooled[value]
        if 3 * running >= 2 * total:
            return value
    raise AssertionError("unreachable: the highest vote always carries all the weight")


def network_prices(members: committee.Committee) -> Prices:
    """The prices set by a committee's votes, weighted by stake."""
    return Prices(
        storage_price=quorum_below((m.storage_price_vote, m.stake) for m in members.members),
        write_price=quorum_below((m.write_price_vote, m.stake) for m in members.members),
    )
