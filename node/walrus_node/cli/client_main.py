"""``walrus``: store and read blobs, inspect the network, run a local testbed.

    walrus store FILE [--epochs E]          prints the blob ID
    walrus read BLOB_ID [-o OUT]
    walrus status BLOB_ID
    walrus info
    walrus testbed up --nodes N [--shards S] [--dir DIR]
    walrus testbed down | status | kill NODE | start NODE | corrupt NODE BLOB_ID

Results go to stdout (the blob ID, the blob's bytes); messages, progress and problems go
to stderr. Exit status: 0 success, 1 operation failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import sys
import time
from typing import Any

from walrus_node import logs
from walrus_node.client import api
from walrus_node.client import config as config_mod
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.protocol import keys
from walrus_node.testbed import testbed as testbed_mod

__all__ = ["main"]

DEFAULT_TESTBED_DIR = ".testbed"


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


def _say(message: str) -> None:
    print(message, file=sys.stderr)


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
        _say(f"walrus: cannot read {path}: {e.strerror}")
        return 2
    owner = None
    if args.deletable:
        owner_path = pathlib.Path(args.owner_key)
        if not owner_path.exists():
            keys.KeyPair.generate().save(owner_path)
            _say(f"created owner key {owner_path}")
        owner = keys.KeyPair.load(owner_path)
    async with _client(args) as client:
        c = await client.committees()
        params = EncodingParams(c.n_shards)
        encoded_size = params.encoded_size(len(data))
        units = -(-encoded_size // (1 << 20))
        cost = units * c.storage_price * args.epochs + units * c.write_price
        _say(
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
        _say(f"warning: {problem}")
    _say(
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
        _say(f"warning: {problem}")
    if args.out in (None, "-"):
        sys.stdout.buffer.write(result.data)
        sys.stdout.buffer.flush()
    else:
        pathlib.Path(args.out).write_bytes(result.data)
        _say(f"wrote {len(result.data)} bytes to {args.out}")
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
        print(f"  {m.name:<12} {m.endpoint:<22} shards {list(m.shards)} stake {m.stake}")
    return 0


def _testbed(args: argparse.Namespace) -> int:
    directory = pathlib.Path(args.dir)
    action = args.action
    if action == "up":
        bed = testbed_mod.Testbed.create(directory, args.nodes, args.shards)
        bed.up()
        _say(f"{len(bed.nodes)} nodes serving {bed.n_shards} shards; data in {bed.directory}")
        _say(f"client configuration: {bed.client_config}")
        if directory.resolve() != pathlib.Path(DEFAULT_TESTBED_DIR).resolve():
            _say(f"  export WALRUS_CONFIG={bed.client_config}")
        return 0
    bed = testbed_mod.Testbed.open(directory)
    if action == "down":
        bed.down()
        if args.purge:
            shutil.rmtree(bed.directory)
        _say("stopped" + (" and removed" if args.purge else ""))
    elif action == "kill":
        bed.kill(args.node)
        _say(f"killed {args.node} (SIGKILL)")
    elif action == "start":
        bed.start(args.node)
        _say(f"{args.node} serving again")
    elif action == "corrupt":
        shard, sliver_type = bed.corrupt(args.node, _blob_id(args.blob_id).raw)
        _say(f"flipped a bit of {args.node}'s {sliver_type} sliver of shard {shard} on disk")
    elif action == "status":
        for row in bed.status():
            state = f"running pid {row['pid']}" if row["running"] else "stopped"
            print(f"{row['name']:<10} {state:<20} {row['endpoint']:<22} {row['metrics']}")
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

    info = sub.add_parser("info", help="committee, shards, thresholds and prices")
    info.set_defaults(coro=_info)

    bed = sub.add_parser("testbed", help="a local network of node processes")
    bed_sub = bed.add_subparsers(dest="action", required=True)
    up = bed_sub.add_parser("up", help="create and start a testbed")
    up.add_argument("--nodes", type=int, default=7)
    up.add_argument("--shards", type=int, default=None, help="default: one per node")
    for p in [up, *(bed_sub.add_parser(a) for a in ("down", "status"))]:
        p.add_argument("--dir", default=DEFAULT_TESTBED_DIR)
    bed_sub.choices["down"].add_argument("--purge", action="store_true", help="delete the data")
    for action in ("kill", "start", "corrupt"):
        p = bed_sub.add_parser(action)
        p.add_argument("node")
        if action == "corrupt":
            p.add_argument("blob_id", help="blob whose sliver to damage on disk")
        p.add_argument("--dir", default=DEFAULT_TESTBED_DIR)
    bed.set_defaults(fn=_testbed)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_level, "console")
    try:
        if hasattr(args, "coro"):
            result: Any = asyncio.run(args.coro(args))
            return int(result)
        return int(args.fn(args))
    except (config_mod.ClientConfigError, testbed_mod.TestbedError) as e:
        _say(f"walrus: {e}")
        return 2
    except api.ClientError as e:
        _say(f"walrus: {e}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
