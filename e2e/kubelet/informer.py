"""A watch-backed cache of one kind of object: list once, then follow the watch.

The kubelet stand-in keeps one `Informer` per kind it needs (its pods, pending pods,
ConfigMaps, Secrets, PVCs, PVs, StorageClasses). `items` always holds the latest known
objects by "namespace/name"; `on_change` is called (synchronously, so it must only note
the change, e.g. set an event) after every addition, update or removal, with the key and
the new object or None. A watch that expires (410 Gone) or fails is followed by a fresh
list, which reports removals that happened in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from e2e import kubeapi

log = logging.getLogger(__name__)

OnChange = Callable[[str, kubeapi.JSON | None], None]


def key(obj: kubeapi.JSON) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    def __init__(
        self,
        client: kubeapi.Client,
        path: str,
        on_change: OnChange | None = None,
        **params: str,
    ) -> None:
        self.client = client
        self.path = path
        self.params = params
        self.items: dict[str, kubeapi.JSON] = {}
        self.synced = asyncio.Event()
        self._on_change = on_change or (lambda _key, _obj: None)

    def get(self, namespace: str, name: str) -> kubeapi.JSON | None:
        return self.items.get(f"{namespace}/{name}")

    def _put(self, obj: kubeapi.JSON) -> None:
        k = key(obj)
        self.items[k] = obj
        self._on_change(k, obj)

    def _remove(self, k: str) -> None:
        if self.items.pop(k, None) is not None:
            self._on_change(k, None)

    async def run(self) -> None:
        """List and watch forever (until cancelled)."""
        while True:
            try:
                version: str | None = await self._relist()
                self.synced.set()
                while version is not None:
                    version = await self._follow(version)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch of %s failed; listing again", self.path)
                await asyncio.sleep(1.0)

    async def _relist(self) -> str:
        listing = await self.client.list(self.path, **self.params)
        fresh = {key(obj): obj for obj in listing["items"]}
        for k in set(self.items) - set(fresh):
            self._remove(k)
        for obj in fresh.values():
            self._put(obj)
        version: str = listing["metadata"]["resourceVersion"]
        return version

    async def _follow(self, version: str) -> str | None:
        """Apply watch events from `version`; the version to resume from, or None to
        list again."""
        async for event in self.client.watch(self.path, version, **self.params):
            kind = event["type"]
            obj = event["object"]
            if kind == "ERROR":
                log.info("watch of %s ended: %s", self.path, obj.get("message"))
                return None
            version = obj["metadata"]["resourceVersion"]
            if kind in ("ADDED", "MODIFIED"):
                self._put(obj)
            elif kind == "DELETED":
                self._remove(key(obj))
        return version
