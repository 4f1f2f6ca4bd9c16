"""One epoch's committee: lookups, BFT weights, validation and the committee-file form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from tests.unit.committee import strategies
from walrus_node.committee import committee, errors


def example() -> committee.Committee:
    """Ten shards: a owns 0-3, b 4-6, c 7-9 (given out of order on purpose)."""
    a = strategies.candidate("node-00", 40).with_shards([0, 1, 2, 3])
    b = strategies.candidate("node-01", 30).with_shards([4, 5, 6])
    c = strategies.candidate("node-02", 30).with_shards([9, 8, 7])
    return committee.Committee(5, 10, (c, a, b))


def test_lookups() -> None:
    c = example()
    assert c.names == ("node-00", "node-01", "node-02")
    assert c.owner(0).name == "node-00"
    assert c.owner(7).name == "node-02"
    assert c.owners() == ("node-00",) * 4 + ("node-01",) * 3 + ("node-02",) * 3
    assert c.shards_of("node-02") == (7, 8, 9)
    assert c.shards_of("nobody") == ()
    assert c.by_key(strategies.key_of("node-01")) == c.by_name("node-01")
    assert c.by_key(b"\x00" * 32) is None
    assert c.index_of("node-02") == 2
    assert "node-01" in c and "nobody" not in c
    assert c.total_stake == 100
    with pytest.raises(KeyError, match="nobody"):
        c.by_name("nobody")
    with pytest.raises(errors.InvalidFieldError, match=r"^shard: 10 out of range"):
        c.owner(10)


def test_quorum_and_validity_for_ten_shards() -> None:
    # n = 10: f = 3, quorum n - f = 7, validity f + 1 = 4.
    c = example()
    assert c.weight(["node-00", "node-01"]) == 7
    assert c.weight(["node-00", "node-00", "nobody"]) == 4
    assert c.is_quorum(7) and not c.is_quorum(6)
    assert c.is_validity(4) and not c.is_validity(3)
    assert c.shard_weight([0, 0, 5, 11, -1]) == 2


def test_dict_form_has_version_and_stable_key_order() -> None:
    d = example().to_dict()
    assert list(d) == ["version", "epoch", "n_shards", "members"]
    assert d["version"] == committee.FORMAT_VERSION
    assert [m["name"] for m in d["members"]] == ["node-00", "node-01", "node-02"]
    assert d["members"][2]["shards"] == [7, 8, 9]
    assert list(example().to_dict(standalone=False)) == ["epoch", "members"]


@strategies.no_deadline
@given(strategies.committees())
def test_every_shard_has_exactly_one_owner_and_dicts_round_trip(c: committee.Committee) -> None:
    owned = sorted(s for m in c.members for s in m.shards)
    assert owned == list(range(c.n_shards))
    text = json.dumps(c.to_dict())
    assert committee.Committee.from_dict(json.loads(text)) == c
    embedded = c.to_dict(standalone=False)
    assert committee.Committee.from_dict(embedded, "previous", c.n_shards) == c


def _raw() -> dict[str, Any]:
    return example().to_dict()


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda d: d.update(version=2), "version", "unsupported version 2"),
        (lambda d: d.pop("epoch"), "epoch", "missing"),
        (lambda d: d.update(n_shards=3), "n_shards", "between 4 and 1000"),
        (lambda d: d.update(members=[]), "members", "non-empty"),
        (lambda d: d["members"][1]["shards"].append(9), "members[2].shards", "owned by both"),
        (lambda d: d["members"][1]["shards"].pop(), "members", "without an owner: [6]"),
        (lambda d: d["members"][1]["shards"].append(10), "members[1].shards", "out of range"),
        (lambda d: d["members"][1].update(name="node-00"), "members[1].name", "twice"),
        (
            lambda d: d["members"][1].update(public_key=d["members"][0]["public_key"]),
            "members[1].public_key",
            "same public key",
        ),
        (lambda d: d.update(extra=1), "extra", "unknown field"),
    ],
)
def test_parse_errors_name_the_field(mutate: Any, field: str, reason: str) -> None:
    d = _raw()
    mutate(d)
    with pytest.raises(errors.InvalidFieldError) as caught:
        committee.Committee.from_dict(d)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_embedded_errors_are_placed_under_their_parent() -> None:
    d = example().to_dict(standalone=False)
    d["members"][0]["endpoint"] = "nowhere"
    with pytest.raises(errors.InvalidFieldError) as caught:
        committee.Committee.from_dict(d, "previous", 10)
    assert caught.value.field == "previous.members[0].endpoint"


def test_from_assignment_rejects_unknown_names() -> None:
    nodes = [strategies.candidate("node-00", 1)]
    with pytest.raises(errors.InvalidFieldError, match="node-09"):
        committee.Committee.from_assignment(0, 4, nodes, {"node-09": [0, 1, 2, 3]})
