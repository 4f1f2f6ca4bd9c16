"""deletions: what deletion catch-up costs a node for each deletion a peer lists.

    walrus-bench deletions --count 2000

A node in-process (its real store in a temporary folder, its real deletion rules; no
gRPC) holds ``--count`` certified blobs, each with one owner's deletable registration.
Three passes, each over the same ``--count`` deletions, signed by the owners:

- *apply*: each one as a peer lists it to a node that missed it
  (``Lifetime.accept_relayed``: the owner's signature checked, the registration removed
  and the deletion logged, one durable store transaction each, one after the other as
  catch-up applies them);
- *skip*: the same ones listed again, by another peer (``Lifetime.deletes_nothing``: a
  read of the blob's info, no signature check, no write): what every node pays for every
  deletion the owner already delivered to it;
- *list*: the node's own log read out after a cursor, 1024 at a time
  (``ListDeletions`` without the wire);
- *wait*: ``--count`` deletions by made-up owners of one blob with
  ``ownership.MAX_REGISTRATIONS`` registrations whose early deletions are full, as they
  wait in catch-up's table: the check of every round (``Lifetime.must_wait``, which
  reads the blob's info once for all of them) -- what a liar filling the table with
  those costs the node per round.

Each pass prints wall and CPU time (user + sys) per deletion and the load average; the
last line is JSON with ``apply_us``, ``skip_us``, ``list_us`` and ``wait_us`` (wall, per
deletion).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import tempfile
import time

from walrus_node import logs
from walrus_node.bench import measure
from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Deletion
from walrus_node.service import ownership
from walrus_node.service.context import NodeContext
from walrus_node.service.lifetime import Lifetime
from walrus_node.store.store import Store
from walrus_node.transport.client import ChannelPool

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=2000, help="deletions (and blobs)")


def _context(directory: pathlib.Path) -> NodeContext:
    pairs = {f"n{i}": keys.KeyPair.generate() for i in range(7)}
    candidates = [
        NodeCandidate(name=name, public_key=kp.public_key, endpoint="127.0.0.1:1", stake=100)
        for name, kp in pairs.items()
    ]
    committee = selection.select(candidates, 7, epoch=1).committee
    config = NodeConfig(
        name="n0",
        data_dir=directory,
        key_file=directory / "key",
        committee_file=directory / "committee",
    )
    ctx = NodeContext(config, pairs["n0"], Store(directory), ChannelPool(), NodeMetrics())
    ctx.committees = committee_file.ActiveCommittees(epoch.EpochState.genesis(committee))
    return ctx


def _report(name: str, count: int, wall: float, cpu: float) -> float:
    per = wall / count * 1e6
    print(
        f"{name:>5}: {per:8.1f} us wall, {cpu / count * 1e6:8.1f} us cpu per deletion "
        f"({count} in {wall:.2f} s; load {measure.load_average():.2f})"
    )
    return per


async def _passes(ctx: NodeContext, deletions: list[Deletion]) -> dict[str, float]:
    lifetime = Lifetime(ctx)
    out: dict[str, float] = {}
    count = len(deletions)

    start, cpu = time.perf_counter(), time.process_time()
    for d in deletions:
        await lifetime.accept_relayed(d)
    out["apply_us"] = _report("apply", count, time.perf_counter() - start, _cpu(cpu))

    start, cpu = time.perf_counter(), time.process_time()
    skipped = [await lifetime.deletes_nothing(d) for d in deletions]
    out["skip_us"] = _report("skip", count, time.perf_counter() - start, _cpu(cpu))
    assert all(skipped), "a deletion applied once would change something again"

    start, cpu = time.perf_counter(), time.process_time()
    cursor, listed = 0, 0
    while batch := await lifetime.deletions_after(cursor, 1024):
        listed += len(batch)
        cursor = batch[-1][0]
    out["list_us"] = _report("list", count, time.perf_counter() - start, _cpu(cpu))
    assert listed == count

    waiting = _full_blob(ctx, count)
    start, cpu = time.perf_counter(), time.process_time()
    held = lifetime.must_wait(waiting)
    out["wait_us"] = _report("wait", count, time.perf_counter() - start, _cpu(cpu))
    assert held == set(waiting)
    return out


def _full_blob(ctx: NodeContext, count: int) -> list[Deletion]:
    """A blob with the most registrations and the most early deletions it keeps, and
    ``count`` more deletions of it by made-up owners (signatures not needed: the check
    of a waiting deletion does not look at them)."""
    at = ctx.require_committees().epoch
    blob_id = os.urandom(32)
    info = None
    for _ in range(ownership.MAX_REGISTRATIONS):
        registration = BlobRegistration(at + 2, True, os.urandom(32), 1000)
        info = ownership.certify(info, registration, at, at, 0) or info
    for _ in range(ownership.MAX_EARLY_DELETIONS):
        info = ownership.delete(info, os.urandom(32), at) or info
    assert info is not None and ownership.lacks_room(info, os.urandom(32), at)
    ctx.store.put_blob_info(blob_id, info)
    return [Deletion(at, blob_id, os.urandom(32), bytes(64)) for _ in range(count)]


def _cpu(since: float) -> float:
    return time.process_time() - since  # this process: user + sys


def run(args: argparse.Namespace) -> int:
    logs.configure(level="warning")  # one line per deletion otherwise
    directory = pathlib.Path(tempfile.mkdtemp(prefix="walrus-bench-deletions-"))
    try:
        ctx = _context(directory / "node")
        c = ctx.require_committees()
        deletions = []
        for _ in range(args.count):
            owner, blob_id = keys.KeyPair.generate(), os.urandom(32)
            registration = BlobRegistration(c.epoch + 2, True, owner.public_key, 1000)
            info = ownership.certify(None, registration, c.epoch, c.epoch, 0)
            assert info is not None
            ctx.store.put_blob_info(blob_id, info)
            message = messages.deletion_message(c.network_id, c.epoch, blob_id, owner.public_key)
            signature = owner.sign(message)
            deletions.append(Deletion(c.epoch, blob_id, owner.public_key, signature))
        try:
            result = asyncio.run(_passes(ctx, deletions))
        finally:
            ctx.shutdown()
            ctx.store.close()
        measure.emit_json({"benchmark": "deletions", "count": args.count, **result})
        return 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)
