"""The ``walrus`` command as users run it: real processes against a real testbed."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys

from walrus_node.codec import encoder
from walrus_node.testbed.testbed import Testbed


def _walrus(bed: Testbed, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "walrus_node.cli.client_main"]
    return subprocess.run(
        [*command, "--config", str(bed.client_config), *args],
        capture_output=True,
        timeout=300,
        check=False,
    )


def _dashed_blob() -> bytes:
    """Bytes whose blob ID starts with '-' (about 1 in 64 do)."""
    for i in range(10_000):
        data = b"dash %d" % i
        if str(encoder.encode(data, 7).blob_id).startswith("-"):
            return data
    raise AssertionError("no blob ID starting with '-' found")


def test_blob_ids_starting_with_a_dash_need_no_double_dash(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = _dashed_blob()
    source = tmp_path / "dash.bin"
    source.write_bytes(data)
    stored = _walrus(testbed, "store", str(source), "--json")
    assert stored.returncode == 0, stored.stderr
    blob_id = json.loads(stored.stdout)["blobId"]
    assert blob_id.startswith("-")

    read = _walrus(testbed, "read", blob_id)
    assert read.returncode == 0, read.stderr
    assert read.stdout == data
    out = tmp_path / "copy.bin"
    assert _walrus(testbed, "read", blob_id, "-o", str(out)).returncode == 0
    assert out.read_bytes() == data
    status = _walrus(testbed, "status", "--json", blob_id)
    assert status.returncode == 0, status.stderr
    assert {n["state"] for n in json.loads(status.stdout)["nodes"]} == {"certified"}


def test_every_command_speaks_json(testbed: Testbed, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(os.urandom(10_000))
    stored = json.loads(_walrus(testbed, "--json", "store", str(source), "--epochs", "2").stdout)
    blob_id = stored["blobId"]
    assert stored["size"] == 10_000
    read = json.loads(_walrus(testbed, "read", blob_id, "--json").stdout)
    assert base64.b64decode(read["data"]) == source.read_bytes()
    info = json.loads(_walrus(testbed, "info", "--json").stdout)
    assert info["nShards"] == 7
    assert len(info["members"]) == 7
    extended = json.loads(_walrus(testbed, "extend", blob_id, "--epochs", "1", "--json").stdout)
    assert extended["endEpoch"] == stored["endEpoch"] + 1
    health = json.loads(_walrus(testbed, "health", "--json").stdout)
    assert health["healthy"] == 7
    bed = json.loads(
        _walrus(testbed, "testbed", "status", "--json", "--dir", str(testbed.directory)).stdout
    )
    assert bed["epoch"] == 1
    assert len(bed["nodes"]) == 7
    assert all(n["running"] and len(n["shards"]) == 1 for n in bed["nodes"])


def test_health_reports_unreachable_nodes_and_fails(testbed: Testbed) -> None:
    testbed.kill("node-3")
    result = _walrus(testbed, "health")
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 7
    assert any(line.startswith("node-3") and "unreachable" in line for line in lines)
    assert sum("active" in line for line in lines) == 6


def test_a_closed_output_pipe_is_not_a_traceback(testbed: Testbed) -> None:
    command = [sys.executable, "-m", "walrus_node.cli.client_main"]
    command += ["--config", str(testbed.client_config), "info", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head` exiting before reading
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 141
    assert b"Traceback" not in err


def test_store_takes_an_empty_file_and_refuses_a_pipe(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    stored = _walrus(testbed, "--json", "store", str(empty))
    assert stored.returncode == 0, stored.stderr
    document = json.loads(stored.stdout)
    assert document["size"] == 0
    read = _walrus(testbed, "read", document["blobId"])
    assert (read.returncode, read.stdout) == (0, b"")

    # A pipe's length is not known before it is read whole: refused, nothing stored.
    command = [sys.executable, "-m", "walrus_node.cli.client_main"]
    piped = subprocess.run(
        [*command, "--config", str(testbed.client_config), "store", "/dev/stdin"],
        input=b"from a pipe",
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert piped.returncode == 2
    assert b"not a regular file or a seekable stream" in piped.stderr
