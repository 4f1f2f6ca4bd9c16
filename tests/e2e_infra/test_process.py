"""Processes the e2e tier starts die with the run that started them, however it ends.

A run that is killed outright (SIGKILL: an outer timeout, a cancelled CI job) gets no
chance to clean up; before, the operator the scenario suite had started on the host was
still running 36 minutes after such a run, reparented to init. Every child the e2e tier
starts goes through `e2e.controlplane.process.start`, which the kernel ties to the
starter's life (PR_SET_PDEATHSIG) and which records it for the next run's sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from e2e.controlplane import process

DEADLINE = 60.0

# A stand-in for a test run: starts a long-lived child the way the e2e tier does, prints
# its pid, then waits to be killed.
RUNNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from e2e.controlplane import process
    child = process.start("sleeper", ["sleep", "600"], Path(sys.argv[1]))
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + DEADLINE
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _start_runner(run_dir: Path) -> tuple[subprocess.Popen[str], int]:
    root = Path(__file__).resolve().parents[2]
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert runner.stdout is not None
    line = runner.stdout.readline()
    assert line.strip().isdigit(), f"runner printed {line!r}"
    return runner, int(line)


def test_a_child_dies_when_the_run_that_started_it_is_killed(tmp_path: Path) -> None:
    runner, child = _start_runner(tmp_path)
    try:
        assert _alive(child)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=DEADLINE)
        assert _wait_gone(child), f"child {child} outlived its killed parent"
    finally:
        runner.kill()
        runner.wait()
        if runner.stdout is not None:
            runner.stdout.close()
        process.kill_recorded(tmp_path, grace=1)


def test_the_next_run_stops_what_a_run_recorded(tmp_path: Path) -> None:
    # A child started from a thread other than the main one gets no death signal (it
    # follows the starting thread); the pid record is then what stops it.
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        process.record(tmp_path, sleeper.pid, "sleeper")
        assert process.kill_recorded(tmp_path, grace=5) == ["sleeper"]
        sleeper.wait(timeout=DEADLINE)
        assert not (tmp_path / process.PIDS_FILE).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
