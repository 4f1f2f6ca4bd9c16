"""What storing a blob costs: encoded MiB * storage price * epochs, plus a one-off write fee.

Who calls it: the client (to quote and check a store), the operator and testbed (to
account for payments into the reward pool).

Units (see :mod:`.price`): prices are integers in the smallest currency unit per MiB of
**encoded** size; storage per epoch, writes once. The encoded size of a blob is
:meth:`walrus_node.codec.params.EncodingParams.encoded_size` (every sliver pair plus a
metadata copy on every shard), billed in whole MiB rounded up::

    units   = ceil(encoded_size(blob_length) / 1 MiB)
    storage = units * storage_price * epochs
    write   = units * write_price
    total   = storage + write

Extending a stored blob by ``k`` epochs costs ``units * storage_price * k`` and no write fee.
All arithmetic is on Python integers, so it never overflows or rounds.

Example, 7 shards (``f = 2``, 3 rows x 5 columns): a 1 MiB blob has 69 906-byte symbols,
so ``encoded_size = 7 * (8 * 69 906 + 459) = 3 917 949`` bytes → 4 units. At a storage
price of 100 and a write price of 20, five epochs cost ``4*100*5 + 4*20 = 2 080``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import params as encoding
from walrus_node.committee import _fields, errors, price

__all__ = ["MIB", "StorageCost", "encoded_units", "extension_cost", "storage_cost"]

MIB = 1 << 20
"""Bytes in the billing unit."""


@dataclasses.dataclass(frozen=True)
class StorageCost:
    """A price quote, broken down; amounts in the smallest currency unit."""

    units: int
    """Encoded size in whole MiB, rounded up."""
    epochs: int
    storage: int
    write: int

    @property
    def total(self) -> int:
        return self.storage + self.write

    def to_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "epochs": self.epochs,
            "storage": self.storage,
            "write": self.write,
            "total": self.total,
        }


def encoded_units(n_shards: int, blob_length: int) -> int:
    """MiB of encoded size billed for a blob of ``blob_length`` bytes over ``n_shards``."""
    _fields.integer(n_shards, "n_shards")
    _fields.integer(blob_length, "blob_length")
    try:
        layout = encoding.EncodingParams(n_shards)
    except codec_errors.ParameterError as e:
        raise errors.InvalidFieldError("n_shards", str(e)) from None
    try:
        size = layout.encoded_size(blob_length)
    except codec_errors.ParameterError as e:
        raise errors.InvalidFieldError("blob_length", str(e)) from None
    return -(-size // MIB)


def storage_cost(n_shards: int, blob_length: int, epochs: int, prices: price.Prices) -> StorageCost:
    """Cost of registering a blob and storing it for ``epochs`` epochs."""
    _fields.integer(epochs, "epochs", 1)
    units = encoded_units(n_shards, blob_length)
    return StorageCost(
        units=units,
        epochs=epochs,
        storage=units * prices.storage_price * epochs,
        write=units * prices.write_price,
    )


def extension_cost(
    n_shards: int, blob_length: int, extra_epochs: int, prices: price.Prices
) -> StorageCost:
    """Cost of keeping an already registered blob ``extra_epochs`` more epochs."""
    _fields.integer(extra_epochs, "extra_epochs", 1)
    units = encoded_units(n_shards, blob_length)
    return StorageCost(
        units=units,
        epochs=extra_epochs,
        storage=units * prices.storage_price * extra_epochs,
        write=0,
    )
