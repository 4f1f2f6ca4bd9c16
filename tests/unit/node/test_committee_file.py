"""The committee file: the epoch state plus parameters, parsed with errors naming the field."""

from __future__ import annotations

import json

import pytest

from walrus_node.committee import epoch, selection
from walrus_node.committee.committee import Committee
from walrus_node.committee.epoch import EpochState
from walrus_node.committee.member import Member, NodeCandidate
from walrus_node.protocol import committee_file, keys


def _state() -> committee_file.ActiveCommittees:
    candidates = [
        NodeCandidate(
            name=f"n{i}",
            public_key=keys.KeyPair.generate().public_key,
            endpoint=f"127.0.0.1:{9000 + i}",
            stake=100,
        )
        for i in range(4)
    ]
    first = selection.select(candidates, 10, epoch=1).committee
    return committee_file.ActiveCommittees(
        epoch.EpochState.genesis(first), committee_file.NetworkParams(10, 7, 3)
    )


def test_round_trip() -> None:
    c = _state()
    again = committee_file.parse(c.to_json())
    assert again == c
    assert again.storage_price == 7 and again.max_epochs_ahead == 10
    assert again.committee_for(1) == c.current and again.committee_for(2) is None


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["members"][0].update(endpoint="nowhere"), "members[0].endpoint"),
        (lambda d: d["params"].update(storage_price=-1), "params.storage_price"),
        (lambda d: d["params"].update(color=1), "params.color"),
        (lambda d: d.update(phase="Confused"), "phase"),
    ],
)
def test_errors_name_the_field(edit, field: str) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads(_state().to_json())
    edit(raw)
    with pytest.raises(committee_file.CommitteeFileError, match=field.replace("[", r"\[")):
        committee_file.parse(json.dumps(raw))


def test_garbage_is_a_committee_file_error() -> None:
    with pytest.raises(committee_file.CommitteeFileError):
        committee_file.parse(b"{not json")
    with pytest.raises(committee_file.CommitteeFileError):
        committee_file.parse(b"[1, 2]")


def test_the_network_id_round_trips_and_is_omitted_when_empty() -> None:
    member = Member(name="a", public_key=b"\x01" * 32, endpoint="h:1", stake=1, shards=(0, 1, 2, 3))
    state = EpochState(Committee(1, 4, (member,)))
    bare = committee_file.ActiveCommittees(state)
    assert "network_id" not in bare.to_dict()["params"]
    named = committee_file.ActiveCommittees(state, committee_file.NetworkParams(network_id="ns/x"))
    assert committee_file.parse(named.to_json()).network_id == "ns/x"
    with pytest.raises(committee_file.CommitteeFileError, match=r"params\.network_id"):
        committee_file.parse(json.dumps({**named.to_dict(), "params": {"network_id": 5}}))
