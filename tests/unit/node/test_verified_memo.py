"""Shard sync checks a blob's metadata and certificate once per epoch, not once per sliver,
and never takes bytes it did not verify: a memo hit needs the very bytes (or an equal
certificate) that verified before; the memo stays within its capacity. The progress it
saves after every batch holds every field and restores equal."""

from __future__ import annotations

import dataclasses
import json
import os
import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.codec import encoder
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.protocol import errors, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.service.shard_sync import ShardProgress, ShardSync
from walrus_node.service.verified_memo import VerifiedMemo

N_SHARDS = 7


def _blob() -> tuple[bytes, bytes, BlobMetadata]:
    metadata = encoder.encode(os.urandom(3000), N_SHARDS).metadata
    return metadata.blob_id().raw, metadata.to_bytes(), metadata


def _certificate(blob_id: bytes, signer: keys.KeyPair) -> Certificate:
    registration = BlobRegistration(50, unencoded_length=3000)
    message = messages.confirmation_message(5, blob_id, registration)
    return Certificate(5, blob_id, registration, ((signer.public_key, signer.sign(message)),))


class _Registrations:
    """Counts certificate checks; rejects signatures of ``liar``."""

    def __init__(self, liar: bytes = b"") -> None:
        self.checks = 0
        self.liar = liar

    def verify_certificate(self, certificate: Certificate) -> None:
        self.checks += 1
        if certificate.signatures[0][0] == self.liar:
            raise errors.PermissionDenied("signature does not verify")


def _shard_sync(registrations: _Registrations, memo_blobs: int = 16) -> ShardSync:
    config = types.SimpleNamespace(shard_sync_concurrency=1, shard_sync_memo_blobs=memo_blobs)
    ctx: Any = types.SimpleNamespace(config=config)
    return ShardSync(ctx, None, None, None, registrations, None)  # type: ignore[arg-type]


def test_metadata_is_a_hit_only_for_the_bytes_that_verified() -> None:
    blob_id, data, metadata = _blob()
    memo = VerifiedMemo(4)
    assert memo.metadata(blob_id, data) is None
    memo.add_metadata(blob_id, data, metadata)
    assert memo.metadata(blob_id, data) is metadata
    altered = data[:-1] + bytes([data[-1] ^ 1])
    assert memo.metadata(blob_id, altered) is None
    assert memo.metadata(bytes(32), data) is None


def test_shard_sync_verifies_metadata_once_and_still_rejects_altered_bytes() -> None:
    sync = _shard_sync(_Registrations())
    blob_id, data, _ = _blob()
    first = sync._metadata(blob_id, data, N_SHARDS)
    assert sync._metadata(blob_id, bytes(data), N_SHARDS) is first  # no second parse
    altered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(errors.DataLoss):
        sync._metadata(blob_id, altered, N_SHARDS)
    with pytest.raises(errors.DataLoss):  # verified bytes of another blob
        sync._metadata(bytes(32), data, N_SHARDS)


def test_shard_sync_checks_an_equal_certificate_once_and_a_different_one_again() -> None:
    honest, liar = keys.KeyPair.generate(), keys.KeyPair.generate()
    registrations = _Registrations(liar=liar.public_key)
    sync = _shard_sync(registrations)
    blob_id, _, _ = _blob()
    good = _certificate(blob_id, honest)
    for _ in range(32):  # the same blob on 16 gained shards, both sliver types
        assert sync._certificate_checks(good)
    assert registrations.checks == 1
    forged = _certificate(blob_id, liar)
    for _ in range(2):  # a rejected certificate is never remembered
        with pytest.raises(errors.DataLoss):
            sync._certificate_checks(forged)
    assert registrations.checks == 3


def test_a_memo_of_capacity_zero_checks_every_time() -> None:
    registrations = _Registrations()
    sync = _shard_sync(registrations, memo_blobs=0)
    blob_id, _, _ = _blob()
    good = _certificate(blob_id, keys.KeyPair.generate())
    assert sync._certificate_checks(good)
    assert sync._certificate_checks(good)
    assert registrations.checks == 2
    assert len(sync._memo) == 0


@given(
    capacity=st.integers(0, 5),
    ids=st.lists(st.integers(0, 12), max_size=60),
)
def test_the_memo_keeps_at_most_capacity_most_recent_blobs(capacity: int, ids: list[int]) -> None:
    _, data, metadata = _BLOB
    memo = VerifiedMemo(capacity)
    recent: list[int] = []
    for i in ids:
        blob_id = i.to_bytes(32, "big")
        if memo.metadata(blob_id, data) is None:
            memo.add_metadata(blob_id, data, metadata)
        if i in recent:
            recent.remove(i)
        recent.append(i)
        assert len(memo) <= capacity
    kept = recent[-capacity:] if capacity else []
    for i in range(13):
        hit = memo.metadata(i.to_bytes(32, "big"), data) is not None
        assert hit == (i in kept)


_BLOB = _blob()


def test_saved_shard_progress_is_every_field_and_restores_equal() -> None:
    p = ShardProgress(3, "node-1", "recovering", "secondary", "ab" * 32, 5, 7, 1, 2, "e", 1.5)
    saved = json.loads(json.dumps(p.to_dict()))
    assert saved == dataclasses.asdict(p)
    assert ShardProgress(**saved) == p
