"""The cost of storing a blob."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.committee import strategies
from walrus_node.codec import params
from walrus_node.committee import cost, errors, price

PRICES = price.Prices(storage_price=100, write_price=20)


def test_one_mib_over_seven_shards() -> None:
    # s = ceil(2^20 / 15) = 69 906; encoded = 7 * (8 * 69 906 + 459) = 3 917 949 B -> 4 MiB.
    quote = cost.storage_cost(7, 1 << 20, 5, PRICES)
    assert quote == cost.StorageCost(units=4, epochs=5, storage=2000, write=80)
    assert quote.total == 2080
    assert quote.to_dict() == {
        "units": 4,
        "epochs": 5,
        "storage": 2000,
        "write": 80,
        "total": 2080,
    }


def test_a_tiny_blob_still_pays_for_its_metadata() -> None:
    # 10 shards: metadata is 11 + 640 = 651 B per shard; a 1-byte blob: 11 symbols of 2 B
    # (the smallest even symbol: the code works on 16-bit elements).
    assert params.EncodingParams(10).encoded_size(1) == 10 * (11 * 2 + 651)
    assert cost.encoded_units(10, 1) == 1
    assert cost.storage_cost(10, 0, 1, PRICES).total == 120


def test_extension_costs_storage_only() -> None:
    assert cost.extension_cost(7, 1 << 20, 3, PRICES) == cost.StorageCost(4, 3, 1200, 0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((7, -1, 1), "blob_length"),
        ((7, 10, 0), "epochs"),
        ((3, 10, 1), "n_shards"),
        ((7, 1 << 60, 1), "blob_length"),
    ],
)
def test_bad_arguments_are_named(args: tuple[int, int, int], field: str) -> None:
    with pytest.raises(errors.InvalidFieldError) as caught:
        cost.storage_cost(*args, PRICES)
    assert caught.value.field == field


@strategies.no_deadline
@given(
    st.sampled_from([4, 7, 10, 31, 100]),
    # Up to just below the smallest limit, 4 shards' 2 x 3 x 64 MiB, so length + 1 is valid.
    st.integers(0, params.EncodingParams(4).max_blob_size() - 1),
    st.integers(1, 100),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
)
def test_cost_formula(n: int, length: int, epochs: int, storage: int, write: int) -> None:
    quote = cost.storage_cost(n, length, epochs, price.Prices(storage, write))
    size = params.EncodingParams(n).encoded_size(length)
    assert (quote.units - 1) * cost.MIB < size <= quote.units * cost.MIB
    assert quote.total == quote.units * (storage * epochs + write)
    assert cost.encoded_units(n, length + 1) >= quote.units
