"""What the parts of a running node share: settings, identity, store, peers, committees.

Who calls it: :mod:`.node` builds one :class:`NodeContext` and hands it to every part of
the service (:mod:`.blobs`, :mod:`.registrations`, :mod:`.lifetime`, :mod:`.admin`, the
syncs...). It also owns the thread pools that keep blocking work
(LMDB, hashing, erasure coding) off the event loop: a few writer threads
(``store_writer_threads``; LMDB has a single writer, so writes made together are committed
as one group with one fsync, :mod:`walrus_node.store.group_commit`, and dedicated threads
keep readers from queueing behind commits), the default pool for reads that copy or
scan, and a small pool for CPU-bound verification. Point lookups of a few small keys run
on the event loop itself (:meth:`NodeContext.lookup`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import functools
from collections.abc import Callable
from typing import TypeVar

from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.committee.committee import Committee
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import errors
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.keys import KeyPair
from walrus_node.service import budget
from walrus_node.service.peers import PeerPool
from walrus_node.store.store import Store, StoreFullError

__all__ = ["NodeContext"]

T = TypeVar("T")


def metadata_cost(n_shards: int) -> int:
    """What one parsed :class:`~walrus_node.codec.metadata.BlobMetadata` costs in memory,
    at most (measured with tracemalloc: 160-215 bytes per shard, a pair of 32-byte roots
    and their tuple)."""
    return 224 * n_shards + 256


class MetadataCache:
    """Parsed metadata by blob ID, least recently used out first, within ``limit`` bytes
    (``metadata_cache_bytes``; 0 keeps nothing)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._items: collections.OrderedDict[bytes, tuple[metadata_mod.BlobMetadata, int]] = (
            collections.OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._items)

    def get(self, blob_id: bytes) -> metadata_mod.BlobMetadata | None:
        item = self._items.get(blob_id)
        if item is None:
            return None
        self._items.move_to_end(blob_id)
        return item[0]

    def put(self, blob_id: bytes, metadata: metadata_mod.BlobMetadata) -> None:
        self.forget(blob_id)
        cost = metadata_cost(metadata.n_shards)
        if cost > self.limit:
            return
        self._items[blob_id] = (metadata, cost)
        self.used += cost
        while self.used > self.limit:
            _, (_, out) = self._items.popitem(last=False)
            self.used -= out

    def forget(self, blob_id: bytes) -> None:
        item = self._items.pop(blob_id, None)
        if item is not None:
            self.used -= item[1]


@dataclasses.dataclass
class NodeContext:
    config: NodeConfig
    keypair: KeyPair
    store: Store
    peers: PeerPool
    metrics: NodeMetrics
    committees: ActiveCommittees | None = None
    writer: concurrent.futures.ThreadPoolExecutor = dataclasses.field(init=False)
    """``store_writer_threads`` threads; writes made together share a commit."""
    cpu: concurrent.futures.ThreadPoolExecutor = dataclasses.field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(2, "verify")
    )
    shards_in_transfer: set[int] = dataclasses.field(default_factory=set)
    """Gained shards still being received by shard sync (blob sync leaves them alone)."""
    _metadata_cache: MetadataCache = dataclasses.field(init=False)
    memory: budget.MemoryBudget = dataclasses.field(init=False)
    """Bytes held by requests (``memory_budget_bytes``)."""
    uncertified: budget.UncertifiedQuota = dataclasses.field(init=False)
    """Bytes of uncertified blobs (``uncertified_quota_bytes``)."""

    def __post_init__(self) -> None:
        self.writer = concurrent.futures.ThreadPoolExecutor(
            self.config.store_writer_threads, "store-writer"
        )
        self.memory = budget.MemoryBudget(
            self.config.memory_budget_bytes, self.config.memory_wait_seconds
        )
        self.uncertified = budget.UncertifiedQuota(self.config.uncertified_quota_bytes)
        self._metadata_cache = MetadataCache(self.config.metadata_cache_bytes)
        self.metrics.memory_used.set_function(lambda: self.memory.used)
        self.metrics.memory_peak.set_function(lambda: self.memory.peak)
        self.metrics.uncertified_bytes.set_function(lambda: self.uncertified.used)

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """A read that copies sliver bytes or scans: on a thread of the default pool."""
        return await asyncio.to_thread(fn, *args)

    def lookup(self, fn: Callable[..., T], *args: object) -> T:
        """A point read of a few small keys (a blob's info or metadata, whether slivers
        are stored), run right here on the event loop. An LMDB read transaction over
        the mapped store costs microseconds; the hop to a thread and back costs more,
        and far more on a busy machine, where the thread and then the loop each wait for
        the interpreter lock. The store path makes a dozen of these per request."""
        return fn(*args)

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        """Run a store write on a writer thread; a write the store's volume has no room
        for is refused as RESOURCE_EXHAUSTED (nothing of it was written)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.writer, functools.partial(fn, *args)
            )
        except StoreFullError as e:
            raise errors.ResourceExhausted(str(e)) from e

    async def compute(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self.cpu, functools.partial(fn, *args, **kwargs)
        )

    def shutdown(self) -> None:
        self.writer.shutdown(wait=True)
        self.cpu.shutdown(wait=True)

    # --- committees ------------------------------------------------------------------------

    def require_committees(self) -> ActiveCommittees:
        if self.committees is None:
            raise errors.Unavailable("this node has no committee yet (standby)")
        return self.committees

    def params(self) -> EncodingParams:
        return EncodingParams(self.require_committees().n_shards)

    def my_shards(self, committee: Committee | None = None) -> tuple[int, ...]:
        committee = committee or self.require_committees().current
        member = committee.by_key(self.keypair.public_key)
        return () if member is None else member.shards

    def settled_shards(self) -> tuple[int, ...]:
        """Owned shards that are not being received by shard sync right now."""
        return tuple(s for s in self.my_shards() if s not in self.shards_in_transfer)

    def readable_shards(self) -> set[int]:
        """Shards this node serves reads for: current ones, plus those it owned in the
        previous epoch (kept until their new owner holds them)."""
        c = self.require_committees()
        shards = set(self.my_shards(c.current))
        if c.state.previous is not None:
            shards.update(self.my_shards(c.state.previous))
        return shards

    def shard_of(self, blob_id: bytes, sliver_type: SliverType, index: int) -> int:
        params = self.params()
        return params.shard_of_pair(blob_id, params.pair_of(sliver_type, index))

    def slivers_for_shard(self, blob_id: bytes, shard: int) -> tuple[int, int]:
        """(primary index, secondary index) of the sliver pair a shard holds for a blob."""
        params = self.params()
        pair = params.pair_on_shard(blob_id, shard)
        return (
            params.sliver_in_pair(SliverType.PRIMARY, pair),
            params.sliver_in_pair(SliverType.SECONDARY, pair),
        )

    # --- metadata --------------------------------------------------------------------------

    async def metadata(self, blob_id: bytes) -> metadata_mod.BlobMetadata | None:
        """Parsed metadata of a stored blob (cached), or None if not stored."""
        cached = self._metadata_cache.get(blob_id)
        if cached is not None:
            return cached
        data = self.lookup(self.store.get_metadata, blob_id)
        if data is None:
            return None
        parsed = metadata_mod.BlobMetadata.from_bytes(data)
        self._metadata_cache.put(blob_id, parsed)
        return parsed

    def remember_metadata(self, blob_id: bytes, metadata: metadata_mod.BlobMetadata) -> None:
        """``metadata`` was just stored for ``blob_id`` (verified against it): keep it
        parsed for the requests that follow."""
        self._metadata_cache.put(blob_id, metadata)

    def forget_metadata(self, blob_id: bytes) -> None:
        self._metadata_cache.forget(blob_id)
