"""``walrus-bench testbed``: its figures over several runs, and that it leaves nothing
behind: no node process and no testbed folder, also when it is interrupted."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def _command() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("walrus-bench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "walrus_node.bench"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = pathlib.Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_runs_report_their_spread_and_memory_and_leave_no_folder(
    tmp_path: pathlib.Path,
) -> None:
    argv = ["testbed", "--nodes", "4", "--size", "64KiB", "--count", "3", "--runs", "2"]
    done = subprocess.run(
        [*_command(), *argv, "--idle-seconds", "0.5", "--plaintext"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert len(result["runs"]) == 2
    assert result["warmup"] == 1
    assert result["certificate_poll_seconds"] == 5.0  # the node's default, not the testbed's 1 s
    assert set(result["spread"]) == {"store_MBps", "read_MBps", "store_p50_ms", "read_p50_ms"}
    for run in result["runs"]:
        assert len(run["node_rss_MiB_after_each_blob"]) == 3  # the warm-up blob not counted
        assert len(run["store_ms_each"]) == len(run["read_ms_each"]) == 3
        assert all(rss > 20 for rss in run["node_rss_MiB_after_each_blob"])
        assert run["node_rss_MiB_idle"] > 20 and run["node_peak_rss_MiB"] > 20
        assert run["load_average_before"] >= 0
        cpu = run["cpu_ms_per_blob"]
        assert set(cpu) == {"store_client", "store_nodes", "read_client", "read_nodes"}
        assert cpu["store_nodes"] > 0 and cpu["store_client"] > 0
    assert "load average" in done.stdout and "spread" in done.stdout
    assert result["machine"]["fresh_write_GBps"] > 0 and "machine: " in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_stops_its_nodes_and_deletes_its_folder(
    tmp_path: pathlib.Path,
) -> None:
    argv = ["testbed", "--nodes", "4", "--size", "64KiB", "--count", "100000", "--plaintext"]
    proc = subprocess.Popen(
        [*_command(), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not pids:  # the nodes are up once the testbed lists their pids
            assert time.monotonic() < deadline, "the testbed did not come up"
            assert proc.poll() is None, proc.communicate()
            for state in tmp_path.glob("walrus-bench-*/testbed/testbed.json"):
                try:
                    nodes = json.loads(state.read_text())["nodes"]
                except (ValueError, KeyError, OSError):
                    continue
                pids = [n["pid"] for n in nodes if n.get("pid")]
                pids = pids if len(pids) == 4 else []
            time.sleep(0.2)
        time.sleep(1.0)  # storing and reading
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        survivors = [pid for pid in pids if _alive(pid)]
        for pid in survivors:  # a failed cleanup must not outlive the test
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert "interrupted" in out
    assert survivors == []
    assert list(tmp_path.iterdir()) == []
