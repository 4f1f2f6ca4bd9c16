"""Names of the gRPC trailing metadata the node's servicer sends and its client reads.

Kept apart from the servicer so that the client (and so the operator) does not import
the server, its store and LMDB to learn a string.
"""

from __future__ import annotations

BLOB_STATE_KEY = "walrus-blob-state"
"""Trailing metadata naming why a blob is gone ("expired", "deleted", "invalid")."""
