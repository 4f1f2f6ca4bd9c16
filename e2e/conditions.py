"""Waiting on conditions in e2e tests: poll until a check holds, with a generous deadline.

    pod = await conditions.eventually(lambda: ready_pod(api, ns, "walrus-0"), "walrus-0 ready")

`eventually` calls the async `check` until it returns something truthy and returns that;
after `timeout` seconds it fails with the description and the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 90.0  # seconds; a loaded 2-core machine can be slow, never flaky
INTERVAL = 0.2


class Timeout(AssertionError):
    pass


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, timeout: float = DEFAULT_TIMEOUT
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Timeout(f"{what}: not reached after {timeout:g} s; last seen: {last!r}")
        await asyncio.sleep(INTERVAL)
