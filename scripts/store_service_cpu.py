"""CPU of the node's service layer per 1 MiB store, in one process, without gRPC.

    .venv/bin/python scripts/store_service_cpu.py 160

A node of a 7-shard committee (a real store in a temporary folder) takes ``stores``
uploads as ``StoreAndCertify`` hands them over (:class:`.upload_stream.UploadStream`: the
start part with the node's whole slivers, then ``finish``: metadata and slivers verified,
written in one transaction, the confirmation signed), back to back on one event loop;
the blobs are encoded before the clock starts. It prints the event loop thread's CPU per
store (``time.thread_time``), the process's (with the store's writer threads: fsync and
its kernel time) and the wall time. The first 10 uploads are not counted. What it leaves
out is gRPC (messages parsed and written, TLS), which ``store_cpu_threads.py`` counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import resource
import shutil
import tempfile
import time

from walrus_node.codec import encoder
from walrus_node.codec.params import SliverType
from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import committee_file, keys
from walrus_node.protocol.messages import BlobRegistration
from walrus_node.service.context import NodeContext
from walrus_node.service.node import NodeService
from walrus_node.store.store import Store
from walrus_node.transport import convert, framing, upload_stream
from walrus_node.transport.client import ChannelPool
from walrus_proto.node.v1 import node_pb2 as pb

WARMUP = 10
Upload = tuple[pb.StoreBlobStart, list[pb.WholeSliver]]


def uploads(ctx: NodeContext, count: int) -> list[Upload]:
    owner = keys.KeyPair.generate()
    out = []
    for _ in range(count):
        encoded = encoder.encode(os.urandom(1 << 20), 7)
        blob_id = encoded.blob_id.raw
        registration = BlobRegistration(
            end_epoch=3, deletable=True, owner_public_key=owner.public_key, unencoded_length=1 << 20
        )
        start = pb.StoreBlobStart(
            blob_id=blob_id,
            metadata=encoded.metadata.to_bytes(),
            registration=convert.registration_to_pb(registration),
        )
        whole = []
        for shard in ctx.my_shards():
            primary, secondary = ctx.slivers_for_shard(blob_id, shard)
            for sliver_type, index in (
                (SliverType.PRIMARY, primary),
                (SliverType.SECONDARY, secondary),
            ):
                data = bytes(encoded.sliver(sliver_type, index))
                header = framing.sliver_header(blob_id, sliver_type, index, len(data)).header
                whole.append(pb.WholeSliver(header=header, data=data))
        out.append((start, whole))
    return out


async def run(node: NodeService, items: list[Upload]) -> str:
    ctx = node.ctx

    def limits() -> framing.StreamLimits:
        n = ctx.require_committees().n_shards
        most = ctx.config.max_sliver_bytes
        return framing.StreamLimits(
            max_sliver_bytes=most, max_stream_bytes=2 * n * most, max_items=2 * n
        )

    async def one(start: pb.StoreBlobStart, whole: list[pb.WholeSliver]) -> None:
        stream = upload_stream.UploadStream(node, limits, "StoreAndCertify")
        try:
            await stream.start(start)
            for sliver in whole:
                await stream.whole(sliver)
            await stream.finish()
        finally:
            await stream.close()

    for start, whole in items[:WARMUP]:
        await one(start, whole)
    counted = len(items) - WARMUP
    before = resource.getrusage(resource.RUSAGE_SELF)
    loop_before, wall_before = time.thread_time(), time.perf_counter()
    for start, whole in items[WARMUP:]:
        await one(start, whole)
    loop = (time.thread_time() - loop_before) / counted
    wall = (time.perf_counter() - wall_before) / counted
    after = resource.getrusage(resource.RUSAGE_SELF)
    process = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / counted
    return (
        f"event loop {loop * 1000:.3f} ms/store, process {process * 1000:.3f} ms/store, "
        f"wall {wall * 1000:.2f} ms/store, load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", type=int)
    args = parser.parse_args()
    directory = pathlib.Path(tempfile.mkdtemp(prefix="walrus-service-cpu-"))
    pairs = {f"n{i}": keys.KeyPair.generate() for i in range(7)}
    candidates = [
        NodeCandidate(name=name, public_key=kp.public_key, endpoint="127.0.0.1:1", stake=100)
        for name, kp in pairs.items()
    ]
    committee = selection.select(candidates, 7, epoch=1).committee
    config = NodeConfig(
        name="n0",
        data_dir=directory / "data",
        key_file=directory / "key",
        committee_file=directory / "committee",
    )
    store = Store(directory / "data")
    ctx = NodeContext(config, pairs["n0"], store, ChannelPool(), NodeMetrics())
    try:
        ctx.committees = committee_file.ActiveCommittees(epoch.EpochState.genesis(committee))
        node = NodeService(ctx)
        print(asyncio.run(run(node, uploads(ctx, WARMUP + args.stores))))
    finally:
        ctx.shutdown()
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
