"""A byte-bounded, least-recently-used cache of whole blobs, for the aggregator.

Who calls it: :mod:`walrus_node.gateway.aggregator`. Blobs are immutable, so an entry never
goes stale while the blob lives; a blob found deleted or expired is dropped. The cache
holds at most ``capacity`` bytes and no blob larger than ``max_item`` bytes.
"""

from __future__ import annotations

import collections

__all__ = ["BlobCache"]


class BlobCache:
    def __init__(self, capacity: int, max_item: int) -> None:
        self.capacity = capacity
        self.max_item = min(max_item, capacity)
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes) -> bytes | None:
        data = self._items.get(key)
        if data is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: bytes, data: bytes) -> None:
        if len(data) > self.max_item:
            return
        self.drop(key)
        self._items[key] = data
        self.size += len(data)
        while self.size > self.capacity:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted)

    def drop(self, key: bytes) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
