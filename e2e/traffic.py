"""A client at work and a watch on the pods, for scenarios that change a running network:
`Workload` stores and reads blobs in a thread and keeps every failure; `Sampler` reads the
pods every 0.3 s and keeps the most pods down and shards offline it saw at once.

Used by the image rollouts of `e2e.test_rollout` (local backend) and
`e2e.test_scenarios` (kind).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from e2e.test_scenarios import Session
    from walrus_node.client.api import WalrusClient


def pods(session: Session) -> dict[str, Any]:
    """The namespace's pods by name."""
    items = json.loads(session.kubectl("get", "pods", "-o", "json"))["items"]
    return {p["metadata"]["name"]: p for p in items}


def ready(pod: Any) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions", [])
    )


def image(pod: Any) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def shards(session: Session) -> dict[str, int]:
    """Each committee member's shard count, from the network's status."""
    state = json.loads(session.network()["status"]["epochState"])["committees"]
    return {m["name"]: len(m["shards"]) for m in state["members"]}


class Sampler:
    """Samples the committee members' pods (`<node>-0`) in a thread: shards offline (pods
    not Ready, by the committee's shard counts), pods down at once, and every pod uid
    seen. Pods of anything else in the namespace (gateways) are not counted."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.shards = shards(session)
        self.max_offline = 0
        self.max_down = 0
        self.samples = 0
        self.uids: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = pods(self.session)
            down = {
                n
                for n in self.shards
                if (p := seen.get(f"{n}-0")) is None
                or not ready(p)
                or p["metadata"].get("deletionTimestamp")
            }
            self.max_down = max(self.max_down, len(down))
            self.max_offline = max(self.max_offline, sum(self.shards[n] for n in down))
            for name, p in seen.items():
                self.uids.setdefault(name, set()).add(p["metadata"]["uid"])
            self.samples += 1
            self._stop.wait(0.3)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class Workload:
    """A client in a thread that stores a blob and reads it (and an earlier one) back, over
    and over; every failure is kept."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.failures: list[str] = []
        self.writes = 0
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        stored: list[tuple[Any, bytes]] = []
        async with self.session.client() as client:
            while not self._stop.is_set():
                await self._round(client, stored)

    async def _round(self, client: WalrusClient, stored: list[tuple[Any, bytes]]) -> None:
        data = os.urandom(20_000 + len(stored) * 997 % 50_000)
        try:
            blob_id = (await client.store(data, epochs=5)).blob_id
            self.writes += 1
            stored.append((blob_id, data))
        except Exception as exc:  # any failure is what the test counts
            self.failures.append(f"store: {type(exc).__name__}: {exc}")
            return
        for blob_id, expected in (stored[-1], stored[len(stored) // 2]):
            try:
                got = (await client.read(blob_id)).data
            except Exception as exc:
                self.failures.append(f"read: {type(exc).__name__}: {exc}")
                continue
            self.reads += 1
            if got != expected:
                self.failures.append(f"read {blob_id}: wrong data")

    def __enter__(self) -> Workload:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
