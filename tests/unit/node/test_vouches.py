"""Vouching for certificates of epochs a node never knew: more than f shards' worth of
current members must have listed one before it counts."""

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
    vouches = Vouches()
    assert vouches.add(CERT, KEYS[0], Committee()) is None
    assert vouches.add(CERT, KEYS[1], Committee()) is None
    assert vouches.add(CERT, KEYS[2], Committee()) == 3
    assert len(vouches) == 0


def test_repeats_and_strangers_do_not_count() -> None:
    vouches = Vouches()
    for _ in range(5):
        assert vouches.add(CERT, KEYS[0], Committee()) is None
        assert vouches.add(CERT, STRANGER, Committee()) is None
    assert vouches.add(CERT, KEYS[1], Committee()) is None


def test_a_full_table_takes_no_new_certificate() -> None:
    vouches = Vouches(capacity=1)
    other = Certificate(3, CERT.blob_id, CERT.registration, CERT.signatures)
    vouches.add(CERT, KEYS[0], Committee())
    for key in KEYS:
        assert vouches.add(other, key, Committee()) is None


@given(st.lists(st.sampled_from([*KEYS, STRANGER]), max_size=30))
def test_a_certificate_counts_exactly_when_more_than_f_distinct_members_listed_it(
    listers: list[bytes],
) -> None:
    vouches = Vouches()
    counted = [vouches.add(CERT, k, Committee()) for k in listers]
    first = next((i for i, w in enumerate(counted) if w is not None), None)
    members = [k for k in listers if k in KEYS]
    if len(set(members)) < 3:
        assert first is None
    else:
        assert first is not None and len({k for k in listers[: first + 1] if k in KEYS}) == 3
