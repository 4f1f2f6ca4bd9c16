"""The README's demo (``make demo``): a 7-node network surviving failures, on this machine.

1. start 7 storage-node processes on loopback (one shard each, so f = 2);
2. store a 5 MiB file;
3. SIGKILL two nodes and read the file back: identical;
4. store a second file while they are down;
5. flip a bit of a sliver on a node's disk: the node detects it and repairs itself;
6. restart the killed nodes: they recover what they missed and hold all their slivers;
7. start the HTTP gateway, store a file with ``curl -T`` and read it back with ``curl``.

Each step prints the equivalent ``walrus`` command. ``--keep`` leaves the network running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

from walrus_node import logs
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.views import BlobStatusState
from walrus_node.testbed.testbed import Testbed


def _step(text: str) -> None:
    print(f"\n== {text}")


def _cmd(text: str) -> None:
    print(f"   $ {text}")


async def _held(client: WalrusClient, blob_id: BlobId, names: list[str]) -> dict[str, str]:
    out = {}
    for member, status in await client.status(blob_id):
        if member.name in names:
            if isinstance(status, str):
                out[member.name] = status
            else:
                held = f"{status.slivers_held}/{status.slivers_expected}"
                out[member.name] = f"{status.state.value}, slivers {held}"
    return out


async def _wait(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the network did not converge in time")
        await asyncio.sleep(0.2)


async def _scenario(bed: Testbed) -> None:
    async with WalrusClient(client_config.load(bed.client_config)) as client:
        c = await client.committees()
        params = EncodingParams(c.n_shards)
        first = os.urandom(5 << 20)
        _step("Store a 5 MiB file")
        _cmd("walrus store photo.bin")
        stored = await client.store(first, epochs=3)
        blob_id = stored.blob_id
        print(f"   blob {blob_id}: {stored.encoded_size} bytes encoded over {c.n_shards} shards,")
        print(
            f"   certified by nodes holding {stored.confirmed_shards} shards "
            f"(a certificate needs {params.quorum})"
        )

        _step("SIGKILL two nodes (f = 2) and read the file back")
        for name in ("node-0", "node-1"):
            _cmd(f"walrus testbed kill {name}")
            await asyncio.to_thread(bed.kill, name)
        _cmd(f"walrus read {blob_id} -o copy.bin")
        result = await client.read(blob_id)
        assert result.data == first
        print(
            f"   read {len(result.data)} bytes: identical (needs any {params.rows} primary slivers)"
        )
        for problem in result.problems:
            print(f"   (expected) {problem[:110]}")

        _step("Store a second file while two nodes are down")
        second = os.urandom(1 << 20)
        stored2 = await client.store(second)
        print(f"   blob {stored2.blob_id}: certified by {stored2.confirmed_shards} shards of 7")

        _step("Corrupt a sliver on node-2's disk")
        _cmd(f"walrus testbed corrupt node-2 {blob_id}")
        shard, type_name = await asyncio.to_thread(bed.corrupt, "node-2", blob_id.raw)
        sliver_type = SliverType(type_name)
        index = params.sliver_in_pair(sliver_type, params.pair_on_shard(blob_id.raw, shard))
        node2 = client._pool.peer(bed.node("node-2").endpoint, "node-2")
        try:
            await node2.get_sliver(blob_id.raw, sliver_type, index)
            print("   node-2 served the sliver?!")
        except PeerError as e:
            print(
                f"   node-2 refuses to serve it: {getattr(e, 'code', '')}: "
                f"{getattr(e, 'details', e)}"
            )

        async def repaired() -> bool:
            try:
                await node2.get_sliver(blob_id.raw, sliver_type, index)
            except PeerError:
                return False
            return True

        await _wait(repaired)
        print("   ... and has rebuilt it from recovery symbols of its peers")

        _step("Restart the killed nodes")
        for name in ("node-0", "node-1"):
            _cmd(f"walrus testbed start {name}")
            await asyncio.to_thread(bed.start, name)

        async def caught_up() -> bool:
            held = await _held(client, stored2.blob_id, ["node-0", "node-1"])
            return (
                all(
                    v.startswith(BlobStatusState.CERTIFIED.value) and v.endswith("2/2")
                    for v in held.values()
                )
                and len(held) == 2
            )

        await _wait(caught_up)
        _cmd(f"walrus status {stored2.blob_id}")
        for blob in (blob_id, stored2.blob_id):
            for name, state in (await _held(client, blob, ["node-0", "node-1"])).items():
                print(f"   {name} {blob}: {state}")
        print("   both hold their slivers of the first blob, and recovered the second one")
        assert (await client.read(stored2.blob_id)).data == second


def _http(bed: Testbed, directory: pathlib.Path) -> None:
    """Step 7: the gateway, with curl when the machine has it (urllib otherwise)."""
    _step("Store and read over HTTP through the gateway")
    _cmd(f"walrus testbed up --gateway --dir {directory}   # or: walrus gateway")
    url = bed.start_gateway()
    print(f"   gateway listening on {url}")
    source = directory / "hello.txt"
    source.write_bytes(b"hello from walrus over HTTP\n" * 1000)
    curl = shutil.which("curl")
    _cmd(f'curl -T {source.name} "{url}/v1/blobs?epochs=2"')
    if curl:
        put = subprocess.run(
            [curl, "-sS", "-T", str(source), f"{url}/v1/blobs?epochs=2"],
            check=True,
            capture_output=True,
        ).stdout
    else:
        request = urllib.request.Request(
            f"{url}/v1/blobs?epochs=2", data=source.read_bytes(), method="PUT"
        )
        with urllib.request.urlopen(request) as reply:
            put = reply.read()
    created = json.loads(put)["newlyCreated"]["blobObject"]
    blob_id = created["blobId"]
    print(
        f"   newlyCreated: blobId {blob_id}, size {created['size']}, until epoch "
        f"{created['storage']['endEpoch']}"
    )
    _cmd(f"curl {url}/v1/blobs/{blob_id} -o copy.txt")
    copy = directory / "copy.txt"
    if curl:
        subprocess.run([curl, "-sS", f"{url}/v1/blobs/{blob_id}", "-o", str(copy)], check=True)
    else:
        with urllib.request.urlopen(f"{url}/v1/blobs/{blob_id}") as reply:
            copy.write_bytes(reply.read())
    assert copy.read_bytes() == source.read_bytes()
    print(
        f"   {copy.stat().st_size} bytes back, identical; `curl -H 'Range: bytes=0-99'` "
        "reads a part"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the testbed running")
    parser.add_argument("--dir", help="testbed folder (default: a temporary one)")
    args = parser.parse_args()
    logs.configure("error", "console")
    directory = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="walrus-demo-"))
    _step(f"Start 7 storage nodes (data in {directory})")
    _cmd(f"walrus testbed up --nodes 7 --dir {directory}")
    bed = Testbed.create(directory, 7)
    try:
        bed.up()
        for row in bed.status():
            print(f"   {row['name']} pid {row['pid']} at {row['endpoint']}")
        print(
            f"   every call below is mutual TLS: the testbed is the network's CA "
            f"({bed.ca_cert_file.name}), each node holds a certificate for its name"
        )
        asyncio.run(_scenario(bed))
        _http(bed, directory)
        print("\nDemo complete.")
    finally:
        if args.keep:
            print(f"Testbed left running: export WALRUS_CONFIG={bed.client_config}")
        else:
            bed.down()


if __name__ == "__main__":
    main()
