"""Storing and reading blobs across 7 real node processes, with nodes failing for real."""

from __future__ import annotations

import os
import pathlib
import signal
import threading

import pytest

from tests.support.slivers import serves_all
from walrus_node.client.api import BlobNotFoundError, ClientError, WalrusClient
from walrus_node.codec import encoder
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol.views import BlobStatusState
from walrus_node.testbed.testbed import Testbed

from .conftest import owners, run, wait_until


def _store(bed: Testbed, data: bytes, **kwargs: object) -> BlobId:
    async def go(client: WalrusClient) -> BlobId:
        result = await client.store(data, **kwargs)  # type: ignore[arg-type]
        return result.blob_id

    return run(go, bed.client_config)


def _read(bed: Testbed, blob_id: BlobId) -> tuple[bytes, list[str]]:
    async def go(client: WalrusClient) -> tuple[bytes, list[str]]:
        result = await client.read(blob_id)
        return result.data, result.problems

    return run(go, bed.client_config)


def _holds_all(bed: Testbed, blob_id: BlobId, name: str) -> bool:
    async def go(client: WalrusClient) -> bool:
        for member, status in await client.status(blob_id):
            if member.name == name:
                return (
                    not isinstance(status, str)
                    and status.state is BlobStatusState.CERTIFIED
                    and status.slivers_held == status.slivers_expected > 0
                )
        return False

    return run(go, bed.client_config)


@pytest.mark.parametrize("size", [0, 1, 1000, 1 << 20, (5 << 20) + 3])
def test_store_then_read_returns_identical_bytes(testbed: Testbed, size: int) -> None:
    data = os.urandom(size)
    blob_id = _store(testbed, data)
    read, problems = _read(testbed, blob_id)
    assert read == data
    assert problems == []


def test_reading_a_blob_never_stored_says_it_is_not_stored(testbed: Testbed) -> None:
    """The slivers are asked for while the metadata is: for an unknown blob every node
    refuses both, and the error is the metadata's "not stored", not "no sliver"."""
    _store(testbed, b"something else")
    unknown = BlobId(bytes(32))
    with pytest.raises(BlobNotFoundError, match="is not stored"):
        _read(testbed, unknown)


def test_same_bytes_give_the_same_blob_id(testbed: Testbed) -> None:
    data = b"walrus" * 1000
    assert _store(testbed, data) == _store(testbed, data)


def test_read_succeeds_with_f_nodes_killed_beforehand(testbed: Testbed) -> None:
    data = os.urandom(2 << 20)
    blob_id = _store(testbed, data)
    testbed.kill("node-0")
    testbed.kill("node-1")
    read, _ = _read(testbed, blob_id)
    assert read == data


def test_read_succeeds_when_f_nodes_are_killed_during_the_read(testbed: Testbed) -> None:
    data = os.urandom(8 << 20)
    blob_id = _store(testbed, data)
    params = EncodingParams(7)
    shard_owner = owners(testbed)
    # The client asks for systematic primary slivers first: kill two of their owners as
    # soon as the first sliver bytes arrive, while the others are in flight or queued.
    systematic_owners = [
        shard_owner[params.shard_of_pair(blob_id.raw, i)] for i in range(params.rows)
    ]
    killed: list[str] = []

    def on_progress(_: int) -> None:
        # No sliver has been completely received yet, so killing two of the three owners
        # fails at least one request in flight.
        if not killed:
            for name in systematic_owners[:2]:
                testbed.kill(name)
                killed.append(name)

    async def go(client: WalrusClient) -> bytes:
        return (await client.read(blob_id, progress=on_progress)).data

    assert run(go, testbed.client_config) == data
    assert len(killed) == 2


def test_write_succeeds_when_f_nodes_are_killed_during_the_write_and_they_recover(
    testbed: Testbed,
) -> None:
    data = os.urandom(4 << 20)
    victims = ["node-5", "node-6"]
    killed: list[str] = []

    def on_progress(_: int) -> None:  # called as sliver bytes go out
        if not killed:
            for name in victims:
                testbed.kill(name)
                killed.append(name)

    async def go(client: WalrusClient) -> BlobId:
        result = await client.store(data, progress=on_progress)
        return result.blob_id

    blob_id = run(go, testbed.client_config)
    assert killed == victims
    for name in victims:
        testbed.start(name)
    for name in victims:
        wait_until(lambda n=name: _holds_all(testbed, blob_id, n), what=f"{name} to recover")
    # With two *other* nodes down, the restarted ones must serve what they recovered.
    testbed.kill("node-0")
    testbed.kill("node-1")
    read, _ = _read(testbed, blob_id)
    assert read == data


def test_a_store_cuts_off_a_stopped_node_after_the_grace_and_it_recovers(
    testbed: Testbed,
) -> None:
    """The store does not wait for a stopped node (SIGSTOP) beyond its grace period: it
    returns once nodes holding n - f shards accepted the certificate and the tail's grace
    is over, reporting the node it cut off. Resumed, that node recovers its slivers from
    its peers and serves them with f other nodes down."""
    data = os.urandom(1 << 20)
    victim = testbed.node("node-6")
    os.kill(victim.pid, signal.SIGSTOP)
    try:

        async def go(client: WalrusClient) -> tuple[BlobId, list[str], int]:
            result = await client.store(data)
            return result.blob_id, result.problems, result.certified_by

        blob_id, problems, certified_by = run(go, testbed.client_config)
    finally:
        os.kill(victim.pid, signal.SIGCONT)
    assert certified_by >= EncodingParams(7).quorum
    assert any(p.startswith("node-6: ") for p in problems), problems
    wait_until(
        lambda: _holds_all(testbed, blob_id, "node-6"), timeout=180.0, what="node-6 to recover"
    )
    for name in ("node-0", "node-1"):  # with f others down, node-6 serves what it took
        testbed.kill(name)
    assert _read(testbed, blob_id)[0] == data


def test_node_down_during_write_recovers_its_slivers_after_restart(testbed: Testbed) -> None:
    testbed.kill("node-3")
    data = os.urandom(3 << 20)
    blob_id = _store(testbed, data)
    assert not _holds_all(testbed, blob_id, "node-3")
    testbed.start("node-3")
    wait_until(lambda: _holds_all(testbed, blob_id, "node-3"), what="node-3 to recover")

    async def direct(client: WalrusClient) -> None:
        committees = await client.committees()
        member = next(m for m in committees.current.members if m.name == "node-3")
        node = client._pool.peer(member.endpoint, member.name)
        assert await serves_all(node, EncodingParams(7), [blob_id], member.shards)

    run(direct, testbed.client_config)


def test_data_survives_sigkill_of_every_node(testbed: Testbed) -> None:
    blobs = {_store(testbed, d): d for d in (os.urandom(n) for n in (10, 100_000, 1 << 20))}
    for node in testbed.nodes:
        testbed.kill(node.name)  # SIGKILL, then waits for the process to be gone
    for node in testbed.nodes:
        testbed.start(node.name)
    for blob_id, data in blobs.items():
        assert _read(testbed, blob_id)[0] == data


def test_concurrent_clients_store_and_read_correctly(testbed: Testbed) -> None:
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(3):
                data = os.urandom(100_000 * (seed + 1) + i)
                blob_id = _store(testbed, data)
                assert _read(testbed, blob_id)[0] == data
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_sliver_rotting_on_disk_is_detected_and_repaired(testbed: Testbed) -> None:
    data = os.urandom(1 << 20)
    blob_id = _store(testbed, data)
    shard, sliver_type_name = testbed.corrupt("node-2", blob_id.raw)
    sliver_type = SliverType(sliver_type_name)
    params = EncodingParams(7)
    index = params.sliver_in_pair(sliver_type, params.pair_on_shard(blob_id.raw, shard))
    endpoint = testbed.node("node-2").endpoint

    async def fetch(client: WalrusClient) -> str:
        try:
            await client._pool.peer(endpoint, "node-2").get_sliver(blob_id.raw, sliver_type, index)
        except Exception as e:
            return getattr(e, "code", type(e).__name__)
        return "OK"

    assert run(fetch, testbed.client_config) == "DATA_LOSS"
    wait_until(lambda: run(fetch, testbed.client_config) == "OK", what="the sliver to be repaired")
    assert _read(testbed, blob_id)[0] == data


def test_kill_9_mid_write_loses_no_confirmed_sliver(testbed: Testbed) -> None:
    victim = testbed.node("node-2")
    confirmed: list[BlobId] = []  # blobs whose certificate carries the victim's signature
    stop = threading.Event()

    async def writer(client: WalrusClient) -> None:
        while not stop.is_set():
            try:
                result = await client.store(os.urandom(300_000))
            except Exception:
                continue
            if any(s == victim.public_key for s, _ in result.certificate.signatures):
                confirmed.append(result.blob_id)

    thread = threading.Thread(target=lambda: run(writer, testbed.client_config))
    thread.start()
    try:
        wait_until(lambda: len(confirmed) >= 3, what="confirmations from the victim")
        os.kill(victim.pid, signal.SIGKILL)  # while writes are in flight
        wait_until(lambda: not victim.is_running(), what="the victim to die")
    finally:
        stop.set()
        thread.join()
    # Only the victim comes back: anything it serves now comes from its own disk.
    testbed.down()
    testbed.start("node-2")

    async def check(client: WalrusClient) -> None:
        committees = await client.committees()
        member = committees.current.by_key(victim.public_key)
        assert member is not None
        node = client._pool.peer(victim.endpoint, victim.name)
        assert await serves_all(node, EncodingParams(7), confirmed, member.shards)

    run(check, testbed.client_config)


def test_a_file_is_stored_as_read_from_a_path_or_an_open_file(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    told: list[int] = []

    async def go(client: WalrusClient) -> tuple[BlobId, BlobId, int]:
        by_path = await client.store(path, read_progress=told.append)
        with path.open("rb") as f:
            f.seek(1000)
            by_file = await client.store(f)
        stored = await client.read(by_file.blob_id)
        assert stored.data == data[1000:]
        with pytest.raises(ClientError, match="neither bytes nor a file"):
            await client.store(str(path))  # type: ignore[arg-type]
        return by_path.blob_id, by_file.blob_id, by_path.certificate.registration.unencoded_length

    by_path, by_file, length = run(go, testbed.client_config)
    assert by_path == encoder.encode(data, testbed.n_shards).blob_id
    assert by_file == encoder.encode(data[1000:], testbed.n_shards).blob_id
    assert (length, sum(told)) == (len(data), len(data))
    assert _read(testbed, by_path)[0] == data
