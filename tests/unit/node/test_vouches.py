"""Vouching for certificates of epochs a node never knew: more than f shards' worth of
current members must have listed one before it counts, and a member listing made-up ones
cannot keep the others' out of the table."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.service.certificate_sync import Vouches

KEYS = [bytes([i]) * 32 for i in range(1, 8)]
STRANGER = b"\xee" * 32
CERT = Certificate(2, b"\x07" * 32, BlobRegistration(40), ((KEYS[0], b"s" * 64),))


class Committee:
    """Seven members, one shard each: f = 2."""

    n_shards = 7

    def shard_count_of(self, public_key: bytes) -> int:
        return 1 if public_key in KEYS else 0


def test_f_members_are_not_enough_and_f_plus_one_are() -> None:
    vouches = Vouches(100, 100)
    assert vouches.add(CERT, KEYS[0], Committee()) is None
    assert vouches.add(CERT, KEYS[1], Committee()) is None
    assert vouches.add(CERT, KEYS[2], Committee()) == 3
    assert len(vouches) == 0


def test_repeats_and_strangers_do_not_count() -> None:
    vouches = Vouches(100, 100)
    for _ in range(5):
        assert vouches.add(CERT, KEYS[0], Committee()) is None
        assert vouches.add(CERT, STRANGER, Committee()) is None
    assert vouches.add(CERT, KEYS[1], Committee()) is None


def test_a_full_table_takes_no_new_certificate() -> None:
    vouches = Vouches(capacity=1, per_voucher=1)
    other = Certificate(3, CERT.blob_id, CERT.registration, CERT.signatures)
    vouches.add(CERT, KEYS[0], Committee())
    for key in KEYS:
        assert vouches.add(other, key, Committee()) is None


@given(st.lists(st.sampled_from([*KEYS, STRANGER]), max_size=30))
def test_a_certificate_counts_exactly_when_more_than_f_distinct_members_listed_it(
    listers: list[bytes],
) -> None:
    vouches = Vouches(100, 100)
    counted = [vouches.add(CERT, k, Committee()) for k in listers]
    first = next((i for i, w in enumerate(counted) if w is not None), None)
    members = [k for k in listers if k in KEYS]
    if len(set(members)) < 3:
        assert first is None
    else:
        assert first is not None and len({k for k in listers[: first + 1] if k in KEYS}) == 3


def _made_up(i: int, end_epoch: int = 40) -> Certificate:
    """The ``i``-th certificate of an unknown epoch a liar makes up."""
    return Certificate(2, i.to_bytes(32, "big"), BlobRegistration(end_epoch), CERT.signatures)


def test_a_member_listing_made_up_certificates_does_not_keep_the_real_ones_out() -> None:
    """The liar (a member) lists more made-up certificates than the table holds; three
    honest members then list a real one, which still gets in and counts. (With one bound
    for all, the liar's filled the table and the real one was never counted.)"""
    vouches = Vouches(capacity=20, per_voucher=20)
    liar, honest = KEYS[6], KEYS[:3]
    for i in range(100):
        vouches.add(_made_up(i), liar, Committee())
    assert len(vouches) == 20 and vouches.held_by(liar) == 20
    assert vouches.add(CERT, honest[0], Committee()) is None
    assert vouches.add(CERT, honest[1], Committee()) is None
    assert vouches.add(CERT, honest[2], Committee()) == 3
    assert len(vouches) == 19  # it left once counted, one of the liar's made room for it


def test_a_member_is_charged_at_most_its_bound_and_strangers_start_nothing() -> None:
    vouches = Vouches(capacity=100, per_voucher=5)
    for i in range(10):
        vouches.add(_made_up(i), KEYS[0], Committee())
        vouches.add(_made_up(100 + i), STRANGER, Committee())
    assert vouches.held_by(KEYS[0]) == 5 and vouches.held_by(STRANGER) == 0
    assert len(vouches) == 5


def test_certificates_whose_registration_ended_are_pruned() -> None:
    vouches = Vouches(capacity=10, per_voucher=10)
    vouches.add(_made_up(1, end_epoch=5), KEYS[0], Committee())
    vouches.add(_made_up(2, end_epoch=9), KEYS[0], Committee())
    vouches.prune(5)
    assert len(vouches) == 1 and vouches.held_by(KEYS[0]) == 1
    vouches.prune(9)
    assert len(vouches) == 0 and vouches.held_by(KEYS[0]) == 0


@given(
    capacity=st.integers(1, 20),
    per_voucher=st.integers(1, 20),
    steps=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(KEYS[:3])), max_size=150),
)
def test_bounds_hold_and_a_light_member_always_gets_a_certificate_in(
    capacity: int, per_voucher: int, steps: list[tuple[int, bytes]]
) -> None:
    """Whatever is listed, the bounds hold; a new certificate from a member below its
    bound gets in while the table has room, and when it is full exactly if another member
    is charged at least two more."""
    vouches = Vouches(capacity, per_voucher)
    seen: set[int] = set()
    for i, voucher in steps:
        held = {k: vouches.held_by(k) for k in KEYS[:3]}
        before = len(vouches)
        fresh = i not in seen
        seen.add(i)
        vouches.add(_made_up(i), voucher, Committee())
        if fresh:
            full = before >= capacity
            fair = held[voucher] + 2 <= max(held.values())
            got_in = held[voucher] < per_voucher and (not full or fair)
            assert vouches.held_by(voucher) == held[voucher] + got_in
        assert len(vouches) <= capacity
        assert all(vouches.held_by(k) <= per_voucher for k in KEYS[:3])
        assert len(vouches) == sum(vouches.held_by(k) for k in KEYS[:3])


def test_a_members_oldest_listing_still_waiting_follows_the_table() -> None:
    """What pins a member's persisted certificate cursor: the oldest position in its log
    of a certificate it listed that still waits for vouches."""
    vouches = Vouches(capacity=10, per_voucher=10)
    assert vouches.oldest_position(KEYS[0]) is None
    vouches.add(_made_up(1, end_epoch=5), KEYS[0], Committee(), 7)
    vouches.add(CERT, KEYS[0], Committee(), 9)
    vouches.add(CERT, KEYS[1], Committee(), 3)  # another member's log, its own positions
    vouches.add(CERT, KEYS[0], Committee(), 12)  # listed again (after a restart): no later
    assert vouches.oldest_position(KEYS[0]) == 7 and vouches.oldest_position(KEYS[1]) == 3
    vouches.prune(5)
    assert vouches.oldest_position(KEYS[0]) == 9
    assert vouches.add(CERT, KEYS[2], Committee(), 1) == 3  # counted: it waits no more
    assert vouches.oldest_position(KEYS[0]) is None
    assert vouches.oldest_position(KEYS[1]) is None and vouches.oldest_position(KEYS[2]) is None


@given(
    capacity=st.integers(1, 10),
    steps=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from([*KEYS[:4], STRANGER]), st.integers(1, 99)),
        max_size=80,
    ),
)
def test_oldest_positions_are_those_of_the_waiting_listings(
    capacity: int, steps: list[tuple[int, bytes, int]]
) -> None:
    """Whatever is listed, counted, evicted or refused, a member's oldest position is the
    least position at which it listed a certificate still in the table."""
    vouches = Vouches(capacity, capacity)
    listed: dict[int, dict[bytes, int]] = {}  # waiting certificate -> lister -> position
    for i, voucher, position in steps:
        vouches.add(_made_up(i), voucher, Committee(), position)
        mine = listed.setdefault(i, {})
        mine[voucher] = min(position, mine.get(voucher, position))
        waiting = {c.blob_id for c, _ in vouches._pending.values()}
        listed = {j: p for j, p in listed.items() if _made_up(j).blob_id in waiting}
        for k in [*KEYS[:4], STRANGER]:
            positions = [p[k] for p in listed.values() if k in p]
            assert vouches.oldest_position(k) == (min(positions) if positions else None)
