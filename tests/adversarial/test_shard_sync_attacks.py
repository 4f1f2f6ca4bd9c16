"""A Byzantine previous owner during shard sync (issue 10, attacks 3 and 4).

A real node gains shards at an epoch change; their previous owner is
:class:`tests.adversarial.evil_source.EvilSource`, a real gRPC server that lies. Before:
certificates of epochs the node did not know (even future ones) were stored unchecked, an
inconsistently encoded blob made shard sync retry forever, and an empty batch with
``finished=false`` made the node ask again at once, forever.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from collections.abc import Iterator

import pytest

from tests.adversarial.evil_source import Blob, EvilSource
from tests.integration.conftest import wait_until
from walrus_node.committee.committee import Committee
from walrus_node.committee.epoch import EpochState, Phase
from walrus_node.committee.member import Member
from walrus_node.protocol import committee_file
from walrus_node.protocol.views import BlobStatus, BlobStatusState, SyncStatus
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport.client import ChannelPool, RpcError

N_SHARDS = 7
GAINED = (0, 1, 2)
"""Shards the node gains from the liar; it keeps the other four (fewer than a quorum)."""
EPOCH = 7


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    # Plaintext: the lying source (tests/adversarial/evil_source.py) serves without TLS;
    # what is attacked is what shard sync accepts, not the transport.
    bed = Testbed.create(tmp_path / "testbed", 1, n_shards=N_SHARDS, plaintext=True)
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def _member(name: str, key: bytes, endpoint: str, shards: tuple[int, ...]) -> Member:
    return Member(name=name, public_key=key, endpoint=endpoint, stake=1000, shards=shards)


def _hand_over(bed: Testbed, evil: EvilSource) -> None:
    """Push epoch ``EPOCH``: the node under test gains shards ``GAINED`` from ``evil``,
    which owned every shard in the epoch before."""
    node = bed.nodes[0]
    before = Committee(
        EPOCH - 1,
        N_SHARDS,
        (_member("evil", evil.key.public_key, evil.endpoint, tuple(range(N_SHARDS))),),
    )
    now = Committee(
        EPOCH,
        N_SHARDS,
        (
            _member("evil", evil.key.public_key, evil.endpoint, (3, 4, 5, 6)),
            _member(node.name, node.public_key, node.endpoint, GAINED),
        ),
    )
    state = EpochState(now, Phase.EPOCH_CHANGE, before, sync_done=frozenset({"evil"}))
    c = committee_file.ActiveCommittees(
        state, committee_file.NetworkParams(network_id=bed.network_id)
    )

    async def push() -> None:
        pool = ChannelPool(timeout=30.0)
        try:
            await pool.peer(node.endpoint).set_committee(
                bed.admin_key, c.to_json(), target=node.public_key
            )
        finally:
            await pool.close()

    asyncio.run(push())


def _ask(bed: Testbed, blob_id: bytes) -> tuple[SyncStatus, BlobStatus]:
    node = bed.nodes[0]

    async def go() -> tuple[SyncStatus, BlobStatus]:
        pool = ChannelPool(timeout=30.0)
        try:
            peer = pool.peer(node.endpoint)
            sync = await peer.get_sync_status(
                bed.admin_key, network_id=bed.network_id, target=node.public_key
            )
            return sync, await peer.get_blob_status(blob_id)
        finally:
            await pool.close()

    return asyncio.run(go())


def _synced(bed: Testbed, blob_id: bytes) -> bool:
    sync, _ = _ask(bed, blob_id)
    return sync.epoch == EPOCH and sync.epoch_sync_done


@pytest.mark.parametrize(
    "certificate_epoch",
    [pytest.param(EPOCH + 90, id="future-epoch"), pytest.param(3, id="unknown-past-epoch")],
)
def test_shard_sync_stores_no_registration_it_cannot_verify(
    bed: Testbed, certificate_epoch: int
) -> None:
    blob = Blob(os.urandom(5000), N_SHARDS, tampered=False)
    with EvilSource("certificate", blob, certificate=None) as evil:  # type: ignore[arg-type]
        evil.certificate = blob.certificate(certificate_epoch, evil.key, EPOCH + 50)
        _hand_over(bed, evil)
        wait_until(lambda: _synced(bed, blob.blob_id), 120, "the shard to be synced")
        assert evil.sync_calls, "the node never asked its previous owner"
    _, status = _ask(bed, blob.blob_id)
    assert status.state is BlobStatusState.NONEXISTENT
    assert status.slivers_held == 0


def test_shard_sync_backs_off_on_empty_batches(bed: Testbed) -> None:
    blob = Blob(os.urandom(100), N_SHARDS, tampered=False)
    with EvilSource("empty", blob, certificate=None) as evil:  # type: ignore[arg-type]
        _hand_over(bed, evil)
        wait_until(lambda: len(evil.sync_calls) >= 1, 60, "the first SyncShard call")
        time.sleep(6.0)
        calls = len(evil.sync_calls)
    # Back-off 1, 2, 4 s... per shard: a handful in 6 s (asking again at once made
    # thousands).
    assert calls <= 5 * len(GAINED), f"{calls} SyncShard calls in 6 s"


def test_an_inconsistent_blob_is_recorded_invalid_and_shard_sync_finishes(bed: Testbed) -> None:
    blob = Blob(os.urandom(6000), N_SHARDS, tampered=True)
    with EvilSource("recovery", blob, certificate=None) as evil:  # type: ignore[arg-type]
        evil.certificate = blob.certificate(EPOCH - 1, evil.key, EPOCH + 50)
        _hand_over(bed, evil)
        wait_until(lambda: _synced(bed, blob.blob_id), 180, "the shard to be synced")
    sync, status = _ask(bed, blob.blob_id)
    assert status.state is BlobStatusState.INVALID
    assert blob.blob_id in sync.skipped_blob_ids

    async def read() -> str:
        pool = ChannelPool(timeout=30.0)
        try:
            await pool.peer(bed.nodes[0].endpoint).get_metadata(blob.blob_id)
        except RpcError as e:
            return f"{e.code}/{e.blob_state}"
        finally:
            await pool.close()
        return "served"

    assert asyncio.run(read()) == "NOT_FOUND/invalid"


def test_a_liar_cannot_make_a_valid_blob_invalid(bed: Testbed) -> None:
    """The only peer says "invalid blob" and shows a proof of honest symbols: the node
    checks the proof, refuses it, and keeps the blob certified (and keeps trying)."""
    blob = Blob(os.urandom(6000), N_SHARDS, tampered=False)
    with EvilSource("false-claim", blob, certificate=None) as evil:  # type: ignore[arg-type]
        evil.certificate = blob.certificate(EPOCH - 1, evil.key, EPOCH + 50)
        _hand_over(bed, evil)
        wait_until(lambda: evil.proofs_shown >= 2, 120, "the node to ask for the proof")
        sync, status = _ask(bed, blob.blob_id)
    assert status.state is BlobStatusState.CERTIFIED
    assert not sync.epoch_sync_done and not sync.skipped_blob_ids


def test_a_blob_certified_before_the_node_joined_is_recovered_once_vouched_for(
    bed: Testbed,
) -> None:
    """The certificate is from an epoch the node never knew, so it cannot check it; the
    current committee's members holding more than f shards list it in their logs (here
    one peer holding four of seven), so it counts, and the recovery pass rebuilds the
    node's slivers of the blob."""
    blob = Blob(os.urandom(6000), N_SHARDS, tampered=False)
    with EvilSource("recovery", blob, certificate=None) as evil:  # type: ignore[arg-type]
        evil.certificate = blob.certificate(3, evil.key, EPOCH + 50)
        _hand_over(bed, evil)
        wait_until(lambda: _synced(bed, blob.blob_id), 180, "the shard to be synced")
    _, status = _ask(bed, blob.blob_id)
    assert status.state is BlobStatusState.CERTIFIED
    assert status.slivers_held == status.slivers_expected == 2 * len(GAINED)
