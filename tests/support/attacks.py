"""Tools for tests that attack a node's resources: forged metadata, raw streams, RSS.

The attacker here speaks the wire protocol directly (generated stubs over a real TLS
channel with the testbed's client certificate: any client of the network has one), so it
can send what no honest client would.
"""

from __future__ import annotations

import os
import pathlib
import urllib.request

from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, EncodingType, SliverType
from walrus_proto.node.v1 import node_pb2 as pb

MiB = 1 << 20


def forged_metadata(n_shards: int, symbol_size: int) -> BlobMetadata:
    """Well-formed metadata with random roots: it hashes to its own (valid) blob ID, and
    no sliver will ever match it."""
    params = EncodingParams(n_shards)
    pairs = tuple((os.urandom(32), os.urandom(32)) for _ in range(n_shards))
    return BlobMetadata(
        int(EncodingType.RS2_GF65536_BLAKE3), params.source_symbols * symbol_size, pairs
    )


def sliver_header(blob_id: bytes, sliver_type: SliverType, index: int, size: int) -> pb.SliverPart:
    wire = pb.SLIVER_TYPE_PRIMARY if sliver_type is SliverType.PRIMARY else pb.SLIVER_TYPE_SECONDARY
    return pb.SliverPart(header=pb.SliverHeader(blob_id=blob_id, type=wire, index=index, size=size))


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), from /proc."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def anon_rss_mib(pid: int) -> float:
    """The process's anonymous resident memory (RssAnon): its private allocations, not
    the pages of files it maps (the store's map) that it touched."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no RssAnon for pid {pid}")


def reset_peak_rss(pid: int) -> None:
    """Reset the process's peak resident set (VmHWM) to its current one (Linux 4.0+)."""
    pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")


def node_gauge(metrics_port: int, name: str) -> float:
    """One unlabelled gauge of a node, from its Prometheus endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"no gauge {name} on port {metrics_port}")
