"""``walrus-bench``: benchmarks that print figures for people and a JSON line for tools.

Who calls it: the ``walrus-bench`` console script (``walrus-bench codec --shards 10
--size 64MiB``), ``python -m walrus_node.bench``, and ``make bench``.

Each benchmark is a module of this package with ``add_arguments(parser)`` and
``run(args) -> int``, listed in :data:`BENCHMARKS` under its subcommand name. Its output
follows :mod:`.measure`: human-readable lines first, then, as the last line, one JSON
object with the figures (throughput in MB/s, 1 MB = 10^6 bytes). Benchmarks are not
tests: nothing asserts on speed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Protocol

from walrus_node.bench import (
    codec,
    deletions,
    file_encode,
    gateway,
    hashing,
    migration,
    store_reads,
    testbed,
)

__all__ = ["BENCHMARKS", "Benchmark", "main"]


class Benchmark(Protocol):
    """What a benchmark module provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


BENCHMARKS: dict[str, Benchmark] = {
    "codec": codec,
    "encode-file": file_encode,
    "hash": hashing,
    "testbed": testbed,
    "migration": migration,
    "gateway": gateway,
    "deletions": deletions,
    "store-reads": store_reads,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="walrus-bench", description="Benchmarks of walrus-k8s components."
    )
    commands = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module in BENCHMARKS.items():
        doc = (module.__doc__ or name).strip()
        summary = doc.splitlines()[0].split(": ", 1)[-1]
        sub = commands.add_parser(
            name,
            help=summary,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status
