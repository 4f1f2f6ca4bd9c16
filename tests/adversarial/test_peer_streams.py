"""A Byzantine peer (a real process) streams endless data to a node that is recovering.

Four nodes; node-3 is replaced by :mod:`tests.support.endless_peer`, which holds node-3's
TLS identity and answers GetRecoverySymbols(Batch) with symbols forever. Node-0 loses a sliver
and recovers it; its two honest peers are frozen (SIGSTOP) meanwhile, so the Byzantine
stream is the only answer it gets. The node must cut that stream at its configured cap
(``peer_stream_max_bytes``), stay up, and recover from the honest peers once they thaw.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.attacks import MiB, peak_rss_mib
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol import messages
from walrus_node.protocol.keys import KeyPair
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import framing
from walrus_node.transport.client import ChannelPool, RpcError

pytestmark = pytest.mark.alone

CAP = 32 * MiB
SLACK = 24 * MiB
"""What HTTP/2 flow control may have in flight when the node stops reading."""


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    testbed = Testbed.create(
        tmp_path / "testbed",
        4,
        node_settings={"peer_stream_max_bytes": CAP, "max_sliver_bytes": 16 * MiB},
    )
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _fetch_code(bed: Testbed, blob_id: bytes, sliver_type: SliverType, index: int) -> str:
    async def go() -> str:
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            node = client._pool.peer(bed.node("node-0").endpoint, "node-0")
            try:
                await node.get_sliver(blob_id, sliver_type, index)
            except Exception as e:
                return str(getattr(e, "code", type(e).__name__))
            return "OK"

    return asyncio.run(go())


def _store(bed: Testbed, data: bytes) -> bytes:
    async def go() -> bytes:
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            return (await client.store(data)).blob_id.raw

    return asyncio.run(go())


def _sent(count_file: pathlib.Path) -> int:
    try:
        return int(count_file.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_an_endless_peer_stream_is_cut_at_the_cap(bed: Testbed, tmp_path: pathlib.Path) -> None:
    blob_id = _store(bed, os.urandom(200_000))
    shard, type_name = bed.corrupt("node-0", blob_id)
    sliver_type = SliverType(type_name)
    params = EncodingParams(4)
    index = params.sliver_in_pair(sliver_type, params.pair_on_shard(blob_id, shard))

    byzantine = bed.node("node-3")
    port = byzantine.grpc_port
    bed.kill("node-3")
    count_file = tmp_path / "sent"
    peer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.endless_peer",
            "--port",
            str(port),
            "--count-file",
            str(count_file),
            "--cert",
            str(byzantine.tls_cert_file),
            "--key",
            str(byzantine.tls_key_file),
            "--ca",
            str(bed.ca_cert_file),
        ],
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )
    frozen = [bed.node("node-1").pid, bed.node("node-2").pid]
    try:
        deadline = time.monotonic() + 60
        while not count_file.exists():
            assert peer.poll() is None, "the Byzantine peer did not start"
            assert time.monotonic() < deadline, "the Byzantine peer did not start in time"
            time.sleep(0.05)
        node0 = bed.node("node-0").pid
        before = peak_rss_mib(node0)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        # Reading the rotten sliver makes node-0 notice it and start recovering it.
        assert _fetch_code(bed, blob_id, sliver_type, index) == "DATA_LOSS"
        deadline = time.monotonic() + 90
        last, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            sent = _sent(count_file)
            if sent != last:
                last, still_since = sent, time.monotonic()
            elif sent > 0 and time.monotonic() - still_since > 3:
                break  # the node stopped reading
            time.sleep(0.1)
        sent = _sent(count_file)
        print(f"the Byzantine peer got {sent / MiB:.0f} MiB read before the node cut it off")
        assert 0 < sent <= CAP + SLACK, f"the node read {sent / MiB:.0f} MiB from it"
        assert bed.node("node-0").is_running()
        growth = peak_rss_mib(node0) - before
        print(f"node-0 peak RSS growth: {growth:.0f} MiB")
        assert growth < (CAP + SLACK) / MiB + 32
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        peer.kill()
        peer.wait(30)
    # The honest peers are back: node-0 rebuilds the sliver from them.
    deadline = time.monotonic() + 120
    while _fetch_code(bed, blob_id, sliver_type, index) != "OK":
        assert time.monotonic() < deadline, "node-0 did not recover the sliver"
        time.sleep(0.5)


@pytest.mark.parametrize(
    "method", ["GetSliver", "SyncShard", "GetRecoverySymbols", "ListCertificates"]
)
def test_every_peer_stream_a_node_reads_has_a_total_cap(
    method: str, tmp_path: pathlib.Path
) -> None:
    """The client that nodes use for peers stops each kind of endless stream at its limit."""
    count_file = tmp_path / "sent"
    peer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.endless_peer",
            "--port",
            "0",
            "--count-file",
            str(count_file),
            "--port-file",
            str(tmp_path / "port"),
        ],
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )
    limits = framing.StreamLimits(max_sliver_bytes=8 * MiB, max_stream_bytes=8 * MiB, max_items=64)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "port").exists():
            assert peer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        endpoint = f"127.0.0.1:{(tmp_path / 'port').read_text()}"

        async def call() -> None:
            pool = ChannelPool(timeout=60.0, limits=limits)
            node = pool.peer(endpoint, "liar")
            try:
                if method == "GetSliver":
                    await node.get_sliver(bytes(32), SliverType.PRIMARY, 0)
                elif method == "SyncShard":
                    signer = KeyPair.generate()
                    now = int(time.time() * 1000)
                    binding = messages.Binding("net", bytes(32), now, bytes(16))
                    await node.sync_shard(signer, binding, 1, 0, SliverType.PRIMARY, b"", 8)
                elif method == "ListCertificates":
                    await node.list_certificates(0, 8)
                else:
                    await node.get_recovery_symbols(bytes(32), SliverType.PRIMARY, 0)
            finally:
                await pool.close()

        with pytest.raises(RpcError) as info:
            asyncio.run(call())
        assert info.value.code == "RESOURCE_EXHAUSTED", info.value
        time.sleep(1)
        assert _sent(count_file) <= 8 * MiB + SLACK
    finally:
        peer.kill()
        peer.wait(30)
