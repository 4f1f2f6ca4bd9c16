"""A short, deterministic atheris run over every network decoder (docs/security.md).

The run is a separate process (libFuzzer ends the process it runs in) started from a
seed corpus of valid inputs of each target, with a fixed seed and number of inputs; the
test fails if any input makes a decoder raise anything but its documented error, and
names the file holding that input. Longer runs: see :mod:`.atheris_main`.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.unit.fuzz import decoders
from walrus_node.codec import inconsistency, recovery
from walrus_node.codec.params import SliverType
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb

pytest.importorskip("atheris")

RUNS = 10_000
ROOT = pathlib.Path(__file__).resolve().parents[3]


def _framed(messages: list[bytes]) -> bytes:
    return b"".join(bytes([len(m)]) + m for m in messages if len(m) < 256)


def _seeds() -> dict[str, bytes]:
    """One valid input per target where one is easy to make (the fuzzer mutates them)."""
    enc = decoders.ENC
    sliver = bytes(enc.sliver(SliverType.PRIMARY, 1))
    symbol = recovery.make_symbols(
        enc.params, SliverType.PRIMARY, 1, sliver, enc.metadata.symbol_size, [2]
    )[0]
    proof = inconsistency.InconsistencyProof(SliverType.SECONDARY, 2, (symbol,))
    part = pb.RecoverySymbolPart(
        source_type=convert.sliver_type_to_pb(symbol.source_type),
        source_index=symbol.source_index,
        target_index=symbol.target_index,
        proof=list(symbol.proof),
        data=symbol.data,
        last=True,
    )
    header = pb.SliverPart(
        header=pb.SliverHeader(blob_id=bytes(32), type=pb.SLIVER_TYPE_PRIMARY, index=1, size=8)
    )
    return {
        "metadata": enc.metadata.to_bytes(),
        "sliver": bytes([1, 4]) + sliver,
        "symbol_stream": _framed([part.SerializeToString()]),
        "sliver_stream": _framed(
            [header.SerializeToString(), pb.SliverPart(data=b"8 bytes!").SerializeToString()]
        ),
        "store_blob_stream": _framed(
            [
                pb.StoreBlobPart(header=header.header).SerializeToString(),
                pb.StoreBlobPart(data=b"8 bytes!").SerializeToString(),
            ]
        ),
        "store_and_certify_stream": _framed(
            [
                pb.StoreAndCertifyPart(
                    start=pb.StoreAndCertifyStart(
                        slivers=[pb.WholeSliver(header=header.header, data=b"8 bytes!")]
                    )
                ).SerializeToString(),
                pb.StoreAndCertifyPart(data=b"8 bytes!").SerializeToString(),
            ]
        ),
        "inconsistency_proof": proof.to_bytes(),
        "committee_file": b'{"epoch": 1, "n_shards": 4, "members": []}',
        "registration_pb": pb.BlobRegistration(end_epoch=3, deletable=True).SerializeToString(),
    }


def test_a_short_atheris_run_finds_no_crash(tmp_path: pathlib.Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = sorted(decoders.TARGETS)
    for name, seed in _seeds().items():
        (corpus / name).write_bytes(bytes([names.index(name)]) + seed)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.unit.fuzz.atheris_main",
            f"-runs={RUNS}",
            "-seed=1",
            "-max_total_time=60",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("crash-"))
    assert result.returncode == 0 and not crashes, (crashes, result.stderr[-3000:])
    assert f"Done {RUNS} runs" in result.stderr, result.stderr[-2000:]
