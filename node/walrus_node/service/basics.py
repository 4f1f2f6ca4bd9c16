"""Small helpers every part of the node service uses: a blob ID from a request, the clock.

Who calls it: :mod:`.blobs`, :mod:`.registrations`, :mod:`.lifetime` and the others in
this package.
"""

from __future__ import annotations

import time

from walrus_node.codec.metadata import BlobId
from walrus_node.protocol import errors

__all__ = ["now_ms", "parse_blob_id"]


def parse_blob_id(raw: bytes) -> BlobId:
    """A blob ID from request bytes; anything but 32 bytes is an invalid request."""
    try:
        return BlobId(raw)
    except ValueError as e:
        raise errors.InvalidRequest(f"blob_id: {e}") from e


def now_ms() -> int:
    """Wall-clock time in milliseconds (creation times, admin timestamps)."""
    return int(time.time() * 1000)
