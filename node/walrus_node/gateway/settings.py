"""The gateway's settings: parsed once at start-up (command line), passed explicitly.

Who calls it: ``walrus gateway`` builds one; :mod:`walrus_node.gateway.app` and the route
modules read it. Every resource limit has a default and a reason; docs/gateway.md lists them.
"""

from __future__ import annotations

import dataclasses
import pathlib

__all__ = ["GatewaySettings", "SettingsError"]

MiB = 1 << 20


class SettingsError(ValueError):
    """A gateway setting is invalid; the message names the setting."""


@dataclasses.dataclass(frozen=True)
class GatewaySettings:
    aggregator: bool = True
    """Serve ``GET``/``HEAD /v1/blobs/{blob_id}``."""
    publisher: bool = False
    """Serve ``PUT /v1/blobs``."""
    host: str = "127.0.0.1"
    """Address to bind; ``0.0.0.0`` in a container."""
    port: int = 31415
    """TCP port (Walrus's daemon default); 0 picks a free one (printed at start)."""

    committee_refresh_seconds: float = 10.0
    """How often the committee is re-read, so requests follow epoch changes."""
    read_window: int = 2
    """Primary slivers fetched ahead of the client per streamed read, or as many as fit
    in 4 MiB if that is more (``client.stream.AHEAD_BYTES``): bounds a read's memory to
    those slivers plus the one being sent (a sliver is about ``blob / (n - 2f)``)."""
    cache_bytes: int = 0
    """Bytes of hot blobs kept in memory (0: no cache)."""
    cache_max_blob_bytes: int = 16 * MiB
    """Largest blob the cache keeps, so one large blob cannot evict every small one."""

    max_body_bytes: int = 256 * MiB
    """Largest blob a ``PUT`` may send (413 beyond). Encoding needs about 5x this in memory."""
    max_concurrent_uploads: int = 4
    """Uploads encoding and storing at once: each holds its blob and its encoding."""
    max_queued_uploads: int = 16
    """Uploads waiting for a slot; beyond this the publisher answers 429 at once."""
    queue_timeout_seconds: float = 30.0
    """How long a queued upload waits for a slot before the publisher answers 503."""
    max_epochs: int = 0
    """Most epochs a ``PUT`` may ask for (0: as many as the network allows)."""

    jwt_key_file: pathlib.Path | None = None
    """Secret (HS*) or PEM public key (EdDSA, ES*, RS*) that signs publisher tokens; when
    set, every ``PUT`` needs ``Authorization: Bearer <JWT>``."""
    jwt_algorithm: str = "HS256"
    """The one algorithm accepted for tokens (never taken from the token)."""
    jwt_expiring_seconds: int = 0
    """If positive, tokens must carry ``iat`` and ``exp`` exactly this far apart (Walrus's
    ``--jwt-expiring-sec``)."""
    jwt_replay_cache: int = 100_000
    """Token IDs (``jti``) remembered until their expiry to refuse replays."""
    owner_key_file: pathlib.Path | None = None
    """Secret (any bytes, 32+ recommended) from which the publisher derives the key owning
    each tenant's deletable blobs (tenant = the token's ``sub``, or ``default``). Without
    it, a random secret is made at start and deletable blobs cannot be deleted after a
    restart."""

    def __post_init__(self) -> None:
        if not (self.aggregator or self.publisher):
            raise SettingsError("enable --aggregator, --publisher or both")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port: {self.port} is not a TCP port")
        positive = {
            "read_window": self.read_window,
            "max_body_bytes": self.max_body_bytes,
            "max_concurrent_uploads": self.max_concurrent_uploads,
            "jwt_replay_cache": self.jwt_replay_cache,
        }
        for name, value in positive.items():
            if value < 1:
                raise SettingsError(f"{name}: must be at least 1, got {value}")
        non_negative = {
            "cache_bytes": self.cache_bytes,
            "cache_max_blob_bytes": self.cache_max_blob_bytes,
            "max_queued_uploads": self.max_queued_uploads,
            "max_epochs": self.max_epochs,
            "jwt_expiring_seconds": self.jwt_expiring_seconds,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise SettingsError(f"{name}: must not be negative, got {value}")
        if self.committee_refresh_seconds <= 0:
            raise SettingsError("committee_refresh_seconds: must be positive")
        if self.queue_timeout_seconds <= 0:
            raise SettingsError("queue_timeout_seconds: must be positive")
