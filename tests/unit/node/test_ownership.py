"""Owned registrations: several owners per blob ID, none replacing or deleting another's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from walrus_node.protocol.messages import BlobRegistration
from walrus_node.service import ownership
from walrus_node.store.store import BlobInfo, BlobState

OWNERS = [bytes([i]) * 32 for i in range(1, 4)]
EPOCH = 5


def permanent(end: int) -> BlobRegistration:
    return BlobRegistration(end, False, b"", 100)


def deletable(end: int, owner: bytes) -> BlobRegistration:
    return BlobRegistration(end, True, owner, 100)


def certified(*registrations: BlobRegistration) -> BlobInfo:
    info: BlobInfo | None = None
    for r in registrations:
        info = ownership.certify(info, r, EPOCH, EPOCH, 0) or info
    assert info is not None
    return info


def test_a_strangers_registration_is_added_beside_the_permanent_one() -> None:
    info = certified(permanent(10), deletable(20, OWNERS[0]))
    assert set(info.registrations) == {permanent(10), deletable(20, OWNERS[0])}


def test_a_strangers_deletion_leaves_the_permanent_blob_stored() -> None:
    info = certified(permanent(10), deletable(20, OWNERS[0]))
    after = ownership.delete(info, deletable(20, OWNERS[0]))
    assert after.state is BlobState.CERTIFIED
    assert after.registrations == (permanent(10),)


def test_the_last_deletion_deletes_the_blob() -> None:
    info = certified(deletable(9, OWNERS[0]), deletable(8, OWNERS[1]))
    info = ownership.delete(info, deletable(9, OWNERS[0]))
    assert info.state is BlobState.CERTIFIED
    info = ownership.delete(info, deletable(8, OWNERS[1]))
    assert info.state is BlobState.DELETED


def test_a_deleted_registration_is_not_revived_by_its_certificate() -> None:
    info = ownership.delete(certified(deletable(9, OWNERS[0])), deletable(9, OWNERS[0]))
    assert ownership.certify(info, deletable(9, OWNERS[0]), EPOCH, EPOCH, 0) is None
    revived = ownership.certify(info, deletable(12, OWNERS[0]), EPOCH, EPOCH, 0)
    assert revived is not None and revived.state is BlobState.CERTIFIED  # a new registration


def test_an_owner_extends_only_its_own_registration() -> None:
    info = certified(permanent(10), deletable(8, OWNERS[0]), deletable(12, OWNERS[0]))
    assert set(info.registrations) == {permanent(10), deletable(12, OWNERS[0])}
    assert ownership.certify(info, deletable(11, OWNERS[0]), EPOCH, EPOCH, 0) is None


def test_expiry_keeps_the_blob_while_any_registration_lives() -> None:
    info = certified(permanent(7), deletable(9, OWNERS[0]))
    after = ownership.expire(info, 7)
    assert after is not None and after.registrations == (deletable(9, OWNERS[0]),)
    gone = ownership.expire(after, 9)
    assert gone is not None and gone.state is BlobState.EXPIRED
    assert ownership.expire(info, 6) is None


def test_an_invalid_blob_takes_no_registration() -> None:
    invalid = BlobInfo(BlobState.INVALID, 0)
    assert ownership.certify(invalid, permanent(10), EPOCH, EPOCH, 0) is None


def test_a_registration_that_has_ended_keeps_nothing_alive() -> None:
    assert ownership.certify(None, permanent(EPOCH), EPOCH, EPOCH, 0) is None


_registration = st.builds(
    lambda end, owner: permanent(end) if owner is None else deletable(end, owner),
    st.integers(EPOCH + 1, EPOCH + 20),
    st.one_of(st.none(), st.sampled_from(OWNERS)),
)


@given(
    st.integers(EPOCH + 1, EPOCH + 20),
    st.lists(st.tuples(st.sampled_from(["certify", "delete"]), _registration), max_size=30),
)
def test_no_sequence_of_other_owners_actions_shortens_or_removes_the_permanent_one(
    end: int, actions: list[tuple[str, BlobRegistration]]
) -> None:
    info = certified(permanent(end))
    for action, reg in actions:
        if action == "certify":
            info = ownership.certify(info, reg, EPOCH, EPOCH, 0) or info
        elif reg.deletable and reg in info.registrations:
            info = ownership.delete(info, reg)
        assert info.state is BlobState.CERTIFIED
        kept = [r for r in info.registrations if not r.deletable]
        assert len(kept) == 1 and kept[0].end_epoch >= end
        owners = [ownership.owner_of(r) for r in info.registrations]
        assert len(owners) == len(set(owners))  # one registration per owner


@given(st.lists(_registration, min_size=1, max_size=20), st.integers(EPOCH, EPOCH + 25))
def test_data_stays_exactly_while_some_registration_lives(
    registrations: list[BlobRegistration], epoch: int
) -> None:
    info = certified(*registrations)
    after = ownership.expire(info, epoch) or info
    alive = any(r.end_epoch > epoch for r in registrations)
    assert (after.state is BlobState.CERTIFIED) == alive


def test_blob_info_written_before_owned_registrations_is_read_as_one() -> None:
    old = (
        b'{"certified_epoch": 1, "created_ms": 5, "registration": {"deletable": false,'
        b' "end_epoch": 9, "length": 100, "owner": ""}, "state": "certified"}'
    )
    info = BlobInfo.from_bytes(old)
    assert info.registrations == (permanent(9),)
    assert BlobInfo.from_bytes(info.to_bytes()) == info
