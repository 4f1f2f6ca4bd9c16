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
    after = ownership.delete(info, OWNERS[0], EPOCH)
    assert after is not None
    assert after.state is BlobState.CERTIFIED
    assert after.registrations == (permanent(10),)


def test_the_last_deletion_deletes_the_blob() -> None:
    info: BlobInfo | None = certified(deletable(9, OWNERS[0]), deletable(8, OWNERS[1]))
    info = ownership.delete(info, OWNERS[0], EPOCH)
    assert info is not None and info.state is BlobState.CERTIFIED
    info = ownership.delete(info, OWNERS[1], EPOCH)
    assert info is not None and info.state is BlobState.DELETED


def test_a_deleted_registration_is_not_revived_by_its_certificate() -> None:
    info = ownership.delete(certified(deletable(9, OWNERS[0])), OWNERS[0], EPOCH)
    assert info is not None
    assert ownership.certify(info, deletable(9, OWNERS[0]), EPOCH, EPOCH, 0) is None
    # Any certificate of the owner from the deletion's epoch or before is of what it deleted.
    assert ownership.certify(info, deletable(12, OWNERS[0]), EPOCH, EPOCH, 0) is None
    revived = ownership.certify(info, deletable(9, OWNERS[0]), EPOCH + 1, EPOCH + 1, 0)
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
        elif reg.deletable:
            info = ownership.delete(info, reg.owner_public_key, EPOCH) or info
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


# --- deletions by epoch, in any order ---------------------------------------------------------


def _live(info: BlobInfo | None) -> set[tuple[BlobRegistration, int]]:
    if info is None or info.state is not BlobState.CERTIFIED:
        return set()
    return {*zip(info.registrations, info.since, strict=True), *info.shadows}


def test_a_deletion_spares_what_its_owner_certified_in_a_later_epoch() -> None:
    info = ownership.certify(None, deletable(20, OWNERS[0]), 8, 8, 0)
    assert info is not None
    # A deletion signed in epoch 5 (replayed, or relayed late) was of an older registration.
    after = ownership.delete(info, OWNERS[0], 5)
    assert after is not None and after.registrations == (deletable(20, OWNERS[0]),)
    gone = ownership.delete(info, OWNERS[0], 8)
    assert gone is not None and gone.state is BlobState.DELETED


def test_a_deletion_that_arrives_before_its_certificate_still_wins() -> None:
    info = certified(permanent(10))
    info2 = ownership.delete(info, OWNERS[0], EPOCH)  # the owner's certificate not seen yet
    assert info2 is not None and info2.registrations == (permanent(10),)
    assert ownership.certify(info2, deletable(12, OWNERS[0]), EPOCH - 1, EPOCH, 0) is None
    assert ownership.certify(info2, deletable(12, OWNERS[0]), EPOCH, EPOCH, 0) is None


def test_a_node_that_missed_the_extension_deletes_the_earlier_version() -> None:
    stale = ownership.certify(None, deletable(10, OWNERS[0]), 2, 2, 0)  # extended elsewhere
    after = ownership.delete(stale, OWNERS[0], EPOCH)
    assert after is not None and after.state is BlobState.DELETED
    # The extension's certificate, listed later by a peer, does not bring it back.
    assert ownership.certify(after, deletable(15, OWNERS[0]), 4, EPOCH, 0) is None


def test_a_shorter_registration_made_after_a_deletion_outlives_it_in_either_order() -> None:
    old, new = (deletable(15, OWNERS[0]), 3), (deletable(10, OWNERS[0]), 7)
    first = ownership.certify(None, *old, 7, 0)
    both = ownership.certify(first, *new, 7, 0)  # a shadow: shorter, certified later
    assert both is not None and both.registrations == (old[0],)
    assert both.shadows == (new,)
    assert _live(ownership.delete(both, OWNERS[0], 5)) == {new}
    deleted = ownership.delete(first, OWNERS[0], 5)
    assert _live(ownership.certify(deleted, *new, 7, 0)) == {new}


def test_remembered_deletions_are_forgotten_once_nothing_they_cover_can_live() -> None:
    info = ownership.delete(certified(permanent(30)), OWNERS[0], EPOCH)
    assert info is not None and info.deletions == ((OWNERS[0], EPOCH),)
    assert ownership.expire(info, EPOCH + 9, horizon=10) is None
    pruned = ownership.expire(info, EPOCH + 10, horizon=10)
    assert pruned is not None and pruned.deletions == ()


def test_blob_info_keeps_epochs_shadows_and_deletions() -> None:
    info = BlobInfo(
        BlobState.CERTIFIED,
        1,
        (deletable(15, OWNERS[0]),),
        3,
        (),
        (3,),
        ((OWNERS[1], 2),),
        ((deletable(10, OWNERS[0]), 7),),
    )
    assert BlobInfo.from_bytes(info.to_bytes()) == info
    plain = BlobInfo(BlobState.CERTIFIED, 1, (permanent(9),), 1)
    assert b"since" not in plain.to_bytes()  # what older nodes wrote stays as it was


_epoch = st.integers(1, 8)
_certificate = st.tuples(
    st.just("certify"),
    st.one_of(st.none(), st.sampled_from(OWNERS)),
    st.integers(1, 6),  # lasts this many epochs after its certificate's
    _epoch,
)
_deletion = st.tuples(st.just("delete"), st.sampled_from(OWNERS), st.just(0), _epoch)
_event = st.one_of(_certificate, _deletion)


def _apply(info: BlobInfo | None, event: tuple[str, bytes | None, int, int]) -> BlobInfo | None:
    kind, owner, length, epoch = event
    if kind == "delete":
        assert owner is not None
        return ownership.delete(info, owner, epoch) or info
    reg = permanent(epoch + length) if owner is None else deletable(epoch + length, owner)
    return ownership.certify(info, reg, epoch, 0, 0) or info


@given(st.lists(_event, max_size=14).flatmap(lambda e: st.tuples(st.just(e), st.permutations(e))))
def test_certificates_and_deletions_converge_in_any_order(
    events: tuple[
        list[tuple[str, bytes | None, int, int]], list[tuple[str, bytes | None, int, int]]
    ],
) -> None:
    """Two nodes learning the same certificates and deletions in different orders (one
    from clients as they happened, one from peers' logs in catch-up) end up with the same
    live registrations and remembered deletions."""
    results = []
    for order in events:
        info: BlobInfo | None = BlobInfo(BlobState.REGISTERED, 0)
        for event in order:
            info = _apply(info, event)
        assert info is not None
        results.append((_live(info), info.deletions))
    assert results[0] == results[1]


@given(st.lists(_event, max_size=14), st.sampled_from(OWNERS), _epoch)
def test_a_deletion_removes_only_its_owners_registrations_certified_by_its_epoch(
    events: list[tuple[str, bytes | None, int, int]], owner: bytes, signed: int
) -> None:
    info: BlobInfo | None = BlobInfo(BlobState.REGISTERED, 0)
    for event in events:
        info = _apply(info, event)
    after = ownership.delete(info, owner, signed) or info
    removed = _live(info) - _live(after)
    assert all(r.deletable and r.owner_public_key == owner and e <= signed for r, e in removed)
    spared = {(r, e) for r, e in _live(info) if not (r.owner_public_key == owner and e <= signed)}
    kept = _live(after)
    for r, e in spared:  # another owner's, or certified later: still there, or shadowed
        assert (r, e) in kept or any(
            ownership.owner_of(k) == ownership.owner_of(r) and k.end_epoch >= r.end_epoch
            for k, _ in kept
        )


def test_deletions_of_made_up_owners_are_remembered_only_up_to_a_bound() -> None:
    """Anyone can make keys and sign deletions with them: a lying peer relaying those
    cannot grow a blob's info without bound, and the owner's real deletion still counts."""
    info = certified(permanent(10), deletable(10, OWNERS[0]))
    for i in range(ownership.MAX_EARLY_DELETIONS + 5):
        info = ownership.delete(info, bytes([0xAA, i]) * 16, EPOCH) or info
    assert len(info.deletions) == ownership.MAX_EARLY_DELETIONS
    after = ownership.delete(info, OWNERS[0], EPOCH)
    assert after is not None and after.registrations == (permanent(10),)
    assert (OWNERS[0], EPOCH) in after.deletions


def test_blob_info_written_before_deletions_were_kept_by_epoch_keeps_its_meaning() -> None:
    """Info from before: no certificate epochs (read as 0: any deletion by the owner covers
    the registration, as it did) and deleted registrations remembered exactly."""
    old = (
        b'{"certified_epoch": 1, "created_ms": 5, "state": "certified", "registrations": ['
        b'{"deletable": true, "end_epoch": 9, "length": 100, "owner": "'
        + OWNERS[0].hex().encode()
        + b'"}], "deleted": [{"deletable": true, "end_epoch": 8, "length": 100, "owner": "'
        + OWNERS[1].hex().encode()
        + b'"}]}'
    )
    info = BlobInfo.from_bytes(old)
    assert info.since == () and info.deletions == ()
    assert ownership.certify(info, deletable(8, OWNERS[1]), 9, 1, 0) is None  # still deleted
    later = ownership.delete(info, OWNERS[0], 1)
    assert later is not None and later.state is BlobState.DELETED


# --- no room for another early deletion -------------------------------------------------------

MADE_UP = [bytes([0xAA, i]) * 16 for i in range(ownership.MAX_EARLY_DELETIONS + 3)]


def _flooded(made_up: int) -> BlobInfo:
    """A permanent blob whose info remembers ``made_up`` deletions of made-up owners."""
    info = certified(permanent(30))
    for owner in MADE_UP[:made_up]:
        info = ownership.delete(info, owner, EPOCH) or info
    return info


@given(st.integers(0, len(MADE_UP)), st.integers(1, EPOCH + 2))
def test_an_early_deletion_past_the_bound_lacks_room_and_then_wins_once_certified(
    made_up: int, signed: int
) -> None:
    """Past the bound a genuine owner's early deletion is not remembered, and says so
    (:func:`ownership.lacks_room`) instead of looking like one that changes nothing. Once
    its owner's certificate is here the same deletion removes the registration and is
    remembered, however full the blob is."""
    info = _flooded(made_up)
    full = made_up >= ownership.MAX_EARLY_DELETIONS
    assert len(info.deletions) == min(made_up, ownership.MAX_EARLY_DELETIONS)
    assert ownership.lacks_room(info, OWNERS[0], signed) is full
    early = ownership.delete(info, OWNERS[0], signed)
    assert (early is None) is full
    if early is not None:
        assert (OWNERS[0], signed) in early.deletions
    with_owner = ownership.certify(info, deletable(20, OWNERS[0]), signed, signed, 0)
    assert with_owner is not None and deletable(20, OWNERS[0]) in with_owner.registrations
    assert not ownership.lacks_room(with_owner, OWNERS[0], signed)
    removed = ownership.delete(with_owner, OWNERS[0], signed)
    assert removed is not None and removed.registrations == (permanent(30),)
    assert (OWNERS[0], signed) in removed.deletions


@given(
    st.integers(0, len(MADE_UP)),
    st.lists(_event, max_size=10),
    st.sampled_from([*OWNERS, MADE_UP[-1]]),
    _epoch,
)
def test_a_deletion_changes_something_is_known_already_or_lacks_room(
    made_up: int,
    events: list[tuple[str, bytes | None, int, int]],
    owner: bytes,
    signed: int,
) -> None:
    """Whenever :func:`ownership.delete` answers None, either the deletion is known here
    already (remembered for its epoch or a later one, nothing of the owner's left to
    remove) or the blob lacks room for it: never both, never neither."""
    info: BlobInfo | None = _flooded(made_up)
    for event in events:
        info = _apply(info, event)
    assert info is not None
    after = ownership.delete(info, owner, signed)
    lacks = ownership.lacks_room(info, owner, signed)
    remembered = dict(info.deletions).get(owner)
    known = remembered is not None and remembered >= signed
    if after is None:
        assert lacks != known
    else:
        assert not lacks
        assert dict(after.deletions)[owner] >= signed
    if lacks:
        assert remembered is None
        holders = {r.owner_public_key for r, _ in _live(info) if r.deletable}
        early = [o for o in dict(info.deletions) if o not in holders]
        assert len(early) >= ownership.MAX_EARLY_DELETIONS
