"""The replay guard: a signed control request is obeyed at most once, by one node.

Who calls it: :mod:`.admin` (every ``Admin`` request) and :mod:`.shard_sync` (every
``SyncShard`` request), after the request's signature verified. A request carries a
:class:`walrus_node.protocol.messages.Binding` (network ID, target node, timestamp,
nonce) inside what was signed; this module refuses, with ``PERMISSION_DENIED``:

- a network ID other than the node's (replay to another network trusting the same key);
- a target other than this node's key (replay to another node of the same network);
- a timestamp more than :data:`WINDOW_MS` from the node's clock (an old request);
- a timestamp before this node process started (a replay after a restart: the nonces
  seen before it are forgotten, so anything signed before is refused instead);
- a nonce already seen within the window (a replay to the same node).

Nonces are kept in memory for the window only; at most ``control_nonce_cache_size`` of
them (a full cache refuses new requests with ``RESOURCE_EXHAUSTED`` rather than forget
one early). The price of the start-time rule: a request signed just before a restart, or
by a signer whose clock runs behind, is refused once and must be signed again.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from walrus_node.protocol import errors, keys
from walrus_node.protocol.messages import NONCE_SIZE, Binding
from walrus_node.service import basics

__all__ = ["WINDOW_MS", "ReplayGuard"]

WINDOW_MS = 5 * 60 * 1000
"""How far a control request's timestamp may be from this node's clock."""


class ReplayGuard:
    def __init__(self, capacity: int, clock: Callable[[], int] = basics.now_ms) -> None:
        self._capacity = capacity
        self._clock = clock
        self.started_ms = clock()
        self._seen: collections.OrderedDict[bytes, int] = collections.OrderedDict()

    def check(self, binding: Binding, network_id: str, me: bytes, what: str) -> None:
        """Admit a verified request once; raise ``PermissionDenied`` naming why not."""
        now = self._clock()
        if binding.network_id != network_id:
            raise errors.PermissionDenied(
                f"{what} was signed for network {binding.network_id!r}; "
                f"this node is in network {network_id!r}"
            )
        if binding.target != me:
            raise errors.PermissionDenied(
                f"{what} was signed for node {_label(binding.target)}, not this node"
            )
        if abs(now - binding.timestamp_ms) > WINDOW_MS:
            raise errors.PermissionDenied(
                f"{what} timestamp is more than {WINDOW_MS // 60000} minutes off"
            )
        if binding.timestamp_ms < self.started_ms:
            raise errors.PermissionDenied(
                f"{what} was signed before this node started; sign it again"
            )
        if len(binding.nonce) != NONCE_SIZE:
            raise errors.InvalidRequest(f"{what} nonce: expected {NONCE_SIZE} bytes")
        while self._seen:  # oldest first: drop what the timestamp check refuses anyway
            nonce, expires = next(iter(self._seen.items()))
            if expires >= now:
                break
            del self._seen[nonce]
        if binding.nonce in self._seen:
            raise errors.PermissionDenied(f"{what} was already received (a replay)")
        if len(self._seen) >= self._capacity:
            raise errors.ResourceExhausted(
                f"{len(self._seen)} control requests in the last "
                f"{WINDOW_MS // 60000} minutes; try again later"
            )
        self._seen[binding.nonce] = binding.timestamp_ms + WINDOW_MS


def _label(key: bytes) -> str:
    return keys.encode_public_key(key) if len(key) == keys.PUBLIC_KEY_SIZE else repr(key[:8])
