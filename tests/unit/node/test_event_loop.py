"""The processes' event loop: uvloop unless asked for asyncio's own, run to its end as
``asyncio.run`` does; an unknown loop is refused without leaving its coroutine behind."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import uvloop

from walrus_node import event_loop


async def _loop_and_cleanup() -> tuple[type, list[str]]:
    done: list[str] = []

    async def tail() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            done.append("cancelled")

    asyncio.get_running_loop().create_task(tail())
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()), done


@pytest.mark.parametrize(
    ("name", "kind"), [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)]
)
def test_the_main_coroutine_runs_on_the_chosen_loop(name: str, kind: type) -> None:
    loop_type, done = event_loop.run(_loop_and_cleanup(), name)
    assert issubclass(loop_type, kind)
    assert done == ["cancelled"]  # tasks left behind are cancelled, as asyncio.run does
    assert event_loop.DEFAULT == "uvloop"


def test_an_unknown_loop_is_refused_and_its_coroutine_closed() -> None:
    coro = _loop_and_cleanup()
    with pytest.raises(ValueError, match="'tokio' is not one of uvloop, asyncio"):
        event_loop.run(coro, "tokio")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del coro
        gc.collect()  # "never awaited" would be a RuntimeWarning here
