"""Deletions through the node's lifetime rules, on a real store: ``DeleteBlob`` logs what
it applied, a relayed deletion is checked before it is applied, and at a new committee
the log and the blobs' remembered deletions are pruned once nothing they cover can
live."""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Iterator

import grpc
import pytest

from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import committee_file, errors, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Deletion
from walrus_node.service import ownership
from walrus_node.service.context import NodeContext
from walrus_node.service.lifetime import Lifetime
from walrus_node.store.store import BlobState, Store
from walrus_node.transport import status
from walrus_node.transport.client import ChannelPool

HORIZON = 3
OWNER = keys.KeyPair.generate()
NETWORK = "unit/a"


def _committees(at: int) -> committee_file.ActiveCommittees:
    candidates = [
        NodeCandidate(
            name=f"n{i}", public_key=bytes([i + 1]) * 32, endpoint="127.0.0.1:1", stake=100
        )
        for i in range(4)
    ]
    committee = selection.select(candidates, 4, epoch=at).committee
    params = committee_file.NetworkParams(max_epochs_ahead=HORIZON, network_id=NETWORK)
    return committee_file.ActiveCommittees(epoch.EpochState.genesis(committee), params)


@pytest.fixture
def ctx(tmp_path: pathlib.Path) -> Iterator[NodeContext]:
    config = NodeConfig(
        name="n0",
        data_dir=tmp_path / "data",
        key_file=tmp_path / "key",
        committee_file=tmp_path / "committee",
    )
    store = Store(tmp_path / "data")
    context = NodeContext(config, keys.KeyPair.generate(), store, ChannelPool(), NodeMetrics())
    context.committees = _committees(5)
    try:
        yield context
    finally:
        context.shutdown()
        store.close()


def _certify(ctx: NodeContext, at: int) -> bytes:
    blob_id = os.urandom(32)
    registration = BlobRegistration(at + HORIZON, True, OWNER.public_key, 100)
    info = ownership.certify(None, registration, at, at, 0)
    assert info is not None
    ctx.store.put_blob_info(blob_id, info)
    return blob_id


def _signed(blob_id: bytes, at: int, network: str = NETWORK) -> bytes:
    return OWNER.sign(messages.deletion_message(network, at, blob_id, OWNER.public_key))


def test_delete_blob_logs_what_it_applied_and_a_relay_is_checked(ctx: NodeContext) -> None:
    lifetime = Lifetime(ctx)

    async def go() -> None:
        first, second = _certify(ctx, 5), _certify(ctx, 5)
        assert await lifetime.delete_blob(first, 5, _signed(first, 5))
        assert not await lifetime.delete_blob(first, 5, _signed(first, 5))  # once
        [(sequence, logged)] = await lifetime.deletions_after(0, 0)
        assert sequence == 1 and logged == Deletion(5, first, OWNER.public_key, logged.signature)
        assert logged.is_valid(NETWORK)
        assert await lifetime.deletes_nothing(logged)  # a peer listing it back: skipped
        forged = Deletion(5, second, OWNER.public_key, os.urandom(64))
        with pytest.raises(errors.PermissionDenied):
            await lifetime.accept_relayed(forged)
        with pytest.raises(errors.StaleEpoch):  # later than the next epoch
            await lifetime.accept_relayed(Deletion(7, second, OWNER.public_key, _signed(second, 7)))
        with pytest.raises(errors.NotFound):
            unknown = os.urandom(32)
            await lifetime.accept_relayed(
                Deletion(5, unknown, OWNER.public_key, _signed(unknown, 5))
            )
        info = ctx.store.get_blob_info(second)
        assert info is not None and info.state is BlobState.CERTIFIED
        assert await lifetime.accept_relayed(
            Deletion(5, second, OWNER.public_key, _signed(second, 5))
        )
        assert [s for s, _ in await lifetime.deletions_after(0, 0)] == [1, 2]

    asyncio.run(go())


def test_a_new_committee_prunes_deletions_that_can_no_longer_remove_anything(
    ctx: NodeContext,
) -> None:
    lifetime = Lifetime(ctx)

    async def go() -> None:
        old = _certify(ctx, 5)
        assert await lifetime.delete_blob(old, 5, _signed(old, 5))
        ctx.committees = _committees(6)
        recent = _certify(ctx, 6)
        assert await lifetime.delete_blob(recent, 6, _signed(recent, 6))
        ctx.committees = _committees(5 + HORIZON - 1)
        await lifetime.expire_blobs()
        assert [s for s, _ in await lifetime.deletions_after(0, 0)] == [1, 2]
        ctx.committees = _committees(5 + HORIZON)  # nothing certified by epoch 5 lives now
        await lifetime.expire_blobs()
        assert [s for s, _ in await lifetime.deletions_after(0, 0)] == [2]
        gone = ctx.store.get_blob_info(old)
        assert gone is not None and gone.deletions == ()
        kept = ctx.store.get_blob_info(recent)
        assert kept is not None and kept.deletions == ((OWNER.public_key, 6),)

    asyncio.run(go())


def test_a_deletion_signed_for_another_network_or_in_the_old_format_is_refused(
    ctx: NodeContext,
) -> None:
    """The owner's genuine signature, made for another network (or over the first
    format's bytes, which name none), deletes nothing here, whether the owner's call
    brings it or a peer relays it; the same owner's deletion for this network does."""
    lifetime = Lifetime(ctx)
    old_format = b"walrus-k8s/deletion/v1\x00"

    async def go() -> None:
        blob_id = _certify(ctx, 5)
        foreign = _signed(blob_id, 5, network="unit/b")
        v1 = OWNER.sign(old_format + (5).to_bytes(8, "little") + blob_id)
        for signature in (foreign, v1):
            with pytest.raises(errors.PermissionDenied, match="for this network"):
                await lifetime.delete_blob(blob_id, 5, signature)
            with pytest.raises(errors.PermissionDenied, match="for this network"):
                await lifetime.accept_relayed(Deletion(5, blob_id, OWNER.public_key, signature))
        info = ctx.store.get_blob_info(blob_id)
        assert info is not None and info.state is BlobState.CERTIFIED
        assert await lifetime.deletions_after(0, 0) == []
        assert await lifetime.delete_blob(blob_id, 5, _signed(blob_id, 5))

    asyncio.run(go())


def _flood(ctx: NodeContext, blob_id: bytes, at: int) -> None:
    """Fill ``blob_id``'s early deletions with made-up owners' deletions signed in ``at``,
    as a lying peer relaying them would."""
    info = ctx.store.get_blob_info(blob_id)
    for _ in range(ownership.MAX_EARLY_DELETIONS):
        info = ownership.delete(info, keys.KeyPair.generate().public_key, at) or info
    assert info is not None and len(info.deletions) == ownership.MAX_EARLY_DELETIONS
    ctx.store.put_blob_info(blob_id, info)


def test_a_relayed_deletion_a_full_blob_cannot_remember_waits_for_its_certificate(
    ctx: NodeContext,
) -> None:
    """A known blob's early deletions are full of made-up owners'. The real owner's
        deletion, relayed before the owner's certificate reached this node, is checked (not
        skipped as "changes nothing") and refused with ``NoRoomForDeletion``, nothing logged
    and no write transaction made;
        once the certificate is here, the same deletion removes the registration."""
    lifetime = Lifetime(ctx)
    alice = keys.KeyPair.generate()

    async def go() -> None:
        blob_id = os.urandom(32)
        info = ownership.certify(None, BlobRegistration(20, False, b"", 100), 5, 5, 0)
        assert info is not None
        ctx.store.put_blob_info(blob_id, info)
        _flood(ctx, blob_id, 5)
        signature = alice.sign(messages.deletion_message(NETWORK, 5, blob_id, alice.public_key))
        genuine = Deletion(5, blob_id, alice.public_key, signature)
        assert not await lifetime.deletes_nothing(genuine)
        assert lifetime.must_wait([genuine]) == {genuine}
        forged = Deletion(5, blob_id, alice.public_key, os.urandom(64))
        with pytest.raises(errors.PermissionDenied):  # checked before anything else
            await lifetime.accept_relayed(forged)
        commits = ctx.store.commits
        with pytest.raises(errors.NoRoomForDeletion, match="certificate has reached"):
            await lifetime.accept_relayed(genuine)
        assert ctx.store.commits == commits  # seen on a read: a flood costs no fsync
        assert await lifetime.deletions_after(0, 0) == []
        registration = BlobRegistration(9, True, alice.public_key, 100)
        full = ctx.store.get_blob_info(blob_id)
        with_alice = ownership.certify(full, registration, 5, 5, 0)
        assert with_alice is not None
        ctx.store.put_blob_info(blob_id, with_alice)
        assert lifetime.must_wait([genuine]) == set()
        assert await lifetime.accept_relayed(genuine)
        after = ctx.store.get_blob_info(blob_id)
        assert after is not None and registration not in after.registrations
        assert (alice.public_key, 5) in after.deletions
        assert [d for _, d in await lifetime.deletions_after(0, 0)] == [genuine]

    asyncio.run(go())


def test_delete_blob_on_a_full_blob_answers_resource_exhausted_not_success(
    ctx: NodeContext,
) -> None:
    """The owner's ``DeleteBlob`` signed in the epoch before its registration was
    certified here removes nothing; on a blob whose early deletions are full it is not
    remembered either, and the owner is told so (RESOURCE_EXHAUSTED), not answered as if
    it had been applied. Signed in the current epoch it deletes."""
    lifetime = Lifetime(ctx)
    ctx.committees = _committees(6)

    async def go() -> None:
        blob_id = _certify(ctx, 6)
        _flood(ctx, blob_id, 6)
        with pytest.raises(errors.NoRoomForDeletion, match="signed in the current epoch") as e:
            await lifetime.delete_blob(blob_id, 5, _signed(blob_id, 5))
        assert status.code_for(e.value) is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await lifetime.deletions_after(0, 0) == []
        assert await lifetime.delete_blob(blob_id, 6, _signed(blob_id, 6))
        info = ctx.store.get_blob_info(blob_id)
        assert info is not None and info.state is BlobState.DELETED

    asyncio.run(go())
