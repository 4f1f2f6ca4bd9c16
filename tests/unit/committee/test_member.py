"""Node identities: validation, endpoints, keys and plain-dict forms."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from tests.unit.committee import strategies
from walrus_node.committee import errors, member


def test_candidate_dict_has_stable_key_order_and_round_trips() -> None:
    node = strategies.candidate("node-00", 1000, commission_bps=6000, storage_price_vote=7)
    d = node.to_dict()
    assert list(d) == [
        "name",
        "public_key",
        "endpoint",
        "stake",
        "commission_bps",
        "storage_price_vote",
        "write_price_vote",
    ]
    assert d["public_key"] == "bm9kZS0wMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert member.NodeCandidate.from_dict(json.loads(json.dumps(d))) == node


def test_candidate_votes_and_commission_default_to_zero() -> None:
    d = strategies.candidate("node-01", 5).to_dict()
    for key in ("commission_bps", "storage_price_vote", "write_price_vote"):
        del d[key]
    parsed = member.NodeCandidate.from_dict(d)
    assert (parsed.commission_bps, parsed.storage_price_vote, parsed.write_price_vote) == (0, 0, 0)


def test_member_sorts_its_shards_and_keeps_identity() -> None:
    node = strategies.candidate("node-02", 9)
    m = node.with_shards([5, 1, 3])
    assert m.shards == (1, 3, 5)
    assert m.weight == 3
    assert m.candidate == node
    assert member.Member.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "two words"}, "name"),
        ({"public_key": b"short"}, "public_key"),
        ({"endpoint": "no-port"}, "endpoint"),
        ({"endpoint": "host:0"}, "endpoint"),
        ({"endpoint": "host:65536"}, "endpoint"),
        ({"endpoint": "::1:80"}, "endpoint"),
        ({"stake": -1}, "stake"),
        ({"stake": True}, "stake"),
        ({"commission_bps": 10_001}, "commission_bps"),
        ({"storage_price_vote": -5}, "storage_price_vote"),
        ({"write_price_vote": 1.5}, "write_price_vote"),
    ],
)
def test_invalid_candidate_fields_are_named(change: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {
        "name": "node-03",
        "public_key": strategies.key_of("node-03"),
        "endpoint": "10.0.0.1:9185",
        "stake": 1,
    }
    fields.update(change)
    with pytest.raises(errors.InvalidFieldError) as caught:
        member.NodeCandidate(**fields)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("10.0.0.7:9185", ("10.0.0.7", 9185)),
        ("node-0.walrus.svc:1", ("node-0.walrus.svc", 1)),
        ("[::1]:65535", ("::1", 65535)),
    ],
)
def test_split_endpoint(endpoint: str, expected: tuple[str, int]) -> None:
    assert member.split_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    ("d", "field"),
    [
        ({"public_key": "not base64!"}, "members[1].public_key"),
        ({"public_key": "AAAA"}, "members[1].public_key"),
        ({"shards": [1, "2"]}, "members[1].shards[1]"),
        ({"shards": [1, 1]}, "members[1].shards"),
        ({"shards": []}, "members[1].shards"),
        ({"shards": 3}, "members[1].shards"),
        ({"colour": "blue"}, "members[1].colour"),
        ({"endpoint": 80}, "members[1].endpoint"),
    ],
)
def test_member_parse_errors_carry_the_full_path(d: dict[str, object], field: str) -> None:
    raw = strategies.candidate("node-04", 3).with_shards([0]).to_dict()
    raw.update(d)
    with pytest.raises(errors.InvalidFieldError) as caught:
        member.Member.from_dict(raw, "members[1]")
    assert caught.value.field == field
    assert str(caught.value).startswith(field + ": ")


def test_missing_field_is_named() -> None:
    raw = strategies.candidate("node-05", 3).to_dict()
    del raw["endpoint"]
    with pytest.raises(errors.InvalidFieldError, match=r"^endpoint: missing$"):
        member.NodeCandidate.from_dict(raw)


@strategies.no_deadline
@given(strategies.candidates())
def test_candidates_round_trip_through_json(nodes: list[member.NodeCandidate]) -> None:
    for node in nodes:
        text = json.dumps(node.to_dict())
        assert member.NodeCandidate.from_dict(json.loads(text)) == node
