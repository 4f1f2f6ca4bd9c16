"""Small text helpers shared by the command-line tools."""

from __future__ import annotations

import sys

__all__ = ["say", "shard_ranges"]


def say(message: str) -> None:
    """A message for the person at the terminal (stderr; stdout carries results)."""
    print(message, file=sys.stderr)


def shard_ranges(shards: tuple[int, ...]) -> str:
    """(0, 1, 2, 5) -> "0-2,5"."""
    spans: list[list[int]] = []
    for shard in shards:
        if spans and spans[-1][1] == shard - 1:
            spans[-1][1] = shard
        else:
            spans.append([shard, shard])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "-"
