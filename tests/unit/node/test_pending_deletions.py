"""The table of deletions waiting for their blob: bounded in total and per relaying peer,
and a flooding peer cannot keep another out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from walrus_node.protocol.messages import Deletion
from walrus_node.service.pending_deletions import PendingDeletions

LIAR, HONEST, OTHER = b"L" * 32, b"H" * 32, b"O" * 32


def _deletion(i: int) -> Deletion:
    """A deletion listed at position ``i`` of its relayer's log (its blob ID says which)."""
    return Deletion(1, i.to_bytes(32, "big"), b"k" * 32, b"s" * 64)


def _position(deletion: Deletion) -> int:
    return int.from_bytes(deletion.blob_id, "big")


def test_one_peer_holds_at_most_its_bound_and_the_others_still_get_in() -> None:
    table = PendingDeletions(capacity=100, per_peer=10)
    assert all(table.add(_deletion(i), LIAR, i) for i in range(10))
    assert not table.add(_deletion(10), LIAR, 10)
    assert table.held_by(LIAR) == 10
    assert table.add(_deletion(1000), HONEST, 1000)
    assert _deletion(1000) in table and len(table) == 11


def test_a_full_table_makes_room_by_dropping_the_heaviest_peers_oldest() -> None:
    table = PendingDeletions(capacity=20, per_peer=20)
    for i in range(20):
        assert table.add(_deletion(i), LIAR, i)
    assert table.add(_deletion(1000), HONEST, 1000)
    assert _deletion(0) not in table and _deletion(1) in table
    assert len(table) == 20 and table.held_by(LIAR) == 19


def test_a_peer_as_heavy_as_the_heaviest_does_not_push_others_out() -> None:
    table = PendingDeletions(capacity=4, per_peer=4)
    for i in range(2):
        table.add(_deletion(i), LIAR, i)
        table.add(_deletion(100 + i), HONEST, 100 + i)
    assert not table.add(_deletion(200), HONEST, 200)
    assert table.held_by(LIAR) == 2 and table.held_by(HONEST) == 2


def test_a_deletion_already_waiting_stays_with_its_first_relayer() -> None:
    table = PendingDeletions(capacity=4, per_peer=1)
    assert table.add(_deletion(1), LIAR, 1)
    assert table.add(_deletion(1), HONEST, 1)
    assert table.held_by(LIAR) == 1 and table.held_by(HONEST) == 0
    table.discard(_deletion(1))
    table.discard(_deletion(1))
    assert len(table) == 0 and table.held_by(LIAR) == 0


def test_a_peers_oldest_waiting_position_follows_its_entries() -> None:
    table = PendingDeletions(capacity=3, per_peer=3)
    assert table.oldest_position(LIAR) is None
    for i in (7, 9, 10):
        assert table.add(_deletion(i), LIAR, i)
    assert table.oldest_position(LIAR) == 7
    assert table.add(_deletion(5), HONEST, 5)  # full: the liar's oldest makes room
    assert table.oldest_position(LIAR) == 9 and table.oldest_position(HONEST) == 5
    table.discard(_deletion(9))
    assert table.oldest_position(LIAR) == 10
    table.discard(_deletion(5))
    assert table.oldest_position(HONEST) is None


def test_a_zero_capacity_keeps_nothing() -> None:
    assert not PendingDeletions(capacity=0, per_peer=5).add(_deletion(1), HONEST, 1)


@given(
    capacity=st.integers(1, 30),
    per_peer=st.integers(1, 30),
    steps=st.lists(
        st.tuples(st.sampled_from(["add", "discard"]), st.sampled_from([LIAR, OTHER, HONEST])),
        max_size=200,
    ),
)
def test_bounds_hold_and_a_light_peer_always_gets_in(
    capacity: int, per_peer: int, steps: list[tuple[str, bytes]]
) -> None:
    """Whatever the liars do, the bounds hold; a peer below its bound gets in while the
    table has room, and when it is full exactly if another peer holds at least two more."""
    table = PendingDeletions(capacity, per_peer)
    relayed_by: dict[int, bytes] = {}
    for n, (action, peer) in enumerate(steps):
        if action == "discard":
            for deletion in list(table)[:1]:
                table.discard(deletion)
            continue
        held = {p: table.held_by(p) for p in (LIAR, OTHER, HONEST)}
        full = sum(held.values()) >= capacity
        fair = held[peer] + 2 <= max(held.values())
        added = table.add(_deletion(n), peer, n)
        if added:
            relayed_by[n] = peer
        assert added == (held[peer] < per_peer and (not full or fair)), (held, peer)
        assert len(table) <= capacity
        assert all(table.held_by(p) <= per_peer for p in (LIAR, OTHER, HONEST))
        assert len(table) == sum(table.held_by(p) for p in (LIAR, OTHER, HONEST))
        for p in (LIAR, OTHER, HONEST):  # each peer's oldest waiting position, as relayed
            waiting = [i for i in map(_position, table) if relayed_by[i] == p]
            assert table.oldest_position(p) == (min(waiting) if waiting else None)
