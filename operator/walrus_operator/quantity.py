"""Kubernetes resource quantities (`10Gi`, `500M`, `1.5e3`) parsed to exact numbers.

Pure. Used by the models (to validate `storage.size`), by the node reconciler (to tell a
storage increase from a decrease) and by the tests' CEL environment, which implements
Kubernetes' `quantity()` CEL library with it.
"""

from __future__ import annotations

import decimal
import re

__all__ = ["QuantityError", "is_quantity", "parse"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": decimal.Decimal("1e-9"),
    "u": decimal.Decimal("1e-6"),
    "m": decimal.Decimal("1e-3"),
    "": decimal.Decimal(1),
    "k": decimal.Decimal("1e3"),
    "M": decimal.Decimal("1e6"),
    "G": decimal.Decimal("1e9"),
    "T": decimal.Decimal("1e12"),
    "P": decimal.Decimal("1e15"),
    "E": decimal.Decimal("1e18"),
}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exponent>[eE][+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))$"
)


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


def parse(text: str) -> decimal.Decimal:
    """The exact value of a quantity: `parse("1Gi") == 1073741824`."""
    match = _PATTERN.match(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 10Gi, 500M)")
    number = decimal.Decimal(match["number"])
    if match["binary"]:
        return number * _BINARY[match["binary"]]
    if match["exponent"]:
        return number.scaleb(int(match["exponent"][1:]))
    return number * _DECIMAL[match["decimal"] or ""]


def is_quantity(text: str) -> bool:
    return _PATTERN.match(text) is not None
