"""Fixtures for integration tests: real node processes on loopback, real gRPC.

Each test gets its own testbed in a temporary folder (7 nodes, one shard each, so
``f = 2`` nodes may fail) and the testbed is stopped afterwards whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.protocol import committee_file
from walrus_node.testbed.testbed import Testbed

T = TypeVar("T")


@pytest.fixture
def testbed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    bed = Testbed.create(tmp_path / "testbed", 7)
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def run(fn: Callable[[WalrusClient], Awaitable[T]], config: pathlib.Path) -> T:
    """Run ``fn(client)`` with a fresh client on its own event loop."""

    async def go() -> T:
        async with WalrusClient(client_config.load(config)) as client:
            return await fn(client)

    return asyncio.run(go())


def owners(bed: Testbed) -> dict[int, str]:
    """shard -> node name, from the testbed's committee."""
    c = committee_file.parse(bed.committee_file.read_bytes())
    return {shard: m.name for m in c.current.members for shard in m.shards}


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def random_bytes(n: int, seed: int = 0) -> bytes:
    return os.urandom(n) if seed == 0 else bytes((i * 7919 + seed) % 251 for i in range(n))
