"""Child processes of the local control plane, and their hygiene.

`e2e.controlplane.cluster` starts etcd, kube-apiserver, kube-controller-manager and the
kubelet stand-in through `start()`. Each child:

- runs in its own session and process group, so stopping it stops whatever it started;
- gets SIGKILL from the kernel if the Python process that started it dies
  (PR_SET_PDEATHSIG; when started from the main thread, since the signal follows the
  starting thread), so a crashed test run leaves nothing behind;
- is recorded in a pid file in the cluster's run directory, so the next run can find
  and stop what an earlier run could not (`kill_recorded()`), checking the process's
  start time so that a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
PIDS_FILE = "pids"


def _die_with_parent() -> None:
    """Runs in the child between fork and exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    return stat[stat.rindex(")") + 2 :].split()[19]


@dataclasses.dataclass
class Child:
    """One running child process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds; waits for the exit."""
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait()
        # Whatever the child left behind in its group goes too.
        _signal_group(self.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def start(
    name: str,
    argv: Sequence[str],
    run_dir: Path,
    env: dict[str, str] | None = None,
) -> Child:
    """Start `argv` with stdout and stderr in `run_dir/<name>.log`; record its pid."""
    log = run_dir / f"{name}.log"
    # The death signal fires when the *thread* that started the child ends: only the
    # main thread lives as long as the process. Children started from other threads
    # rely on the pid records alone.
    main = threading.current_thread() is threading.main_thread()
    preexec = _die_with_parent if main else None
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 -- only calls prctl(2), no locks taken
        )
    record(run_dir, popen.pid, name)
    return Child(name=name, popen=popen, log=log)


def record(run_dir: Path, pid: int, name: str) -> None:
    """Note a process group leader in `run_dir`, for `kill_recorded()` to find later."""
    with (run_dir / PIDS_FILE).open("a") as pids:
        pids.write(f"{pid} {_start_time(pid)} {name}\n")


def kill_recorded(run_dir: Path, grace: float = 5.0) -> list[str]:
    """Stop every process group recorded in `run_dir` that is still the same process.

    Returns the names of the processes that were still running."""
    pids_file = run_dir / PIDS_FILE
    try:
        records = pids_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    alive: list[tuple[int, str]] = []
    for record in records:
        pid_text, started, name = record.split(" ", 2)
        pid = int(pid_text)
        if _start_time(pid) == started:
            alive.append((pid, name))
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        if all(_start_time(pid) is None for pid, _ in alive):
            break
        time.sleep(0.1)
    for pid, _ in alive:
        _signal_group(pid, signal.SIGKILL)
    pids_file.unlink()
    return [name for _, name in alive]
