"""``walrus``: store and read blobs, inspect the network, run a local testbed.

    walrus store FILE [--epochs E] [--deletable]   prints the blob ID and, first, the cost
    walrus read BLOB_ID [-o OUT]
    walrus status BLOB_ID
    walrus health                                 each node's own report
    walrus extend BLOB_ID --epochs E [--owner-key KEY]
    walrus delete BLOB_ID [--owner-key KEY]
    walrus info
    walrus gateway [--aggregator] [--publisher] [--port P]   HTTP API (docs/gateway.md)
    walrus testbed up --nodes N [--shards S] [--dir DIR] [--epoch-duration SECONDS]
    walrus testbed down | status | epoch | kill NODE | start NODE | corrupt NODE BLOB_ID
    walrus testbed add-node [--stake S] | stake NODE AMOUNT | remove-node NODE

Results go to stdout (the blob ID, the blob's bytes); messages, progress and problems go
to stderr. ``--json`` (before or after the command; for the testbed, on ``testbed
status``) prints one JSON document instead.
A blob ID may start with ``-`` (about 1 in 64 do): it is recognised as an argument, no
``--`` needed. Exit status: 0 success, 1 operation failed, 2 bad usage or configuration,
141 when the reader of stdout went away (``walrus info | head``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import pathlib
import re
import sys
import tempfile
import time
from typing import Any

from walrus_node import allocator, logs
from walrus_node.cli import gateway_cmd, testbed_cmd
from walrus_node.cli.text import say, shard_ranges
from walrus_node.client import api, blob_file
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
        self.shown = -1.0
        self.started = time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.shown >= 0.1 or self.done >= self.total):
            self.shown = now
            fraction = min(1.0, self.done / self.total)
            bar = "#" * int(fraction * 30)
            rate = self.done / max(time.perf_counter() - self.started, 1e-6) / 1e6
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:5.1%} {rate:7.1f} MB/s")
            sys.stderr.flush()

    def close(self) -> None:
        """End the bar's line (once; later calls do nothing)."""
        if self.enabled:
            sys.stderr.write("\n")
            self.enabled = False


def _client(args: argparse.Namespace) -> api.WalrusClient:
    return api.WalrusClient(config_mod.load(args.config))


_DASHED = "\0"
"""Marks a blob ID that starts with ``-`` while argparse runs (a real argument cannot
contain a NUL byte, so the mark is unambiguous)."""
_BLOB_ID_SHAPE = re.compile(r"^-[A-Za-z0-9_-]{42}$")


def _protect_blob_ids(argv: list[str], options: set[str]) -> list[str]:
    """Blob IDs starting with ``-`` would be taken for options: mark them."""
    out = []
    for arg in argv:
        marked = arg
        if arg not in options and _BLOB_ID_SHAPE.match(arg):
            try:
                BlobId.parse(arg)
            except ValueError:
                pass
            else:
                marked = _DASHED + arg
        out.append(marked)
    return out


def _blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text.removeprefix(_DASHED))
    except ValueError as e:
        raise config_mod.ClientConfigError(str(e)) from e


def _json_out(document: object) -> None:
    print(json.dumps(document, indent=2))


async def _store(args: argparse.Namespace) -> int:
    """Store a file, encoded as it is read (client/blob_file.py): the process holds the
    encoded size, never the file beside it."""
    path = pathlib.Path(args.file)
    try:
        f = path.open("rb", buffering=0)
    except OSError as e:
        say(f"walrus: cannot read {path}: {e.strerror}")
        return 2
    with f:
        try:
            size = blob_file.remaining_length(f)
        except blob_file.UnsizedFileError as e:
            say(f"walrus: {e}")
            return 2
        return await _store_data(args, f, size)


async def _store_data(args: argparse.Namespace, f: io.RawIOBase, size: int) -> int:
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
        encoded_size = params.encoded_size(size)
        units = -(-encoded_size // (1 << 20))
        cost = units * c.storage_price * args.epochs + units * c.write_price
        say(
            f"storing {size} bytes for {args.epochs} epoch(s): encoded size "
            f"{encoded_size} bytes; cost {cost} "
            f"({units} MiB x {c.storage_price}/MiB/epoch x {args.epochs} + "
            f"{units} MiB x {c.write_price}/MiB)"
        )
        reading = _Progress("reading  ", size)
        progress = _Progress("uploading", encoded_size)

        def read(n: int) -> None:  # from the encoding thread; the bar ends with the file
            reading(n)
            if reading.done >= size:
                reading.close()

        try:
            result = await client.store(
                f,
                epochs=args.epochs,
                deletable=args.deletable,
                owner=owner,
                progress=progress,
                read_progress=read,
            )
        finally:
            reading.close()
            progress.close()
    for problem in result.problems:
        say(f"warning: {problem}")
    end_epoch = result.certificate.registration.end_epoch
    if args.json:
        _json_out(
            {
                "blobId": str(result.blob_id),
                "size": size,
                "encodedSize": result.encoded_size,
                "endEpoch": end_epoch,
                "deletable": args.deletable,
                "cost": cost,
                "confirmedShards": result.confirmed_shards,
                "certifiedBy": result.certified_by,
                "problems": result.problems,
            }
        )
        return 0
    say(
        f"certified by {result.confirmed_shards}/{c.n_shards} shards, accepted by "
        f"{result.certified_by} nodes, until epoch {end_epoch}"
    )
    print(result.blob_id)
    return 0


async def _read(args: argparse.Namespace) -> int:
    """The blob to a file or stdout, written as its verified rows arrive (a few slivers
    in memory, not the blob); ``--json`` without a file holds it to encode it."""
    blob_id = _blob_id(args.blob_id)
    to_stdout = args.out in (None, "-")
    if args.json and to_stdout:
        return await _read_json(args, blob_id)
    async with _client(args) as client:
        blob = await client.open(blob_id)
        progress = _Progress("reading", blob.length)
        try:
            if to_stdout:
                result = await client.read_into(blob_id, sys.stdout.buffer, progress=progress)
                sys.stdout.buffer.flush()
            else:
                result = await _read_to_file(client, blob_id, pathlib.Path(args.out), progress)
        finally:
            progress.close()
    size = int(result.timings["bytes"])
    for problem in result.problems:
        say(f"warning: {problem}")
    if args.json:
        _json_out(
            {"blobId": str(blob_id), "size": size, "out": args.out, "problems": result.problems}
        )
    elif not to_stdout:
        say(f"wrote {size} bytes to {args.out}")
    return 0


async def _read_to_file(
    client: api.WalrusClient, blob_id: BlobId, path: pathlib.Path, progress: _Progress
) -> api.ReadResult:
    """Write into a temporary file beside ``path``, renamed to it once the whole blob is
    in: a failed read leaves no partial file behind."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            result = await client.read_into(blob_id, out, progress=progress)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
    return result


async def _read_json(args: argparse.Namespace, blob_id: BlobId) -> int:
    async with _client(args) as client:
        blob = await client.open(blob_id)
        progress = _Progress("reading", blob.length)
        try:
            result = await client.read(blob_id, progress=progress)
        finally:
            progress.close()
    for problem in result.problems:
        say(f"warning: {problem}")
    _json_out(
        {
            "blobId": str(blob_id),
            "size": len(result.data),
            "data": base64.b64encode(result.data).decode(),
            "problems": result.problems,
        }
    )
    return 0


async def _status(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    async with _client(args) as client:
        rows = await client.status(blob_id)
    if args.json:
        _json_out(
            {
                "blobId": str(blob_id),
                "nodes": [
                    {"node": m.name, "error": st}
                    if isinstance(st, str)
                    else {
                        "node": m.name,
                        "state": st.state.value,
                        "slivers": st.slivers_held,
                        "sliversExpected": st.slivers_expected,
                        "metadata": st.has_metadata,
                        "endEpoch": st.registration.end_epoch if st.registration else None,
                    }
                    for m, st in rows
                ],
            }
        )
        return 0
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
    end_epoch = result.certificate.registration.end_epoch
    if args.json:
        _json_out({"blobId": str(blob_id), "endEpoch": end_epoch, "problems": result.problems})
        return 0
    say(f"blob {blob_id} now stored until epoch {end_epoch}")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    blob_id = _blob_id(args.blob_id)
    owner = keys.KeyPair.load(args.owner_key)
    async with _client(args) as client:
        deleted, problems = await client.delete(blob_id, owner)
    for problem in problems:
        say(f"warning: {problem}")
    if args.json:
        _json_out({"blobId": str(blob_id), "deletedOn": deleted, "problems": problems})
        return 0
    say(f"blob {blob_id} deleted on {deleted} nodes")
    return 0


async def _info(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        c = await client.committees()
    params = EncodingParams(c.n_shards)
    if args.json:
        _json_out(
            {
                "epoch": c.epoch,
                "phase": c.phase,
                "nShards": c.n_shards,
                "f": params.f,
                "readSlivers": params.rows,
                "quorum": params.quorum,
                "storagePrice": c.storage_price,
                "writePrice": c.write_price,
                "maxBlobSize": params.max_blob_size(),
                "maxEpochsAhead": c.max_epochs_ahead,
                "members": [
                    {
                        "name": m.name,
                        "endpoint": m.endpoint,
                        "shards": list(m.shards),
                        "stake": m.stake,
                    }
                    for m in c.current.members
                ],
            }
        )
        return 0
    print(f"epoch {c.epoch} ({c.phase}), {c.n_shards} shards, f={params.f}")
    print(f"  read needs {params.rows} primary slivers; a certificate needs {params.quorum} shards")
    print(
        f"  storage price {c.storage_price} per MiB per epoch, write price {c.write_price} per MiB"
    )
    print(f"  max blob size {params.max_blob_size()} bytes; max {c.max_epochs_ahead} epochs ahead")
    for m in c.current.members:
        print(f"  {m.name:<12} {m.endpoint:<22} shards {shard_ranges(m.shards)} stake {m.stake}")
    return 0


async def _health(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        rows = await client.health()
    healthy = sum(1 for _, info in rows if not isinstance(info, str))
    if args.json:
        _json_out(
            {
                "healthy": healthy,
                "members": len(rows),
                "nodes": [
                    {"node": m.name, "endpoint": m.endpoint, "error": info}
                    if isinstance(info, str)
                    else {
                        "node": m.name,
                        "endpoint": m.endpoint,
                        "status": info.status.value,
                        "epoch": info.epoch,
                        "shards": list(info.shards),
                        "blobs": info.blobs_stored,
                        "recoveryBacklog": info.recovery_backlog,
                        "uptimeSeconds": info.uptime_seconds,
                        "version": info.version,
                    }
                    for m, info in rows
                ],
            }
        )
    else:
        for m, info in rows:
            if isinstance(info, str):
                print(f"{m.name:<12} {m.endpoint:<22} unreachable: {info}")
                continue
            print(
                f"{m.name:<12} {m.endpoint:<22} {info.status.value:<10} epoch {info.epoch} "
                f"shards {shard_ranges(info.shards)} blobs {info.blobs_stored} "
                f"backlog {info.recovery_backlog} up {info.uptime_seconds} s"
            )
        say(f"{healthy} of {len(rows)} nodes answered")
    return 0 if healthy == len(rows) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walrus", description="Walrus storage client")
    parser.add_argument("--config", help="client configuration (default: see docs)")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    # --json is also accepted after the command; SUPPRESS keeps the global one otherwise
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON"
    )

    store = sub.add_parser("store", parents=[common], help="store a file; prints its blob ID")
    store.add_argument("file")
    store.add_argument("--epochs", type=int, default=1, help="epochs to store it for")
    store.add_argument("--deletable", action="store_true", help="allow deleting it later")
    store.add_argument(
        "--owner-key", default="owner.key", help="key that may delete a deletable blob"
    )
    store.set_defaults(coro=_store)

    read = sub.add_parser("read", parents=[common], help="read a blob")
    read.add_argument("blob_id")
    read.add_argument("-o", "--out", help="output file (default: stdout)")
    read.set_defaults(coro=_read)

    status = sub.add_parser("status", parents=[common], help="what each node holds of a blob")
    status.add_argument("blob_id")
    status.set_defaults(coro=_status)

    extend = sub.add_parser(
        "extend", parents=[common], help="store a certified blob for more epochs"
    )
    extend.add_argument("blob_id")
    extend.add_argument("--epochs", type=int, required=True, help="epochs to add")
    extend.add_argument(
        "--owner-key",
        default=None,
        help="extend this key's deletable registration (default: the permanent one)",
    )
    extend.set_defaults(coro=_extend)

    delete = sub.add_parser("delete", parents=[common], help="delete a deletable blob")
    delete.add_argument("blob_id")
    delete.add_argument("--owner-key", default="owner.key", help="the key given at store time")
    delete.set_defaults(coro=_delete)

    info = sub.add_parser("info", parents=[common], help="committee, shards, thresholds and prices")
    info.set_defaults(coro=_info)

    health = sub.add_parser("health", parents=[common], help="each committee node's own report")
    health.set_defaults(coro=_health)

    gateway_cmd.add_parser(sub)
    testbed_cmd.add_parser(sub)
    return parser


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:  # argparse has no public walk
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _option_strings(child)
    return found


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # The reader of stdout went away (`walrus info | head`): no traceback, and no
        # second error when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(_protect_blob_ids(argv, _option_strings(parser)))
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
