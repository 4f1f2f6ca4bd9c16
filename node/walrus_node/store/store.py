"""The node's crash-safe local store, on LMDB.

Who calls it: :mod:`walrus_node.service` (through worker threads: every method here
blocks), and the testbed's offline tools. Nothing here knows about gRPC or committees.

Why LMDB: a copy-on-write B+tree whose commit is a single fsync'd meta-page switch, so a
``kill -9`` at any instant leaves the last committed state intact with no log to replay;
reads are lock-free and run in parallel with the one writer; values of megabytes go to
overflow pages without write amplification. (RocksDB's LSM tree would add compaction
stalls under bulk shard transfers, a known pain of the original Walrus.)

Durability rule: a method that stores returns only after its transaction committed with
``sync=True``, so whatever the node acknowledged or confirmed survives a crash. Writes made
at the same time by several threads share one transaction and one fsync
(:mod:`.group_commit`); each still returns only after that commit.

Writes take LMDB's default path: a transaction copies each value into dirty pages on the
heap, and the commit writes them to the file (``pwrite``) and fsyncs; the map is
read-only and serves the reads, so a stray write through a view of it cannot reach the
store. LMDB's other mode (``MDB_WRITEMAP``) writes through a writable map instead, one
copy less, but each new page of the file is then filled by a page fault (the kernel
zeroes the page, then the copy lands in it) where ``pwrite`` fills the page cache
directly: on machines where a page's first touch is dear (virtual machines; ``walrus-bench``
prints the machine's "fresh pages" speed) the map's faults took 45% of the nodes' CPU per
64 MiB store, and ``pwrite`` cut the nodes' CPU per store by 7-40% (BENCHMARKS.md,
"Writes by pwrite, and fresh memory on this machine").
The heap pages are reused from one transaction to the next with the tuned allocator
(:mod:`walrus_node.allocator`: one arena, freed memory kept while busy); without it every
big value's dirty pages are fresh memory again. What the mode costs:

* A transaction's new values are held twice until its commit (the caller's buffers and
  LMDB's dirty pages): a group's writes at most, one per writer thread.
* Before each transaction the store checks the volume's free space and reserves disk
  blocks for the writes' bytes plus ``disk_reserve`` bytes past the data's end
  (``fallocate``, :mod:`.disk_room`), and refuses the writes with :class:`StoreFullError`
  when the volume has no room (nothing written), rather than letting the commit fail
  for the whole group. Deletions declare no bytes and still go through. Where
  ``fallocate`` is not supported the free-space check is all there is (a check, not a
  reservation); on copy-on-write filesystems (btrfs, ZFS), where overwriting a page
  needs new blocks too, the guard is weaker than on ext4, XFS or tmpfs.
* A failing write in a group is isolated by re-running the group without it (not by
  nested transactions, which the other mode lacks), so write functions are pure
  functions of their transaction.

A store written in either mode opens in the other: the file's format is LMDB's.

Layout (named databases, keys are raw 32-byte blob IDs unless noted):

* ``metadata``               blob_id -> metadata wire bytes (re-verified against the ID on read)
* ``blob_info``              blob_id -> :class:`BlobInfo` (JSON)
* ``certificates``           u64 sequence (big-endian) -> certificate bytes, in acceptance order
* ``certificate_of``         blob_id -> the certificate of the blob's longest registration
* ``deletions``              u64 sequence (big-endian) -> :class:`Deletion` bytes, in acceptance
  order (pruned from the front: :meth:`Store.prune_deletions`)
* ``state``                  utf-8 key -> bytes (epochs, cursors, anything small)
* ``shard/<i>/primary``      blob_id -> checksum(16) || sliver bytes, one database per shard
* ``shard/<i>/secondary``    likewise, so a whole shard can be streamed out or dropped

Every sliver carries a 16-byte checksum checked on read: a sliver that rotted on disk
raises :class:`CorruptSliverError` instead of being served. The checksum guards against
the medium, not against an adversary (whoever can rewrite the file can rewrite any
unkeyed checksum with it; what a sliver *is* is fixed by the blob's metadata, which every
reader verifies), so it is XXH3-128, ~5x cheaper per byte than BLAKE3 on the store's two
hot paths: every stored byte and every sliver served (BENCHMARKS.md, "The store's
checksum"). Slivers stored by earlier versions carry BLAKE3 (truncated to 16 bytes) and
stay valid: a checksum is accepted if either hash matches, so nothing is rewritten and a
store may hold both. A node of an earlier version takes XXH3-checksummed slivers for
rotten ones (docs/node-runtime.md, "Sliver checksums").

Slivers are read three ways: whole (:meth:`Store.get_sliver`, a copy), in pieces
(:meth:`Store.check_sliver` once, then :meth:`Store.read_sliver_range` per piece, each a
copy of that piece only) and in place (:meth:`Store.with_sliver`: a function runs on the
bytes in LMDB's memory map inside the read transaction). The last two are how the node
serves reads without a private copy of a whole sliver per request.

Slivers no longer in the page cache (old blobs, any blob after a restart or under memory
pressure) come from the disk in large reads because the map is opened with the kernel's
readahead. py-lmdb touches every page of a value before it returns it (so that page
faults are taken without the GIL); with the map opened for random access instead
(LMDB's ``MDB_NORDAHEAD``, ``MADV_RANDOM``) each of those touches was one 4 KiB disk
request: a cold 2 MiB sliver read at 37-49 MB/s, against 700-930 MB/s with readahead
(``walrus-bench store-reads``). The price: a miss in the B-tree reads the device's
``read_ahead_kb`` around it (128 KiB by default), which the B-tree's few, hot pages
rarely cause (BENCHMARKS.md, "Written slivers out of the page cache, and cold reads").
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
import pathlib
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import blake3
import lmdb
import xxhash

from walrus_node.codec.params import MAX_SHARDS, SliverType
from walrus_node.protocol import sliver_buffer, views
from walrus_node.protocol.messages import BlobRegistration, Certificate, Deletion
from walrus_node.protocol.sliver_buffer import SliverBuffer
from walrus_node.store import disk_room, group_commit, mapped

__all__ = [
    "BlobInfo",
    "BlobState",
    "BlobUnavailableError",
    "CorruptSliverError",
    "ShardRecord",
    "Store",
    "StoreError",
    "StoreFullError",
]

T = TypeVar("T")

_CHECKSUM = sliver_buffer.ROOM
"""Bytes of a sliver's checksum, in front of its bytes: the room a received sliver's
:class:`~walrus_node.protocol.sliver_buffer.SliverBuffer` leaves for it."""
_T = TypeVar("_T")
_MAX_DBS = 6 + 2 * MAX_SHARDS


class StoreError(Exception):
    """The store cannot complete an operation (disk full, unreadable file...)."""


class StoreFullError(StoreError):
    """The store's volume has no room for a write (nothing of it was written)."""


class BlobUnavailableError(StoreError):
    def __init__(self, blob_id: bytes) -> None:
        super().__init__(f"blob {blob_id.hex()[:16]}... has no metadata any more")
        self.blob_id = blob_id


class CorruptSliverError(StoreError):
    def __init__(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> None:
        super().__init__(f"stored {sliver_type} sliver of shard {shard} failed its checksum")
        self.shard = shard
        self.sliver_type = sliver_type
        self.blob_id = blob_id


class BlobState(enum.Enum):
    REGISTERED = "registered"  # metadata stored, not yet certified
    CERTIFIED = "certified"
    DELETED = "deleted"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclasses.dataclass(frozen=True)
class ShardRecord:
    """One sliver received during shard sync, with what makes it verifiable."""

    blob_id: bytes
    metadata: bytes
    certificate: Certificate | None
    """None: the blob is already certified here (its certificate was checked before)."""
    sliver_type: SliverType
    data: bytes | SliverBuffer


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """What the node knows of a blob besides its bytes.

    ``registrations`` are the blob's certified, live registrations (several owners may
    register one blob ID; the rules are in :mod:`walrus_node.service.ownership`);
    ``since`` is the epoch of the certificate that recorded each of them (same order; a
    missing one, written before this was kept, reads as 0); ``shadows`` an owner's
    shorter registrations certified in later epochs than its live one, each with its
    epoch (what is left of the owner if a deletion removes the live one); ``deletions``
    the owner keys that deleted their registration of the blob, each with the latest
    epoch it signed a deletion for; ``deleted`` are registrations deleted before
    ``deletions`` were kept, remembered so that their certificates cannot bring them
    back. Stored as JSON; info written before blobs had several registrations (one
    ``registration`` field) is read as a blob with that one.
    """

    state: BlobState
    created_ms: int
    registrations: tuple[BlobRegistration, ...] = ()
    certified_epoch: int | None = None
    deleted: tuple[BlobRegistration, ...] = ()
    since: tuple[int, ...] = ()
    deletions: tuple[tuple[bytes, int], ...] = ()
    shadows: tuple[tuple[BlobRegistration, int], ...] = ()

    @property
    def registration(self) -> BlobRegistration | None:
        """The registration that keeps the blob longest (a permanent one on a tie)."""
        return views.longest(self.registrations)

    def to_bytes(self) -> bytes:
        d: dict[str, object] = {
            "state": self.state.value,
            "created_ms": self.created_ms,
            "certified_epoch": self.certified_epoch,
            "registrations": [_registration_to_dict(r) for r in self.registrations],
            "deleted": [_registration_to_dict(r) for r in self.deleted],
        }
        if self.since:
            d["since"] = list(self.since)
        if self.deletions:
            d["deletions"] = [{"owner": o.hex(), "epoch": e} for o, e in self.deletions]
        if self.shadows:
            d["shadows"] = [{**_registration_to_dict(r), "epoch": e} for r, e in self.shadows]
        return json.dumps(d, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> BlobInfo:
        d = json.loads(data)
        if "registrations" in d:
            registrations = tuple(_registration_from_dict(r) for r in d["registrations"])
        elif d.get("registration") is not None:  # written by a node before owned registrations
            registrations = (_registration_from_dict(d["registration"]),)
        else:
            registrations = ()
        deleted = tuple(_registration_from_dict(r) for r in d.get("deleted", ()))
        since = tuple(int(e) for e in d.get("since", ()))
        deletions = tuple(
            (bytes.fromhex(str(x["owner"])), int(x["epoch"])) for x in d.get("deletions", ())
        )
        shadows = tuple((_registration_from_dict(x), int(x["epoch"])) for x in d.get("shadows", ()))
        return cls(
            BlobState(d["state"]),
            d["created_ms"],
            registrations,
            d["certified_epoch"],
            deleted,
            since,
            deletions,
            shadows,
        )


@functools.lru_cache(maxsize=1024)
def _parsed_info(raw: bytes) -> BlobInfo:
    """:meth:`BlobInfo.from_bytes` for point reads, remembered by the stored bytes: one
    request reads a blob's info several times (its header checks, its confirmation, its
    certificate), and parsing the JSON costs more than reading it. A ``BlobInfo`` is
    immutable; 1024 of them and their bytes hold well under 2 MB."""
    return BlobInfo.from_bytes(raw)


def _registration_to_dict(reg: BlobRegistration) -> dict[str, object]:
    return {
        "end_epoch": reg.end_epoch,
        "deletable": reg.deletable,
        "owner": reg.owner_public_key.hex(),
        "length": reg.unencoded_length,
    }


def _registration_from_dict(r: dict[str, object]) -> BlobRegistration:
    return BlobRegistration(
        int(r["end_epoch"]),  # type: ignore[call-overload]  # JSON written by this module
        bool(r["deletable"]),
        bytes.fromhex(str(r["owner"])),
        int(r["length"]),  # type: ignore[call-overload]
    )


SliverRow = tuple[int, SliverType, bytes, bytes | SliverBuffer]
"""(shard, type, blob ID, the sliver's bytes) of a sliver to store."""


def _stored_value(data: bytes | SliverBuffer) -> bytes | bytearray:
    """What a sliver is stored as: its checksum, then its bytes. A :class:`SliverBuffer`
    gets its checksum in the room in front of its bytes and is stored as it is, without
    another copy of the sliver."""
    if isinstance(data, SliverBuffer):
        data.value[:_CHECKSUM] = _checksum(data.data)
        return data.value
    return _checksum(data) + data


def _rows_size(rows: list[tuple[lmdb._Database, bytes, bytes | bytearray]]) -> int:
    return sum(len(value) for _, _, value in rows)


def _checksum(data: bytes | memoryview) -> bytes:
    """The checksum a sliver is stored with."""
    return xxhash.xxh3_128_digest(data)


def _intact(data: bytes | memoryview, checksum: bytes | memoryview) -> bool:
    """Whether ``data`` matches the checksum stored with it: XXH3-128, or the BLAKE3
    (truncated to 16 bytes) of slivers stored by earlier versions."""
    return _checksum(data) == checksum or blake3.blake3(data).digest(length=_CHECKSUM) == checksum


class Store:
    """One LMDB environment holding everything a node stores."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        map_size: int = 1 << 40,
        disk_reserve: int = 64 << 20,
    ) -> None:
        """Open (or create) the store in the directory ``path``. ``map_size``: the most
        the store can hold (bytes). ``disk_reserve``: disk bytes kept allocated past the
        data's end for the B-tree's pages (see above)."""
        directory = pathlib.Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self._data_file = directory / "data.mdb"
        self._map_lock = threading.Lock()
        self._closed = False
        try:
            self._env = lmdb.open(
                str(directory),
                map_size=map_size,
                max_dbs=_MAX_DBS,
                sync=True,
                metasync=True,
                max_readers=256,
                readahead=True,  # cold slivers in large reads: see the module docstring
                writemap=False,  # see the module docstring
            )
        except lmdb.Error as e:
            raise StoreError(f"cannot open the store at {directory}: {e}") from e
        # The map LMDB made (never smaller than the data already stored) bounds the file.
        limit = int(self._env.info()["map_size"])
        self._room = disk_room.DiskRoom(self._data_file, limit, disk_reserve)
        # Every named database is opened here, once, in one transaction. Opening one later
        # from a worker thread would start a write transaction while holding the GIL and
        # deadlock against the writer thread, which needs the GIL to finish its own.
        names = [b"metadata", b"blob_info", b"certificates", b"certificate_of", b"state"]
        names += [b"deletions"]
        names += [
            f"shard/{shard}/{t.value}".encode() for shard in range(MAX_SHARDS) for t in SliverType
        ]
        self._page_size = int(self._env.stat()["psize"])
        try:
            self._dbs = self._open_dbs(names)
        except (StoreError, lmdb.Error) as e:
            self._env.close()
            self._room.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"cannot open the store at {directory}: {e}") from e
        self._metadata = self._dbs[b"metadata"]
        self._blob_info = self._dbs[b"blob_info"]
        self._certificates = self._dbs[b"certificates"]
        self._certificate_of = self._dbs[b"certificate_of"]
        self._state = self._dbs[b"state"]
        self._deletions = self._dbs[b"deletions"]
        self._group = group_commit.GroupCommit(self._env, self._reserve)

    def _open_dbs(self, names: list[bytes]) -> dict[bytes, lmdb._Database]:
        """Open (creating what is missing) every named database. On a full volume a store
        whose databases all exist still opens (a transaction that only opens existing
        databases dirties no page, so its commit writes nothing): its slivers can be
        served while writes are refused."""
        try:
            self._reserve(0)
        except StoreFullError:
            try:
                with self._env.begin(write=True) as txn:
                    return {name: self._env.open_db(name, txn=txn, create=False) for name in names}
            except lmdb.NotFoundError:
                raise StoreFullError(
                    "the store's volume has no room to create the store's databases"
                ) from None
        with self._env.begin(write=True) as txn:
            return {name: self._env.open_db(name, txn=txn, create=True) for name in names}

    def close(self) -> None:
        with self._map_lock:  # not while a release is between finding the map and madvise
            self._closed = True
            self._env.close()
            self._room.close()

    def _data_end(self) -> int:
        """Bytes of the data file LMDB uses (up to its last page), as of the last commit."""
        return (int(self._env.info()["last_pgno"]) + 1) * self._page_size

    def _reserve(self, size: int) -> None:
        """Room on disk for a transaction adding ``size`` bytes (runs under the group
        commit's lock, so no transaction moves the data's end meanwhile)."""
        try:
            self._room.reserve(self._data_end(), size)
        except disk_room.NoRoomError as e:
            raise StoreFullError(str(e)) from e

    def release_mapped(self) -> int:
        """Drop the store file's pages from the process's resident memory (they stay in
        the page cache; the next read maps them again): :mod:`.mapped`. Returns the
        mappings released; 0 once closed (the address range may hold other memory then).
        """
        with self._map_lock:
            if self._closed:
                return 0
            return mapped.release(self._data_file, self._data_end())

    def mapped_bytes(self) -> int:
        """Bytes of the store file resident in the process's memory map."""
        return mapped.resident_bytes(self._data_file)

    def _shard_db(self, shard: int, sliver_type: SliverType) -> lmdb._Database:
        if not 0 <= shard < MAX_SHARDS:
            raise StoreError(f"shard {shard} out of range")
        return self._dbs[f"shard/{shard}/{sliver_type.value}".encode()]

    def _write(self, fn: Callable[[lmdb.Transaction], T], size: int = 0) -> T:
        """Run ``fn`` in a write transaction, durably committed (with others made at the
        same time: :mod:`.group_commit`) before this returns. ``fn`` may run more than
        once: it must be a pure function of the transaction. ``size``: about how many
        bytes it adds (room for them is reserved first; 0 for small writes and deletions).
        """
        return self._group.run(fn, size)

    @property
    def commits(self) -> int:
        """Write transactions committed so far (one fsync each)."""
        return self._group.commits

    def _read(self) -> lmdb.Transaction:
        return self._env.begin(write=False)

    # --- metadata and blob info --------------------------------------------------------------

    def put_metadata(self, blob_id: bytes, metadata: bytes, info: BlobInfo) -> bool:
        """Store metadata and initial blob info unless present; True if newly stored.

        A blob that expired or was deleted is registered afresh (its tombstone replaced,
        remembering the registrations deleted by their owners).
        """
        return self._write(
            lambda txn: self._put_metadata(txn, blob_id, metadata, info), len(metadata)
        )

    def _put_metadata(
        self, txn: lmdb.Transaction, blob_id: bytes, metadata: bytes, info: BlobInfo
    ) -> bool:
        if not txn.put(blob_id, metadata, db=self._metadata, overwrite=False):
            return False
        raw = txn.get(blob_id, db=self._blob_info)
        current = None if raw is None else BlobInfo.from_bytes(bytes(raw))
        if current is not None and current.state in (BlobState.DELETED, BlobState.EXPIRED):
            fresh = dataclasses.replace(info, deleted=current.deleted, deletions=current.deletions)
            txn.put(blob_id, fresh.to_bytes(), db=self._blob_info)
        else:
            txn.put(blob_id, info.to_bytes(), db=self._blob_info, overwrite=False)
        return True

    def get_metadata(self, blob_id: bytes) -> bytes | None:
        with self._read() as txn:
            value = txn.get(blob_id, db=self._metadata)
        return None if value is None else bytes(value)

    def get_blob_info(self, blob_id: bytes) -> BlobInfo | None:
        with self._read() as txn:
            value = txn.get(blob_id, db=self._blob_info)
        return None if value is None else _parsed_info(bytes(value))

    def put_blob_info(self, blob_id: bytes, info: BlobInfo) -> None:
        data = info.to_bytes()
        self._write(lambda txn: txn.put(blob_id, data, db=self._blob_info))

    def blob_infos(self) -> Iterator[tuple[bytes, BlobInfo]]:
        """Every blob's info, in blob-ID order (a consistent snapshot)."""
        with self._read() as txn:
            for key, value in txn.cursor(db=self._blob_info):
                yield bytes(key), BlobInfo.from_bytes(bytes(value))

    def blob_count(self) -> int:
        with self._read() as txn:
            return int(txn.stat(self._blob_info)["entries"])

    # --- slivers -----------------------------------------------------------------------------

    def put_slivers(self, slivers: list[SliverRow]) -> int:
        """Store (shard, type, blob_id, data) slivers in one transaction; count new ones.

        Refused (:class:`BlobUnavailableError`, nothing written) for a blob whose metadata
        is gone (collected, deleted, expired) by the time of the write: the check and the
        write are one transaction, so slivers are never orphaned.
        """
        rows = self._sliver_rows(slivers)
        return self._write(lambda txn: self._put_slivers(txn, rows), _rows_size(rows))

    def put_blob(
        self,
        blob_id: bytes,
        metadata: bytes,
        info: BlobInfo,
        slivers: list[SliverRow],
    ) -> tuple[bool, int]:
        """:meth:`put_metadata` and :meth:`put_slivers` in one transaction (one fsync);
        returns (metadata newly stored, new slivers)."""
        rows = self._sliver_rows(slivers)

        def write(txn: lmdb.Transaction) -> tuple[bool, int]:
            return self._put_metadata(txn, blob_id, metadata, info), self._put_slivers(txn, rows)

        return self._write(write, len(metadata) + _rows_size(rows))

    def _sliver_rows(
        self, slivers: list[SliverRow]
    ) -> list[tuple[lmdb._Database, bytes, bytes | bytearray]]:
        """(database, blob_id, checksummed value) of each sliver, computed outside the
        write transaction."""
        return [
            (self._shard_db(shard, sliver_type), blob_id, _stored_value(data))
            for shard, sliver_type, blob_id, data in slivers
        ]

    def _put_slivers(
        self, txn: lmdb.Transaction, rows: list[tuple[lmdb._Database, bytes, bytes | bytearray]]
    ) -> int:
        for blob_id in {blob_id for _, blob_id, _ in rows}:
            if txn.get(blob_id, db=self._metadata) is None:
                raise BlobUnavailableError(blob_id)
        return sum(
            bool(txn.put(blob_id, value, db=db, overwrite=False)) for db, blob_id, value in rows
        )

    def get_sliver(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> bytes | None:
        db = self._shard_db(shard, sliver_type)
        with self._read() as txn:
            value = txn.get(blob_id, db=db)
        if value is None:
            return None
        data = value[_CHECKSUM:]
        if not _intact(data, value[:_CHECKSUM]):
            raise CorruptSliverError(shard, sliver_type, blob_id)
        return bytes(data)

    def check_sliver(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> int | None:
        """Verify a stored sliver's checksum where it lies (no copy); its length, or None.

        With :meth:`read_sliver_range` this serves a sliver in pieces: the checksum covers
        the whole sliver, so it is checked once up front, and each piece is then copied
        out of its own short read transaction.
        """
        db = self._shard_db(shard, sliver_type)
        with self._env.begin(write=False, buffers=True) as txn:
            value = txn.get(blob_id, db=db)
            if value is None:
                return None
            view = memoryview(value)
            if not _intact(view[_CHECKSUM:], view[:_CHECKSUM]):
                raise CorruptSliverError(shard, sliver_type, blob_id)
            return len(view) - _CHECKSUM

    def read_sliver_range(
        self, shard: int, sliver_type: SliverType, blob_id: bytes, offset: int, length: int
    ) -> bytes | None:
        """``length`` bytes of a stored sliver from ``offset`` (fewer at its end), copied
        from the map without reading the rest; None if the sliver is not stored.

        The checksum is not checked here (:meth:`check_sliver` does, once per read): a
        stored sliver is never rewritten with other bytes, only deleted, since the
        metadata fixes what it is.
        """
        if offset < 0 or length < 0:
            raise StoreError(f"negative offset {offset} or length {length}")
        db = self._shard_db(shard, sliver_type)
        with self._env.begin(write=False, buffers=True) as txn:
            value = txn.get(blob_id, db=db)
            if value is None:
                return None
            start = _CHECKSUM + offset
            return bytes(memoryview(value)[start : start + length])

    def with_sliver(
        self,
        shard: int,
        sliver_type: SliverType,
        blob_id: bytes,
        use: Callable[[memoryview], _T],
    ) -> _T | None:
        """Call ``use`` on a stored sliver's bytes where they lie in the map (checksum
        checked, no copy); None if the sliver is not stored.

        ``use`` runs inside the read transaction and must not keep the view: it is
        invalid once ``use`` returns. This is how recovery symbols are cut from a sliver
        without a private copy of it.
        """
        db = self._shard_db(shard, sliver_type)
        with self._env.begin(write=False, buffers=True) as txn:
            value = txn.get(blob_id, db=db)
            if value is None:
                return None
            view = memoryview(value)
            data = view[_CHECKSUM:]
            if not _intact(data, view[:_CHECKSUM]):
                raise CorruptSliverError(shard, sliver_type, blob_id)
            try:
                return use(data)
            finally:
                data.release()
                view.release()

    def has_sliver(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> bool:
        db = self._shard_db(shard, sliver_type)
        with self._read() as txn:
            return bool(txn.cursor(db=db).set_key(blob_id))  # no copy of the value

    def has_slivers(self, blob_id: bytes, keys: Sequence[tuple[int, SliverType]]) -> list[bool]:
        """:meth:`has_sliver` of each ``(shard, type)`` of one blob, in one read transaction."""
        with self._read() as txn:
            return [
                bool(txn.cursor(db=self._shard_db(shard, t)).set_key(blob_id)) for shard, t in keys
            ]

    def lacking_slivers(self, shard: int, blob_ids: list[bytes]) -> dict[bytes, list[SliverType]]:
        """The sliver types of a shard not stored, for each of ``blob_ids`` lacking any
        (one read transaction: a shard's recovery pass checks every certified blob)."""
        dbs = [(t, self._shard_db(shard, t)) for t in SliverType]
        lacking: dict[bytes, list[SliverType]] = {}
        with self._read() as txn:
            cursors = [(t, txn.cursor(db=db)) for t, db in dbs]
            for blob_id in blob_ids:
                missing = [t for t, cursor in cursors if not cursor.set_key(blob_id)]
                if missing:
                    lacking[blob_id] = missing
        return lacking

    def count_slivers(self, blob_id: bytes, shards: list[int]) -> int:
        """How many of the 2 x len(shards) slivers of a blob are stored."""
        dbs = [self._shard_db(shard, t) for shard in shards for t in SliverType]
        with self._read() as txn:  # cursor lookups: existence without copying slivers
            return sum(bool(txn.cursor(db=db).set_key(blob_id)) for db in dbs)

    def uncertified_usage(self, n_shards: int) -> dict[bytes, int]:
        """Bytes stored for each blob that is not certified yet (its metadata and its
        slivers on shards ``0..n_shards-1``), read in one snapshot.

        This is what the node's uncertified quota counts; it is derived from the store at
        start-up, so the quota holds across restarts. Only the lengths are read.
        """
        dbs = [self._shard_db(shard, t) for shard in range(n_shards) for t in SliverType]
        usage: dict[bytes, int] = {}
        with self._env.begin(write=False, buffers=True) as txn:
            for key, value in txn.cursor(db=self._blob_info):
                if BlobInfo.from_bytes(bytes(value)).state is not BlobState.REGISTERED:
                    continue
                blob_id = bytes(key)
                metadata = txn.get(blob_id, db=self._metadata)
                total = 0 if metadata is None else len(metadata)
                for db in dbs:
                    sliver = txn.get(blob_id, db=db)
                    if sliver is not None:
                        total += len(sliver) - _CHECKSUM
                if total:
                    usage[blob_id] = total
        return usage

    def delete_sliver(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> None:
        db = self._shard_db(shard, sliver_type)
        self._write(lambda txn: txn.delete(blob_id, db=db))

    def remove_uncertified(self, blob_id: bytes, created_before_ms: int, n_shards: int) -> bool:
        """Forget a blob that is still uncertified and older than the cutoff; True if it was.

        The state is checked in the same transaction as the removal, so a certificate
        recorded meanwhile keeps the blob (collection cannot race certification).
        """
        dbs = [self._shard_db(shard, t) for shard in range(n_shards) for t in SliverType]

        def write(txn: lmdb.Transaction) -> bool:
            value = txn.get(blob_id, db=self._blob_info)
            if value is None:
                return False
            info = BlobInfo.from_bytes(bytes(value))
            if info.state is not BlobState.REGISTERED or info.created_ms >= created_before_ms:
                return False
            for db in dbs:
                txn.delete(blob_id, db=db)
            txn.delete(blob_id, db=self._metadata)
            txn.delete(blob_id, db=self._blob_info)
            return True

        return self._write(write)

    def delete_slivers(self, blob_id: bytes, shards: list[int]) -> None:
        dbs = [self._shard_db(shard, t) for shard in shards for t in SliverType]

        def write(txn: lmdb.Transaction) -> None:
            for db in dbs:
                txn.delete(blob_id, db=db)

        self._write(write)

    def scan_shard(
        self,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
        max_bytes: int = 1 << 62,
    ) -> tuple[list[tuple[bytes, bytes]], bool]:
        """Up to ``limit`` (blob_id, sliver) of a shard with blob_id > ``after``, in order,
        stopping once ``max_bytes`` of slivers are collected; and whether the shard has
        nothing after the last one returned."""
        db = self._shard_db(shard, sliver_type)
        out: list[tuple[bytes, bytes]] = []
        size = 0
        with self._read() as txn:
            cursor = txn.cursor(db=db)
            found = cursor.set_range(after) if after else cursor.first()
            if found and after and bytes(cursor.key()) == after:
                found = cursor.next()
            while found and len(out) < limit and size < max_bytes:
                key = bytes(cursor.key())
                value = cursor.value()
                data = value[_CHECKSUM:]
                if not _intact(data, value[:_CHECKSUM]):
                    raise CorruptSliverError(shard, sliver_type, key)
                out.append((key, bytes(data)))
                size += len(data)
                found = cursor.next()
        return out, not found

    def tamper_sliver(self, shard: int, sliver_type: SliverType, blob_id: bytes) -> bool:
        """Fault drill: flip one bit of a stored sliver, leaving its checksum stale.

        This is what media corruption looks like to the node; the testbed's ``corrupt``
        command uses it to show that rot is detected and repaired. True if found.
        """
        db = self._shard_db(shard, sliver_type)

        def write(txn: lmdb.Transaction) -> bool:
            value = txn.get(blob_id, db=db)
            if value is None:
                return False
            damaged = bytearray(value)
            damaged[_CHECKSUM + (len(damaged) - _CHECKSUM) // 2] ^= 0x01
            txn.put(blob_id, bytes(damaged), db=db)
            return True

        return self._write(write)

    def drop_shard(self, shard: int) -> None:
        """Delete both sliver databases of a shard."""
        dbs = [self._shard_db(shard, t) for t in SliverType]

        def write(txn: lmdb.Transaction) -> None:
            for db in dbs:
                txn.drop(db, delete=False)

        self._write(write)

    def shard_sliver_count(self, shard: int, sliver_type: SliverType) -> int:
        db = self._shard_db(shard, sliver_type)
        with self._read() as txn:
            return int(txn.stat(db)["entries"])

    # --- certificates log ----------------------------------------------------------------------

    def record_certificate(
        self, certificate: Certificate, merge: Callable[[BlobInfo | None], BlobInfo | None]
    ) -> bool:
        """Atomically decide and log a certificate.

        ``merge`` maps the blob's current info to its new info, or to None when the
        certificate adds nothing (already certified, not extended); it runs inside the
        write transaction, so concurrent deliveries of one certificate log it once.
        """

        def write(txn: lmdb.Transaction) -> bool:
            current = txn.get(certificate.blob_id, db=self._blob_info)
            updated = merge(None if current is None else BlobInfo.from_bytes(bytes(current)))
            if updated is None:
                return False
            self._log_certificate(txn, certificate, updated)
            return True

        return self._write(write)

    def _log_certificate(
        self, txn: lmdb.Transaction, certificate: Certificate, info: BlobInfo
    ) -> None:
        cursor = txn.cursor(db=self._certificates)
        last = struct.unpack(">Q", cursor.key())[0] if cursor.last() else 0
        raw = certificate.to_bytes()
        txn.put(struct.pack(">Q", last + 1), raw, db=self._certificates)
        # The blob's representative certificate (sent by shard sync) is the one of the
        # registration that keeps it longest.
        if info.registration == certificate.registration:
            txn.put(certificate.blob_id, raw, db=self._certificate_of)
        else:
            txn.put(certificate.blob_id, raw, db=self._certificate_of, overwrite=False)
        txn.put(certificate.blob_id, info.to_bytes(), db=self._blob_info)

    def certificate_of(self, blob_id: bytes) -> Certificate | None:
        with self._read() as txn:
            value = txn.get(blob_id, db=self._certificate_of)
        return None if value is None else Certificate.from_bytes(bytes(value))

    def ingest_shard_batch(
        self,
        shard: int,
        records: list[ShardRecord],
        merge: Callable[[BlobInfo | None, Certificate], BlobInfo | None],
        state_key: str,
        state_value: bytes,
    ) -> None:
        """Store slivers received by shard sync, with their blobs' metadata and certificates,
        and the sync cursor, in one transaction: a crash leaves all of it or none.

        ``merge`` maps a blob's info and a (verified) certificate to the new info, or None
        for no change. A record without a certificate only adds its sliver to a blob
        already certified here; a sliver of a blob that ends up not certified (deleted,
        expired, invalid) is not stored."""
        dbs = {t: self._shard_db(shard, t) for t in SliverType}
        values = [_stored_value(r.data) for r in records]  # outside the transaction

        def write(txn: lmdb.Transaction) -> None:
            for r, value in zip(records, values, strict=True):
                current = txn.get(r.blob_id, db=self._blob_info)
                info = None if current is None else BlobInfo.from_bytes(bytes(current))
                if r.certificate is not None:
                    updated = merge(info, r.certificate)
                    if updated is not None:
                        self._log_certificate(txn, r.certificate, updated)
                        info = updated
                if info is None or info.state is not BlobState.CERTIFIED:
                    continue
                txn.put(r.blob_id, r.metadata, db=self._metadata, overwrite=False)
                txn.put(r.blob_id, value, db=dbs[r.sliver_type])
            txn.put(state_key.encode(), state_value, db=self._state)

        self._write(write, sum(len(r.metadata) + len(r.data) for r in records))

    def drop_blob_data(self, blob_id: bytes, info: BlobInfo, n_shards: int) -> None:
        """Delete a blob's metadata and slivers on every shard, keeping ``info`` (a tombstone
        saying why: expired, deleted)."""
        dbs = [self._shard_db(shard, t) for shard in range(n_shards) for t in SliverType]

        def write(txn: lmdb.Transaction) -> None:
            for db in dbs:
                txn.delete(blob_id, db=db)
            txn.delete(blob_id, db=self._metadata)
            txn.put(blob_id, info.to_bytes(), db=self._blob_info)

        self._write(write)

    def update_blob(
        self, blob_id: bytes, update: Callable[[BlobInfo | None], BlobInfo | None], n_shards: int
    ) -> BlobInfo | None:
        """Atomically replace a blob's info with ``update(info)`` (None: leave it); when the
        new info is a tombstone (deleted, expired, invalid) the blob's slivers on every
        shard go in the same transaction, and its metadata too unless it is invalid (the
        metadata is what its inconsistency proof is checked against). Returns the new
        info."""

        return self._write(lambda txn: self._update_blob(txn, blob_id, update, n_shards))

    def _update_blob(
        self,
        txn: lmdb.Transaction,
        blob_id: bytes,
        update: Callable[[BlobInfo | None], BlobInfo | None],
        n_shards: int,
    ) -> BlobInfo | None:
        raw = txn.get(blob_id, db=self._blob_info)
        updated = update(None if raw is None else BlobInfo.from_bytes(bytes(raw)))
        if updated is None:
            return None
        if updated.state in (BlobState.DELETED, BlobState.EXPIRED, BlobState.INVALID):
            for shard in range(n_shards):
                for t in SliverType:
                    txn.delete(blob_id, db=self._shard_db(shard, t))
            if updated.state is not BlobState.INVALID:
                txn.delete(blob_id, db=self._metadata)
        txn.put(blob_id, updated.to_bytes(), db=self._blob_info)
        return updated

    def shards_with_data(self, n_shards: int) -> list[int]:
        """Shards for which any sliver is stored."""
        return [
            shard
            for shard in range(n_shards)
            if any(self.shard_sliver_count(shard, t) for t in SliverType)
        ]

    def certificates_after(self, sequence: int, limit: int) -> list[tuple[int, Certificate]]:
        out: list[tuple[int, Certificate]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self._certificates)
            found = cursor.set_range(struct.pack(">Q", sequence + 1))
            while found and len(out) < limit:
                seq = struct.unpack(">Q", cursor.key())[0]
                out.append((seq, Certificate.from_bytes(bytes(cursor.value()))))
                found = cursor.next()
        return out

    def certificate_count(self) -> int:
        with self._read() as txn:
            cursor = txn.cursor(db=self._certificates)
            return struct.unpack(">Q", cursor.key())[0] if cursor.last() else 0

    # --- deletions log ------------------------------------------------------------------------

    def record_deletion(
        self,
        deletion: Deletion,
        update: Callable[[BlobInfo | None], BlobInfo | None],
        n_shards: int,
    ) -> BlobInfo | None:
        """:meth:`update_blob` for an owner's deletion, logging ``deletion`` in the same
        transaction when it changed the blob's info (a crash keeps both or neither).
        Returns the new info, or None (nothing changed, nothing logged)."""

        def write(txn: lmdb.Transaction) -> BlobInfo | None:
            updated = self._update_blob(txn, deletion.blob_id, update, n_shards)
            if updated is not None:
                cursor = txn.cursor(db=self._deletions)
                last = struct.unpack(">Q", cursor.key())[0] if cursor.last() else 0
                txn.put(struct.pack(">Q", last + 1), deletion.to_bytes(), db=self._deletions)
            return updated

        return self._write(write)

    def deletions_after(self, sequence: int, limit: int) -> list[tuple[int, Deletion]]:
        """Up to ``limit`` logged deletions with a sequence after ``sequence``, in order."""
        out: list[tuple[int, Deletion]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self._deletions)
            found = cursor.set_range(struct.pack(">Q", sequence + 1))
            while found and len(out) < limit:
                seq = struct.unpack(">Q", cursor.key())[0]
                out.append((seq, Deletion.from_bytes(bytes(cursor.value()))))
                found = cursor.next()
        return out

    def deletion_count(self) -> int:
        """The sequence of the last logged deletion (0 for none): pruning keeps the last."""
        with self._read() as txn:
            cursor = txn.cursor(db=self._deletions)
            return struct.unpack(">Q", cursor.key())[0] if cursor.last() else 0

    def prune_deletions(self, obsolete: Callable[[Deletion], bool]) -> int:
        """Drop logged deletions from the oldest on while ``obsolete`` says so, always
        keeping the last one (its sequence is where the log continues). Returns how many
        were dropped."""

        def write(txn: lmdb.Transaction) -> int:
            cursor = txn.cursor(db=self._deletions)
            if not cursor.last():
                return 0
            last = bytes(cursor.key())
            dropped = 0
            found = cursor.first()
            while found and bytes(cursor.key()) != last:
                if not obsolete(Deletion.from_bytes(bytes(cursor.value()))):
                    break
                found = cursor.delete()  # moves to the next entry
                dropped += 1
            return dropped

        return self._write(write)

    # --- small state -----------------------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        with self._read() as txn:
            value = txn.get(key.encode(), db=self._state)
        return None if value is None else bytes(value)

    def put_state(self, key: str, value: bytes) -> None:
        self._write(lambda txn: txn.put(key.encode(), value, db=self._state))

    def delete_state(self, key: str) -> None:
        self._write(lambda txn: txn.delete(key.encode(), db=self._state))
