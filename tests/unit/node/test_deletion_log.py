"""The store's deletion log: a deletion is logged exactly when it changed the blob (in the
same transaction), survives reopening, lists after a cursor, and is pruned from the
oldest on without losing the sequence where the log continues."""

from __future__ import annotations

import dataclasses
import pathlib

from walrus_node.protocol import keys, messages
from walrus_node.protocol.messages import BlobRegistration, Deletion
from walrus_node.service import ownership
from walrus_node.store.store import BlobInfo, BlobState, Store

OWNER = keys.KeyPair.generate()
NETWORK = "unit/log"


def _id(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _deletion(i: int, epoch: int = 3) -> Deletion:
    signature = OWNER.sign(messages.deletion_message(NETWORK, epoch, _id(i), OWNER.public_key))
    return Deletion(epoch, _id(i), OWNER.public_key, signature)


def _certified(store: Store, i: int) -> None:
    info = ownership.certify(None, BlobRegistration(9, True, OWNER.public_key, 10), 2, 2, 0)
    assert info is not None
    store.put_metadata(_id(i), b"meta", info)


def _delete(store: Store, deletion: Deletion) -> BlobInfo | None:
    def update(info: BlobInfo | None) -> BlobInfo | None:
        return ownership.delete(info, deletion.owner_public_key, deletion.epoch)

    return store.record_deletion(deletion, update, 4)


def test_a_deletion_is_logged_once_when_it_changes_the_blob(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 28)
    try:
        _certified(store, 1)
        deleted = _delete(store, _deletion(1))
        assert deleted is not None and deleted.state is BlobState.DELETED
        assert store.get_metadata(_id(1)) is None  # the data went in the same transaction
        assert _delete(store, _deletion(1)) is None  # again: nothing changes, nothing logged
        assert _delete(store, _deletion(2)) is None  # a blob this store does not know
        assert store.deletion_count() == 1
    finally:
        store.close()
    reopened = Store(tmp_path / "db", map_size=1 << 28)
    try:
        assert reopened.deletions_after(0, 10) == [(1, _deletion(1))]
        assert reopened.deletions_after(1, 10) == []
    finally:
        reopened.close()


def test_pruning_drops_the_oldest_and_keeps_the_last(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 28)
    try:
        for i in range(1, 6):
            _certified(store, i)
            _delete(store, _deletion(i, epoch=i))
        assert [s for s, _ in store.deletions_after(0, 3)] == [1, 2, 3]  # the limit
        # Pruning stops at the first entry still useful, even if later ones are not.
        assert store.prune_deletions(lambda d: d.epoch in (1, 2, 4)) == 2
        assert [s for s, _ in store.deletions_after(0, 10)] == [3, 4, 5]
        assert store.prune_deletions(lambda d: True) == 2
        assert [s for s, _ in store.deletions_after(0, 10)] == [5]
        assert store.deletion_count() == 5  # the log continues at 6, not 1
        _certified(store, 6)
        _delete(store, _deletion(6))
        assert [s for s, _ in store.deletions_after(5, 10)] == [6]
    finally:
        store.close()


def test_a_relayed_deletion_checks_only_against_what_the_owner_signed() -> None:
    genuine = _deletion(1)
    assert genuine.is_valid(NETWORK) and Deletion.from_bytes(genuine.to_bytes()) == genuine
    other = keys.KeyPair.generate().public_key
    for altered in (
        dataclasses.replace(genuine, epoch=4),
        dataclasses.replace(genuine, blob_id=_id(2)),
        dataclasses.replace(genuine, owner_public_key=other),
        dataclasses.replace(genuine, blob_id=genuine.blob_id[:31]),
    ):
        assert not altered.is_valid(NETWORK)
    assert not genuine.is_valid("unit/other")
