"""How many threads the codec's native loops use.

Who calls it: ``walrus-bench codec --threads`` (to measure scaling), and any process that
wants to leave cores to other work. The default is every core the machine has
(``std::thread::available_parallelism`` in the native module). The setting sizes the
native module's pool, which only calls of over 1 MiB of work use; a smaller call runs on
the thread that makes it (docs/codec.md, "Where the work is done").
"""

from __future__ import annotations

import walrus_native

__all__ = ["get_threads", "set_threads"]


def set_threads(threads: int) -> None:
    """Run the codec's loops on ``threads`` threads (at least 1) from now on."""
    if threads < 1:
        raise ValueError(f"codec threads must be at least 1, got {threads}")
    walrus_native.set_threads(threads)


def get_threads() -> int:
    """Threads the codec's loops run on."""
    return walrus_native.threads()
