"""The HTTP ``Range`` header, as the aggregator understands it (RFC 9110 §14). Pure.

Who calls it: :mod:`walrus_node.gateway.aggregator`.

One range per request: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``. A header that is not
a byte range is ignored (the whole blob is sent, as RFC 9110 requires); several ranges, or
a range that starts past the end, are refused with 416.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["ByteRange", "Unsatisfiable", "parse"]

_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.ASCII)
_MAX_DIGITS = 19  # beyond any blob size; keeps int() of hostile input cheap


class Unsatisfiable(ValueError):
    """The range cannot be served (416); the message says why."""


@dataclasses.dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """Exclusive."""

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{total}"


def parse(header: str | None, total: int) -> ByteRange | None:
    """The range asked for within a blob of ``total`` bytes; None means the whole blob."""
    if header is None:
        return None
    if "," in header and header.strip().lower().startswith("bytes"):
        raise Unsatisfiable("only one range per request")
    m = _SPEC.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if (not first and not last) or len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable("an empty suffix range")
        if total == 0:
            raise Unsatisfiable("the blob is empty")
        return ByteRange(max(0, total - n), total)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= total:
        raise Unsatisfiable(f"range starts at {start}, the blob has {total} bytes")
    end = total if not last else min(int(last) + 1, total)
    return ByteRange(start, end)
