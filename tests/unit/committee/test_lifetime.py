"""Blob lifetimes: end epochs, the purchase horizon, extension, expiry and deletion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.committee import errors, lifetime


def test_purchase_covers_a_half_open_range() -> None:
    life = lifetime.Lifetime.purchase(10, 5, deletable=False)
    assert (life.start_epoch, life.end_epoch, life.epochs) == (10, 15, 5)
    assert lifetime.end_epoch(10, 5) == 15
    assert [life.is_live(e) for e in (9, 10, 14, 15)] == [False, True, True, False]
    assert not life.is_expired(14) and life.is_expired(15)


def test_purchase_horizon() -> None:
    assert lifetime.Lifetime.purchase(0, 53, deletable=True).end_epoch == 53
    with pytest.raises(errors.LifetimeError, match="more than the 53 epochs ahead"):
        lifetime.Lifetime.purchase(0, 54, deletable=True)
    with pytest.raises(errors.InvalidFieldError, match=r"^epochs: must be >= 1"):
        lifetime.Lifetime.purchase(0, 0, deletable=True)
    assert lifetime.Lifetime.purchase(3, 8, deletable=True, max_epochs_ahead=8).end_epoch == 11


def test_extension() -> None:
    life = lifetime.Lifetime.purchase(10, 5, deletable=False)
    assert life.extend(12, 3).end_epoch == 18
    assert life.extend(12, 50).end_epoch == 65  # 65 - 12 = 53: the limit
    with pytest.raises(errors.LifetimeError, match="at most 50 more are possible"):
        life.extend(12, 51)
    with pytest.raises(errors.LifetimeError, match="expired at epoch 15"):
        life.extend(15, 1)


def test_deletion_rules() -> None:
    permanent = lifetime.Lifetime.purchase(0, 5, deletable=False)
    assert not permanent.can_delete(1)
    with pytest.raises(errors.LifetimeError, match="permanent blob cannot be deleted"):
        permanent.delete(1)

    deletable = lifetime.Lifetime.purchase(0, 5, deletable=True)
    assert deletable.can_delete(4) and not deletable.can_delete(5)
    gone = deletable.delete(2)
    assert gone.deleted and not gone.is_live(2) and not gone.can_delete(2)
    with pytest.raises(errors.LifetimeError, match="already deleted"):
        gone.delete(3)
    with pytest.raises(errors.LifetimeError, match="deleted blob"):
        gone.extend(3, 1)
    with pytest.raises(errors.LifetimeError, match="already expired"):
        deletable.delete(5)


def test_data_is_kept_while_any_registration_is_live() -> None:
    gone = lifetime.Lifetime.purchase(0, 10, deletable=True).delete(1)
    permanent = lifetime.Lifetime.purchase(0, 4, deletable=False)
    assert lifetime.retained([gone, permanent], 3)
    assert not lifetime.retained([gone, permanent], 4)
    assert not lifetime.retained([], 0)


@pytest.mark.parametrize(
    ("d", "field"),
    [
        ({"start_epoch": 5, "end_epoch": 5, "deletable": True}, "blob.end_epoch"),
        ({"start_epoch": 1, "end_epoch": 5, "deletable": 1}, "blob.deletable"),
        ({"start_epoch": 1, "end_epoch": 5, "deletable": False, "deleted": True}, "blob.deleted"),
        ({"start_epoch": 1, "end_epoch": 5}, "blob.deletable"),
    ],
)
def test_parse_errors_name_the_field(d: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InvalidFieldError) as caught:
        lifetime.Lifetime.from_dict(d, "blob")
    assert caught.value.field == field


@strategies.no_deadline
@given(
    st.integers(0, 1000),
    st.integers(1, 53),
    st.booleans(),
    st.integers(0, 60),
    st.integers(1, 60),
)
def test_extension_properties(
    start: int, epochs: int, deletable: bool, later: int, extra: int
) -> None:
    life = lifetime.Lifetime.purchase(start, epochs, deletable=deletable)
    assert lifetime.Lifetime.from_dict(life.to_dict()) == life
    now = start + later
    try:
        longer = life.extend(now, extra)
    except errors.LifetimeError:
        assert life.is_expired(now) or life.end_epoch + extra - now > 53
        return
    assert longer.end_epoch == life.end_epoch + extra
    assert longer.start_epoch == life.start_epoch and longer.deletable == life.deletable
    assert longer.end_epoch - now <= 53
