"""The LMDB store: what goes in comes out, rot is detected, batches are atomic, and
readers and the writer never block each other into a deadlock."""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import threading

import pytest

from walrus_node.codec.params import SliverType
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.protocol.sliver_buffer import ROOM, SliverBuffer
from walrus_node.store.store import (
    BlobInfo,
    BlobState,
    BlobUnavailableError,
    CorruptSliverError,
    ShardRecord,
    Store,
)

P, S = SliverType.PRIMARY, SliverType.SECONDARY


@pytest.fixture
def store(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "db", map_size=1 << 30)
    yield s
    s.close()


def _id(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _registered(store: Store, *ids: bytes, created_ms: int = 1000) -> None:
    for blob_id in ids:
        store.put_metadata(blob_id, b"meta", BlobInfo(BlobState.REGISTERED, created_ms))


def _cert(blob: bytes, end: int = 5) -> Certificate:
    return Certificate(1, blob, BlobRegistration(end), ((bytes(32), bytes(64)),))


def test_slivers_round_trip_and_count(store: Store) -> None:
    _registered(store, _id(1))
    assert store.put_slivers([(3, P, _id(1), b"abc"), (3, S, _id(1), b"de")]) == 2
    assert store.put_slivers([(3, P, _id(1), b"abc")]) == 0  # already there
    assert store.get_sliver(3, P, _id(1)) == b"abc"
    assert store.count_slivers(_id(1), [3, 4]) == 2
    assert store.has_sliver(3, S, _id(1)) and not store.has_sliver(4, S, _id(1))
    assert store.shards_with_data(10) == [3]


def test_a_rotten_sliver_is_detected_not_served(store: Store) -> None:
    _registered(store, _id(1))
    store.put_slivers([(0, P, _id(1), os.urandom(1000))])
    assert store.tamper_sliver(0, P, _id(1))
    with pytest.raises(CorruptSliverError):
        store.get_sliver(0, P, _id(1))


def test_scanning_a_shard_resumes_after_a_cursor_and_stops_at_a_byte_budget(store: Store) -> None:
    _registered(store, *(_id(i) for i in range(10)))
    store.put_slivers([(1, P, _id(i), bytes(100)) for i in range(10)])
    first, done = store.scan_shard(1, P, b"", 4)
    assert [k for k, _ in first] == [_id(i) for i in range(4)] and not done
    rest, done = store.scan_shard(1, P, first[-1][0], 100)
    assert [k for k, _ in rest] == [_id(i) for i in range(4, 10)] and done
    budget, done = store.scan_shard(1, P, b"", 100, max_bytes=250)
    assert len(budget) == 3 and not done


def test_a_certificate_delivered_twice_is_logged_once(store: Store) -> None:
    def merge(info: BlobInfo | None) -> BlobInfo | None:
        if info is not None and info.state is BlobState.CERTIFIED:
            return None
        return BlobInfo(BlobState.CERTIFIED, 0, (BlobRegistration(5),), 1)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.record_certificate(_cert(_id(1)), merge), range(8)))
    assert results.count(True) == 1
    assert len(store.certificates_after(0, 100)) == 1
    assert store.certificate_of(_id(1)) == _cert(_id(1))


def test_a_gone_blob_can_be_registered_again(store: Store) -> None:
    info = BlobInfo(BlobState.REGISTERED, 0)
    assert store.put_metadata(_id(1), b"meta", info)
    store.drop_blob_data(_id(1), BlobInfo(BlobState.DELETED, 0), 10)
    assert store.get_metadata(_id(1)) is None
    assert store.put_metadata(_id(1), b"meta", info)
    assert store.get_blob_info(_id(1)) == info


def _certified(info: BlobInfo | None, cert: Certificate) -> BlobInfo | None:
    return BlobInfo(BlobState.CERTIFIED, 0, (cert.registration,), cert.epoch)


def test_shard_batches_store_slivers_metadata_certificate_and_cursor_together(store: Store) -> None:
    record = ShardRecord(_id(2), b"meta", _cert(_id(2)), P, b"sliver")
    store.ingest_shard_batch(5, [record], _certified, "cursor", b"\x02")
    assert store.get_sliver(5, P, _id(2)) == b"sliver"
    assert store.get_metadata(_id(2)) == b"meta"
    assert store.get_state("cursor") == b"\x02"
    assert store.certificate_of(_id(2)) == _cert(_id(2))


def test_a_shard_batch_sliver_received_into_a_buffer_is_stored_as_its_bytes(store: Store) -> None:
    """A shard batch's sliver comes as a :class:`SliverBuffer` (put together as it
    arrived): stored with its checksum in the buffer's room, read back as its bytes."""
    buffer = SliverBuffer(6)
    buffer.append(b"sli")
    buffer.append(b"ver")
    record = ShardRecord(_id(2), b"meta", _cert(_id(2)), P, buffer)
    store.ingest_shard_batch(5, [record], _certified, "cursor", b"\x02")
    assert store.get_sliver(5, P, _id(2)) == b"sliver"
    assert bytes(buffer.value[ROOM:]) == b"sliver"


def test_readers_of_every_shard_and_the_writer_run_together(store: Store) -> None:
    """Regression: opening a shard's database lazily from a reader thread deadlocked
    against the writer thread (LMDB's writer mutex held across the GIL)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                store.count_slivers(_id(1), list(range(256)))
        except BaseException as e:
            errors.append(e)

    _registered(store, _id(1))
    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for shard in range(256):
            store.put_slivers([(shard, P, _id(1), b"x")])
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in readers) and errors == []
    assert store.count_slivers(_id(1), list(range(256))) == 256


def test_slivers_of_a_blob_without_metadata_are_refused_whole(store: Store) -> None:
    """A late upload after the collector (or a deletion) removed the blob leaves nothing."""
    _registered(store, _id(1))
    with pytest.raises(BlobUnavailableError):
        store.put_slivers([(0, P, _id(1), b"a"), (0, P, _id(2), b"b")])
    assert not store.has_sliver(0, P, _id(1))


def test_collecting_uncertified_data_spares_blobs_certified_meanwhile(store: Store) -> None:
    _registered(store, _id(1), _id(2), created_ms=1000)
    store.put_slivers([(7, P, _id(1), b"a"), (7, P, _id(2), b"b")])
    store.put_blob_info(_id(2), BlobInfo(BlobState.CERTIFIED, 1000, (BlobRegistration(5),), 1))
    assert not store.remove_uncertified(_id(1), created_before_ms=1000, n_shards=10)  # young
    assert store.remove_uncertified(_id(1), created_before_ms=2000, n_shards=10)
    assert not store.remove_uncertified(_id(2), created_before_ms=2000, n_shards=10)
    assert store.get_metadata(_id(1)) is None and not store.has_sliver(7, P, _id(1))
    assert store.get_metadata(_id(2)) is not None and store.has_sliver(7, P, _id(2))


def test_a_tombstone_drops_slivers_and_metadata_in_the_same_transaction(store: Store) -> None:
    certified = BlobInfo(BlobState.CERTIFIED, 0, (BlobRegistration(5),), 1)
    store.put_metadata(_id(1), b"meta", certified)
    store.put_slivers([(2, P, _id(1), b"a"), (3, S, _id(1), b"b")])
    assert store.update_blob(_id(1), lambda info: None, 10) is None
    gone = store.update_blob(
        _id(1), lambda info: BlobInfo(BlobState.EXPIRED, 0, (BlobRegistration(5),)), 10
    )
    assert gone is not None and store.get_blob_info(_id(1)) == gone
    assert store.get_metadata(_id(1)) is None and store.count_slivers(_id(1), [2, 3]) == 0


def test_an_invalid_blob_keeps_its_metadata_for_its_proof(store: Store) -> None:
    store.put_metadata(_id(1), b"meta", BlobInfo(BlobState.CERTIFIED, 0))
    store.put_slivers([(2, P, _id(1), b"a")])
    store.update_blob(_id(1), lambda info: BlobInfo(BlobState.INVALID, 0), 10)
    assert store.get_metadata(_id(1)) == b"meta" and store.count_slivers(_id(1), [2]) == 0


def test_shard_batches_store_no_sliver_of_a_blob_that_is_not_certified(store: Store) -> None:
    deleted = BlobInfo(BlobState.DELETED, 0)
    store.put_blob_info(_id(3), deleted)
    unchecked = ShardRecord(_id(4), b"meta", None, P, b"sliver")  # no certificate, unknown
    refused = ShardRecord(_id(3), b"meta", _cert(_id(3)), P, b"sliver")
    store.ingest_shard_batch(5, [unchecked, refused], lambda info, cert: None, "c", b"1")
    assert store.get_sliver(5, P, _id(4)) is None and store.get_blob_info(_id(4)) is None
    assert store.get_sliver(5, P, _id(3)) is None and store.get_metadata(_id(3)) is None
    assert store.get_state("c") == b"1"


def test_the_representative_certificate_is_the_longest_registrations(store: Store) -> None:
    def keep(end: int):  # type: ignore[no-untyped-def]
        def merge(info: BlobInfo | None) -> BlobInfo:
            regs = () if info is None else info.registrations
            return BlobInfo(BlobState.CERTIFIED, 0, (*regs, BlobRegistration(end)), 1)

        return merge

    store.record_certificate(_cert(_id(1), end=9), keep(9))
    store.record_certificate(_cert(_id(1), end=4), keep(4))
    cert = store.certificate_of(_id(1))
    assert cert is not None and cert.registration.end_epoch == 9


def test_a_sliver_is_checked_in_place_then_read_in_pieces(store: Store) -> None:
    _registered(store, _id(1))
    data = os.urandom(10_000)
    store.put_slivers([(2, P, _id(1), data)])
    assert store.check_sliver(2, P, _id(1)) == len(data)
    assert store.check_sliver(2, S, _id(1)) is None
    pieces = [store.read_sliver_range(2, P, _id(1), o, 3000) for o in range(0, len(data), 3000)]
    assert b"".join(p or b"" for p in pieces) == data
    assert [len(p or b"") for p in pieces] == [3000, 3000, 3000, 1000]
    assert store.read_sliver_range(2, S, _id(1), 0, 10) is None
    assert store.tamper_sliver(2, P, _id(1))
    with pytest.raises(CorruptSliverError):
        store.check_sliver(2, P, _id(1))


def test_a_sliver_is_used_where_it_lies_and_rot_is_refused(store: Store) -> None:
    _registered(store, _id(1))
    data = os.urandom(5000)
    store.put_slivers([(2, P, _id(1), data)])
    assert store.with_sliver(2, P, _id(1), lambda view: (type(view), bytes(view[:10]))) == (
        memoryview,
        data[:10],
    )
    assert store.with_sliver(2, S, _id(1), len) is None
    store.tamper_sliver(2, P, _id(1))
    with pytest.raises(CorruptSliverError):
        store.with_sliver(2, P, _id(1), len)


def test_uncertified_usage_counts_metadata_and_slivers_of_uncertified_blobs_only(
    store: Store,
) -> None:
    _registered(store, _id(1), _id(2))
    store.put_slivers([(0, P, _id(1), bytes(100)), (3, S, _id(1), bytes(50))])
    store.put_slivers([(1, P, _id(2), bytes(70))])
    store.record_certificate(
        _cert(_id(2)),
        lambda info: BlobInfo(BlobState.CERTIFIED, 1000, (BlobRegistration(5),), 1),
    )
    assert store.uncertified_usage(4) == {_id(1): len(b"meta") + 150}
    assert store.uncertified_usage(3) == {_id(1): len(b"meta") + 100}  # shards 0..2 only


def test_lacking_slivers_names_each_blobs_missing_types_in_one_read(store: Store) -> None:
    a, b, c = _id(1), _id(2), _id(3)
    _registered(store, a, b, c)
    store.put_slivers([(5, P, a, b"p"), (5, S, a, b"s"), (5, P, b, b"p"), (6, S, c, b"s")])
    assert store.lacking_slivers(5, [a, b, c]) == {b: [S], c: [P, S]}
    assert store.lacking_slivers(6, [c]) == {c: [P]}
    assert store.lacking_slivers(5, []) == {}
