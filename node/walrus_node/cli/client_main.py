"""``walrus``: store and read blobs, inspect the network, run a local testbed.

    walrus store FILE [--epochs E] [--deletable]   prints the blob ID and, first, the cost
    walrus read BLOB_ID [-o OUT]
    walrus status BLOB_ID
    walrus extend BLOB_ID --epochs E [--owner-key KEY]
    walrus delete BLOB_ID [--owner-key KEY]
    walrus info
    walrus testbed up --nodes N [--shards S] [--dir DIR] [--epoch-duration SECONDS]
    walrus testbed down | status | epoch | kill NODE | start NODE | corrupt NODE BLOB_ID
    walrus testbed add-node [--stake S] | stake NODE AMOUNT | remove-node NODE

Results go to stdout (the blob ID, the blob's bytes); messages, progress and problems go
to stderr. Exit status: 0 success, 1 operation failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import time
from typing import Any

from walrus_node import allocator, logs
from walrus_node.cli import testbed_cmd
from walrus_node.cli.text import say, shard_ranges
from walrus_node.client import api
from walrus_node.client import config as config_mod
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.protocol import keys
from walrus_node.testbed import testbed as testbed_mod

__all__ = ["main"]


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise or for small transfers."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.enabled = sys.stderr.isatty() and total >= 4 << 20
        self.started = time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.enabled:
            fraction = min(1.0, self.done / self.total)
            bar = "#" * int(fraction * 30)
            rate = self.done / max(time.perf_counter() - self.started, 1e-6) / 1e6
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:5.1%} {rate:7.1f} MB/s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _client(args: argparse.Namespace) -> api.WalrusClient:
    return api.WalrusClient(config_mod.load(args.config))


def _blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text)
    except ValueError as e:
        raise config_mod.ClientConfigError(str(e)) from e


async def _store(args: argparse.Namespace) -> int:
    path = pathlib.Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as e:
        say(f"walrus: cannot read {path}: {e.strerror}")
        return 2
    owner = None
    if args.deletable:
        owner_path = pathlib.Path(args.owner_key)
        if not owner_path.exists():
            keys.KeyPair.generate().save(owner_path)
            say(f"created owner key {owner_path}")
        owner = keys.KeyPair.load(owner_path)
    async with _client(args) as client:
        c = await client.committees()
        params = EncodingParams(c.n_shards)
        encoded_size = params.encoded_size(len(data))
        units = -(-encoded_size // (1 << 20))
        cost = units * c.storage_price * args.epochs + units * c.write_price
        say(
            f"storing {len(data)} bytes for {args.epochs} epoch(s): encoded size "
            f"{encoded_size} bytes; cost {cost} "
            f"({units} MiB x {c.storage_price}/MiB/epoch x {args.epochs} + "
            f"{units} MiB x {c.write_price}/MiB)"
        )
        progress = _Progress("uploading", encoded_size)
        try:
            result = await client.store(
                data, epochs=args.epochs, deletable=args.deletable, owner=owner, progress=progress
            )
        finally:
            progress.close()
    for problem in result.problems:
        say(f"warning: {problem}")
    say(
        f"certified by {result.confirmed_shards}/{c.n_shards} shards, accepted by "
        f"{result.certified_by} nodes, until epoch {result.certificate.registration.end_epoch}"
    )
    print(result.blob_id)
    return 0


async def _read(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    async with _client(args) as client:
        result = await client.read(blob_id)
    for problem in result.problems:
        say(f"warning: {problem}")
    if args.out in (None, "-"):
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        pathlib.Path(args.out).write_bytes(result.data)
        say(f"wrote {len(result.data)} bytes to {args.out}")
    return 0


async def _status(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    async with _client(args) as client:
        rows = await client.status(blob_id)
    print(f"blob {blob_id}")
    for member, status in rows:
        if isinstance(status, str):
            print(f"  {member.name:<12} unreachable: {status}")
            continue
        end = status.registration.end_epoch if status.registration else "-"
        print(
            f"  {member.name:<12} {status.state.value:<11} slivers {status.slivers_held}/"
            f"{status.slivers_expected} metadata {'yes' if status.has_metadata else 'no'} "
            f"end epoch {end}"
        )
    return 0


async def _extend(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    async with _client(args) as client:
        owner = None
        if args.owner_key is not None:
            owner = keys.KeyPair.load(pathlib.Path(args.owner_key)).public_key
        result = await client.extend(blob_id, args.epochs, owner=owner)
    for problem in result.problems:
        say(f"warning: {problem}")
    say(f"blob {blob_id} now stored until epoch {result.certificate.registration.end_epoch}")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    owner = keys.KeyPair.load(args.owner_key)
    async with _client(args) as client:
        deleted, problems = await client.delete(blob_id, owner)
    for problem in problems:
        say(f"warning: {problem}")
    say(f"blob {blob_id} deleted on {deleted} nodes")
    return 0


async def _info(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        c = await client.committees()
    params = EncodingParams(c.n_shards)
    print(f"epoch {c.epoch} ({c.phase}), {c.n_shards} shards, f={params.f}")
    print(f"  read needs {params.rows} primary slivers; a certificate needs {params.quorum} shards")
    print(
        f"  storage price {c.storage_price} per MiB per epoch, write price {c.write_price} per MiB"
    )
    print(f"  max blob size {params.max_blob_size()} bytes; max {c.max_epochs_ahead} epochs ahead")
    for m in c.current.members:
        print(f"  {m.name:<12} {m.endpoint:<22} shards {shard_ranges(m.shards)} stake {m.stake}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walrus", description="Walrus storage client")
    parser.add_argument("--config", help="client configuration (default: see docs)")
    parser.add_argument("--log-level", default="warning")
    sub = parser.add_subparsers(dest="command", required=True)

    store = sub.add_parser("store", help="store a file; prints its blob ID")
    store.add_argument("file")
    store.add_argument("--epochs", type=int, default=1, help="epochs to store it for")
    store.add_argument("--deletable", action="store_true", help="allow deleting it later")
    store.add_argument(
        "--owner-key", default="owner.key", help="key that may delete a deletable blob"
    )
    store.set_defaults(coro=_store)

    read = sub.add_parser("read", help="read a blob")
    read.add_argument("blob_id")
    read.add_argument("-o", "--out", help="output file (default: stdout)")
    read.set_defaults(coro=_read)

    status = sub.add_parser("status", help="what each node holds of a blob")
    status.add_argument("blob_id")
    status.set_defaults(coro=_status)

    extend = sub.add_parser("extend", help="store a certified blob for more epochs")
    extend.add_argument("blob_id")
    extend.add_argument("--epochs", type=int, required=True, help="epochs to add")
    extend.add_argument(
        "--owner-key",
        default=None,
        help="extend this key's deletable registration (default: the permanent one)",
    )
    extend.set_defaults(coro=_extend)

    delete = sub.add_parser("delete", help="delete a deletable blob")
    delete.add_argument("blob_id")
    delete.add_argument("--owner-key", default="owner.key", help="the key given at store time")
    delete.set_defaults(coro=_delete)

    info = sub.add_parser("info", help="committee, shards, thresholds and prices")
    info.set_defaults(coro=_info)

    testbed_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    allocator.tune()  # a short-lived process handling blob-sized buffers
    logs.configure(args.log_level, "console")
    try:
        if hasattr(args, "coro"):
            result: Any = asyncio.run(args.coro(args))
            return int(result)
        args.fn(args)
        return 0
    except (config_mod.ClientConfigError, testbed_mod.TestbedError) as e:
        say(f"walrus: {e}")
        return 2
    except api.ClientError as e:
        say(f"walrus: {e}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
