"""The ``walrus-bench`` command: its output contract."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from walrus_node import allocator, bench
from walrus_node.bench import measure
from walrus_node.bench import testbed as testbed_bench
from walrus_node.config import NodeConfig

CODEC_KEYS = {
    "encode_MBps",
    "decode_MBps",
    "decode_worst_MBps",
    "encode_cold_MBps",
    "decode_cold_MBps",
    "threads",
    "peak_rss_MiB",
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    lines = out.rstrip("\n").splitlines()
    return out, json.loads(lines[-1])


def test_codec_benchmark_ends_with_a_json_line_of_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["codec", "--shards", "7", "--size", "20000", "--iterations", "2", "--malloc", "default"]
    out, result = _run([*argv, "--verbose", "--profile", "--threads", "1"], capsys)
    assert (result["shards"], result["size"], result["iterations"]) == (7, 20000, 2)
    assert result["malloc"] == "default"
    assert result.keys() >= CODEC_KEYS
    assert all(result[key] > 0 for key in CODEC_KEYS)
    assert set(result["stages_ms"]) == {"expansion", "leaf hashing", "trees", "secondary gather"}
    assert 0 < result["profile_hashing_share"] < 1
    assert result["threads"] == 1
    assert "1 MB = 10^6 bytes, 1 codec threads" in out
    assert set(result["machine"]) == {"cores", "blake3_GBps", "write_GBps", "fresh_write_GBps"}
    assert all(value > 0 for value in result["machine"].values())
    assert measure.machine_line(result["machine"]) in out


def test_codec_benchmark_rejects_bad_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["codec", "--shards", "3", "--size", "10"]) == 2
    assert "between 4 and 1000, got 3" in capsys.readouterr().out
    assert bench.main(["codec", "--shards", "4", "--size", "0"]) == 2
    with pytest.raises(SystemExit):
        bench.main(["codec", "--size", "ten"])


def test_hash_benchmark_reports_each_hash(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["hash", "--size", "256KiB", "--input-sizes", "65,4096", "--iterations", "1"]
    _, result = _run([*argv, "--shards", "4"], capsys)
    hashes = {"blake2b", "sha256", "blake3"}
    assert hashes < result["bulk_GBps"].keys()
    assert set(result["per_call_us"]["blake3"]) == {"65", "4096"}
    assert result["commitments_ms"].keys() == hashes


def test_the_console_script_runs_the_codec_benchmark_with_a_tuned_allocator() -> None:
    script = pathlib.Path(sys.executable).with_name("walrus-bench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "walrus_node.bench"]
    argv = ["codec", "--shards", "4", "--size", "1KiB", "--iterations", "1"]
    done = subprocess.run(
        [*command, *argv], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert (result["shards"], result["size"], result["malloc"]) == (4, 1024, "tuned")


def test_the_allocator_can_be_tuned_here() -> None:
    # In a fresh process, so that this one keeps glibc's defaults.
    done = subprocess.run(
        [sys.executable, "-c", "from walrus_node import allocator; print(allocator.tune())"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "True"
    assert allocator.DEFAULT_TRIM_THRESHOLD == 2**31 - 1


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1 << 20), ("64MiB", 64 << 20), ("1 GB", 10**9), ("10kb", 10_000), ("7B", 7)],
)
def test_sizes_take_binary_and_decimal_units(text: str, size: int) -> None:
    assert measure.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "1.5MiB", "10 parsecs", "-1"])
def test_bad_sizes_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a byte count"):
        measure.parse_size(text)


def test_series_report_the_first_run_as_cold_and_the_median_of_the_rest_as_warm() -> None:
    series = measure.Series([9.0, 1.0, 3.0, 2.0], [9.0, 1.0, 3.0, 2.0])
    assert (series.cold, series.warm, series.warm_cpu) == (9.0, 2.0, 2.0)
    assert measure.Series([4.0], [4.0]).warm == 4.0
    assert (series + series).seconds == [18.0, 2.0, 6.0, 4.0]
    assert measure.mbps(2_000_000, 2.0) == 1.0


def test_the_machine_probe_reports_its_speeds_and_leaves_the_heap_as_it_was() -> None:
    before = measure.process_rss_mib(os.getpid())[0]
    probe = measure.machine()
    after = measure.process_rss_mib(os.getpid())[0]
    assert probe["cores"] == os.cpu_count()
    assert all(probe[key] > 0 for key in ("blake3_GBps", "write_GBps", "fresh_write_GBps"))
    assert after - before < 8  # its 32 MiB regions are unmapped, not kept in the heap
    line = measure.machine_line(
        {"cores": 2.0, "blake3_GBps": 3.4, "write_GBps": 21.0, "fresh_write_GBps": 1.02}
    )
    assert line == (
        "machine: 2 cores; one core hashes 3.4 GB/s (BLAKE3); memory writes 21 GB/s, "
        "1.02 GB/s to fresh pages"
    )


_TRIM = """
import numpy as np
from walrus_node import allocator
from walrus_node.bench import measure
import os

allocator.tune()
blocks = [np.ones(8 << 20, dtype=np.uint8) for _ in range(32)]  # 256 MiB, heap-served
del blocks
kept = measure.process_rss_mib(os.getpid())[0]
allocator.trim()
print(kept, measure.process_rss_mib(os.getpid())[0])
"""


def test_trimming_gives_back_what_the_tuned_allocator_keeps() -> None:
    """With the tuned thresholds freed blob-sized buffers stay in the process; a trim
    (what an idle node does) returns them to the kernel."""
    done = subprocess.run(
        [sys.executable, "-c", _TRIM], check=True, capture_output=True, text=True, timeout=120
    )
    kept, trimmed = map(float, done.stdout.split())
    assert kept - trimmed > 200, (kept, trimmed)


def test_encode_file_benchmark_reports_memory_and_removes_its_file(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    argv = ["encode-file", "--shards", "7", "--size", "300KiB", "--dir", str(tmp_path)]
    out, result = _run(argv, capsys)
    assert (result["shards"], result["size_bytes"]) == (7, 300 << 10)
    assert result["peak_rss_MiB"] >= result["idle_rss_MiB"] > 0
    assert result["encoded_size_MiB"] >= result["matrix_MiB"] > 0
    assert "peak RSS" in out
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "given.bin"
    kept.write_bytes(b"walrus")
    _, given = _run(["encode-file", "--shards", "7", "--file", str(kept)], capsys)
    assert given["size_bytes"] == 6
    assert kept.exists()


def test_testbed_benchmark_nodes_poll_for_certificates_as_a_node_does_by_default() -> None:
    """The benchmark's nodes ask their peers for missed certificates as often as a node
    configured with defaults does, not every second as ``walrus testbed`` has them do
    (that polling cost 20-30% of the nodes' CPU per 1 MiB store); the option sets it."""
    parser = argparse.ArgumentParser()
    testbed_bench.add_arguments(parser)
    default = next(
        f.default for f in dataclasses.fields(NodeConfig) if f.name == "certificate_poll_seconds"
    )
    assert default > 1.0
    assert testbed_bench.node_settings(parser.parse_args([])) == {
        "certificate_poll_seconds": default
    }
    chosen = parser.parse_args(["--certificate-poll-seconds", "1"])
    assert testbed_bench.node_settings(chosen) == {"certificate_poll_seconds": 1.0}


def test_store_reads_benchmark_reports_each_reading_and_removes_its_store(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    argv = ["store-reads", "--size", "64KiB", "--count", "4", "--rounds", "2"]
    out, result = _run([*argv, "--dir", str(tmp_path)], capsys)
    assert (result["size"], result["count"]) == (64 << 10, 4)
    for reading in ("warm", "cold", "file", "paged"):
        assert result[f"{reading}_MBps"] > 0
        assert f"{reading}:" in out
    assert list(tmp_path.iterdir()) == []
    assert bench.main(["store-reads", "--count", "0", "--dir", str(tmp_path)]) == 2
    assert "must be positive" in capsys.readouterr().out
