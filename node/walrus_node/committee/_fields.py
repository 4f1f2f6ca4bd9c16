"""Checked reads of plain-dict fields, for the ``from_dict`` parsers of this package.

Who calls it: :mod:`.member`, :mod:`.committee`, :mod:`.epoch`, :mod:`.reward`. Every
failure is an :class:`~.errors.InvalidFieldError` whose ``field`` is the full path of the
value (``"previous.members[3].shards[0]"``), so a bad committee file says where it is bad.
Booleans are rejected where integers are expected (``True`` is an ``int`` in Python).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from walrus_node.committee import errors

__all__ = ["at", "check_keys", "integer", "item", "mapping", "prefixed", "sequence", "string"]


def at(path: str, key: str | int) -> str:
    """The path of ``key`` inside the value at ``path`` (``""`` is the top level)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise errors.InvalidFieldError(path or "<top>", f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise errors.InvalidFieldError(path or "<top>", f"keys must be strings, got {key!r}")
    return value


def check_keys(
    value: Mapping[str, Any],
    path: str,
    required: Collection[str],
    optional: Collection[str] = (),
) -> None:
    """Every required key present, no key outside ``required`` and ``optional``."""
    for key in required:
        if key not in value:
            raise errors.InvalidFieldError(at(path, key), "missing")
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            raise errors.InvalidFieldError(
                at(path, key), f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )


def item(value: Mapping[str, Any], path: str, key: str) -> tuple[Any, str]:
    """The value under ``key`` and its path; a missing key is an error."""
    where = at(path, key)
    if key not in value:
        raise errors.InvalidFieldError(where, "missing")
    return value[key], where


def integer(value: object, path: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.InvalidFieldError(path, f"expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise errors.InvalidFieldError(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise errors.InvalidFieldError(path, f"must be <= {maximum}, got {value}")
    return value


def string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise errors.InvalidFieldError(path, f"expected a string, got {_kind(value)}")
    return value


def sequence(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise errors.InvalidFieldError(path, f"expected a list, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"[:80]


def prefixed(path: str, error: errors.InvalidFieldError) -> errors.InvalidFieldError:
    """The same error with its field placed under ``path``."""
    if not path:
        return error
    return errors.InvalidFieldError(at(path, error.field), error.reason)
