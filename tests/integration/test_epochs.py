"""Epoch changes on real node processes: committees growing and shrinking, stake moving,
shards migrating (cooperatively or by recovery), and blob lifetimes."""

from __future__ import annotations

import os
import pathlib
import signal
from collections.abc import Iterator

import pytest

from tests.support.slivers import shard_slivers
from walrus_node.client.api import BlobGoneError, WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.protocol import keys
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.views import SyncStatus
from walrus_node.testbed.epochs import EpochDriver
from walrus_node.testbed.testbed import Testbed

from .conftest import run, wait_until


@pytest.fixture
def small(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    """4 nodes, 10 shards; shard sync in batches of 2 slivers so a sync takes many steps."""
    bed = Testbed.create(tmp_path / "testbed", 4, 10, node_settings={"shard_sync_batch_slivers": 2})
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


@pytest.fixture
def thousand(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    """4 nodes, 1000 shards: Walrus's own shard count."""
    bed = Testbed.create(tmp_path / "testbed", 4, 1000)
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def _store(bed: Testbed, data: bytes, **kwargs: object) -> BlobId:
    async def go(client: WalrusClient) -> BlobId:
        return (await client.store(data, **kwargs)).blob_id  # type: ignore[arg-type]

    return run(go, bed.client_config)


def _read(bed: Testbed, blob_id: BlobId) -> bytes:
    async def go(client: WalrusClient) -> bytes:
        return (await client.read(blob_id)).data

    return run(go, bed.client_config)


def _sliver_holders(bed: Testbed, blob_id: BlobId) -> dict[int, set[str]]:
    """shard -> names of running nodes that serve both its slivers of the blob."""
    params = EncodingParams(bed.n_shards)
    running = [n for n in bed.nodes if n.is_running()]

    async def go(client: WalrusClient) -> dict[int, set[str]]:
        holders: dict[int, set[str]] = {s: set() for s in range(params.n)}
        for shard in range(params.n):
            for node in running:
                try:
                    await shard_slivers(
                        client._pool.peer(node.endpoint, node.name), params, blob_id, shard
                    )
                except PeerError:
                    continue
                holders[shard].add(node.name)
        return holders

    return run(go, bed.client_config)


def _exactly_one_owner_each(bed: Testbed, blobs: dict[BlobId, bytes]) -> bool:
    committee = bed.committees().current
    for blob_id in blobs:
        holders = _sliver_holders(bed, blob_id)
        for shard, names in holders.items():
            if names != {committee.owner(shard).name}:
                return False
    return True


def _sync_status(bed: Testbed, name: str) -> SyncStatus | str:
    return EpochDriver(bed).sync_statuses().get(name, "not a member")


def test_grow_4_to_7_then_shrink_7_to_5_keeps_every_blob(small: Testbed) -> None:
    bed, driver = small, EpochDriver(small)
    blobs = {_store(bed, d, epochs=10): d for d in (os.urandom(n) for n in (1, 50_000, 700_000))}

    for _ in range(3):
        bed.add_node()
    driver.advance()
    blobs.update({_store(bed, d, epochs=10): d for d in (os.urandom(300_000),)})  # during
    c = driver.wait(timeout=120)
    assert c.epoch == 2 and sorted(c.current.names) == [f"node-{i}" for i in range(7)]
    blobs.update({_store(bed, d, epochs=10): d for d in (os.urandom(200_000),)})  # after
    for blob_id, data in blobs.items():
        assert _read(bed, blob_id) == data
    wait_until(lambda: _exactly_one_owner_each(bed, blobs), what="old owners to drop shards")

    bed.remove_node("node-5")
    bed.remove_node("node-6")
    driver.advance()
    blobs.update({_store(bed, d, epochs=10): d for d in (os.urandom(250_000),)})  # during
    c = driver.wait(timeout=120)
    assert c.epoch == 3 and sorted(c.current.names) == [f"node-{i}" for i in range(5)]
    wait_until(
        lambda: not bed.node("node-5").is_running() and not bed.node("node-6").is_running(),
        what="leaving nodes to stop",
    )
    for blob_id, data in blobs.items():
        assert _read(bed, blob_id) == data
    wait_until(lambda: _exactly_one_owner_each(bed, blobs), what="every shard on one owner")


def test_stake_change_moves_the_expected_shards_and_no_more(small: Testbed) -> None:
    bed, driver = small, EpochDriver(small)
    data = os.urandom(400_000)
    blob_id = _store(bed, data, epochs=10)
    before = bed.committees().current
    bed.set_stake("node-0", 4000)
    c = driver.advance()
    after = c.current
    moved = [s for s in range(bed.n_shards) if before.owner(s).name != after.owner(s).name]
    gained_by_node0 = len(after.shards_of("node-0")) - len(before.shards_of("node-0"))
    assert gained_by_node0 > 0
    # Every moved shard went to node-0, and only as many as it gained.
    assert all(after.owner(s).name == "node-0" for s in moved)
    assert len(moved) == gained_by_node0
    # Nodes whose count did not change kept exactly their shards.
    for name in before.names:
        if len(before.shards_of(name)) == len(after.shards_of(name)):
            assert before.shards_of(name) == after.shards_of(name)
    driver.wait(timeout=120)
    status = _sync_status(bed, "node-0")
    assert isinstance(status, SyncStatus) and status.shards_total == len(moved)
    assert _read(bed, blob_id) == data
    wait_until(lambda: _exactly_one_owner_each(bed, {blob_id: data}), what="handover")


def test_previous_owner_gone_means_recovery_from_the_committee(small: Testbed) -> None:
    bed, driver = small, EpochDriver(small)
    blobs = {_store(bed, d, epochs=10): d for d in (os.urandom(n) for n in (30_000, 90_000))}
    bed.add_node()
    # node-0 will hand shards to node-4; it dies first, so node-4 must recover them.
    before = bed.committees().current
    bed.kill("node-0")
    c = driver.advance()
    lost_by_node0 = set(before.shards_of("node-0")) - set(c.current.shards_of("node-0"))
    gained_from_node0 = lost_by_node0 & set(c.current.shards_of("node-4"))
    assert gained_from_node0, "the new node takes some of node-0's shards"

    def node4_done() -> bool:
        driver.record_progress()
        status = _sync_status(bed, "node-4")
        return isinstance(status, SyncStatus) and status.epoch_sync_done

    wait_until(node4_done, timeout=120, what="node-4 to finish by recovery")
    status = _sync_status(bed, "node-4")
    assert isinstance(status, SyncStatus)
    assert status.slivers_recovered >= 2 * len(blobs) * len(gained_from_node0)
    for blob_id in blobs:
        holders = _sliver_holders(bed, blob_id)
        for shard in gained_from_node0:
            assert "node-4" in holders[shard]
    for blob_id, data in blobs.items():
        assert _read(bed, blob_id) == data


def test_gaining_node_killed_mid_sync_resumes_from_its_cursor(small: Testbed) -> None:
    bed, driver = small, EpochDriver(small)
    blobs = {_store(bed, os.urandom(200_000), epochs=10): b"" for _ in range(40)}
    new = bed.add_node()
    c = driver.advance()
    gained = c.current.shards_of(new.name)
    total = 2 * len(blobs) * len(gained)  # slivers the new node must receive

    def partly_synced() -> bool:
        status = _sync_status(bed, new.name)
        return isinstance(status, SyncStatus) and status.slivers_received >= 4

    wait_until(partly_synced, timeout=60, what="the first batches")
    status = _sync_status(bed, new.name)
    assert isinstance(status, SyncStatus) and not status.epoch_sync_done, "killed mid-sync"
    os.kill(new.pid, signal.SIGKILL)
    wait_until(lambda: not new.is_running(), what="the node to die")
    bed.start(new.name)

    def done() -> bool:
        driver.record_progress()
        status = _sync_status(bed, new.name)
        return isinstance(status, SyncStatus) and status.epoch_sync_done

    wait_until(done, timeout=120, what="the sync to finish after the restart")
    status = _sync_status(bed, new.name)
    assert isinstance(status, SyncStatus)
    # Counts are persisted with the cursor: a restart from scratch would count more.
    assert status.slivers_received + status.slivers_recovered == total
    for blob_id in blobs:
        holders = _sliver_holders(bed, blob_id)
        assert all(new.name in holders[s] for s in gained)


def test_blobs_expire_can_be_extended_and_deleted(small: Testbed, tmp_path: pathlib.Path) -> None:
    bed, driver = small, EpochDriver(small)
    short = os.urandom(10_000)
    short_id = _store(bed, short, epochs=1)
    extended = os.urandom(20_000)
    extended_id = _store(bed, extended, epochs=1)
    owner = keys.KeyPair.generate()
    deletable = os.urandom(30_000)
    deletable_id = _store(bed, deletable, epochs=5, deletable=True, owner=owner)

    async def extend(client: WalrusClient) -> int:
        result = await client.extend(extended_id, 2)
        return result.certificate.registration.end_epoch

    assert run(extend, bed.client_config) == 4

    async def delete(client: WalrusClient) -> int:
        with pytest.raises(Exception, match="not signed by its owner"):
            await client.delete(deletable_id, keys.KeyPair.generate())
        with pytest.raises(Exception, match="permanent"):
            await client.delete(extended_id, owner)
        deleted, problems = await client.delete(deletable_id, owner)
        assert problems == []
        return deleted

    assert run(delete, bed.client_config) == 4
    with pytest.raises(BlobGoneError) as gone:
        _read(bed, deletable_id)
    assert gone.value.state == "deleted"

    driver.advance()  # epoch 2: the blob stored for 1 epoch has ended
    driver.wait(timeout=60)
    with pytest.raises(BlobGoneError) as expired:
        _read(bed, short_id)
    assert expired.value.state == "expired"
    assert _read(bed, extended_id) == extended
    for _ in range(2):  # epochs 3 and 4: the extension ends too
        driver.advance()
        driver.wait(timeout=60)
    with pytest.raises(BlobGoneError):
        _read(bed, extended_id)
    assert not any(_sliver_holders(bed, extended_id).values()), "expired data is deleted"


@pytest.mark.slow
def test_an_epoch_change_at_1000_shards_moves_shards_and_finishes(thousand: Testbed) -> None:
    bed, driver = thousand, EpochDriver(thousand)
    blobs = {_store(bed, d, epochs=10): d for d in (os.urandom(1), os.urandom(1 << 20))}
    before = bed.committees().current
    bed.set_stake("node-0", 4000)
    after = driver.advance().current
    moved = [s for s in range(bed.n_shards) if before.owner(s).name != after.owner(s).name]
    assert moved and all(after.owner(s).name == "node-0" for s in moved)
    driver.wait(timeout=600)
    status = _sync_status(bed, "node-0")
    assert isinstance(status, SyncStatus) and status.shards_total == len(moved)
    for blob_id, data in blobs.items():
        assert _read(bed, blob_id) == data
    node0 = bed.node("node-0")
    params = EncodingParams(bed.n_shards)

    async def served(client: WalrusClient) -> None:
        peer = client._pool.peer(node0.endpoint, node0.name)
        for blob_id in blobs:
            for shard in moved[:: max(1, len(moved) // 5)]:
                await shard_slivers(peer, params, blob_id, shard)

    run(served, bed.client_config)
