"""`make test`'s phase runner (scripts/test-phases.sh), with stand-ins for `make` and
`docker` on PATH: the phases run in order and are timed, the kind tier's preparation runs
in the background once the unit tier is over and its failure fails the run, and a run
that ends early stops the preparation's whole process group."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test-phases.sh"
DEADLINE = 60.0


def _bin(tmp_path: Path, failing_phase: str = "") -> Path:
    """A directory with a `make` that records its phase (and fails `failing_phase`, once
    the file `started` exists) and a `docker` whose daemon always answers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text(
        "#!/bin/sh\n"
        f'echo "$2" >> "{tmp_path}/phases"\n'
        'echo "phase $2" >&2\n'
        f'if [ "$2" = "{failing_phase}" ]; then\n'
        f'  while [ ! -s "{tmp_path}/started" ]; do sleep 0.1; done\n'
        "  exit 3\n"
        "fi\n"
        "exit 0\n"
    )
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    make.chmod(0o755)
    docker.chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, prepare: str, *phases: str, failing_phase: str = "") -> tuple[int, str]:
    env = {
        **os.environ,
        "PATH": f"{_bin(tmp_path, failing_phase)}:{os.environ['PATH']}",
        "WALRUS_TEST_LOGS": str(tmp_path / "logs"),
        "WALRUS_KIND_PREPARE": prepare,
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), *phases],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    return done.returncode, done.stderr


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_phases_run_in_order_and_are_timed_with_the_preparation_beside_them(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "prepared"
    rc, err = _run(tmp_path, f"sleep 1; touch {marker}", "lint", "unit", "e2e", "kind-tier")
    assert rc == 0, err
    assert (tmp_path / "phases").read_text().split() == ["lint", "unit", "e2e", "kind-tier"]
    assert marker.exists()  # kind-tier waited for it
    # It started once the unit tier was over, not beside it: the script announces it
    # before it runs the next phase.
    started = err.index("preparing the kind tier in the background")
    assert err.index("phase unit") < started < err.index("phase e2e"), err
    table = err[err.index("make test: phases") :]
    for name in ("lint", "unit", "kind-tier", "kind-prepare (background)", "total"):
        assert f"  {name} " in table, table


def test_a_failed_preparation_fails_the_run_with_its_log(tmp_path: Path) -> None:
    rc, err = _run(tmp_path, "echo 'the node image did not build' >&2; exit 7", "lint", "kind-tier")
    assert rc == 7
    assert "the node image did not build" in err
    assert "FAILED (exit 7)" in err
    # The kind tier never ran.
    assert (tmp_path / "phases").read_text().split() == ["lint"]


def test_a_run_that_fails_early_stops_the_preparation(tmp_path: Path) -> None:
    pid_file = tmp_path / "started"
    prepare = f"sleep 600 & echo $! > {pid_file}; wait"
    rc, err = _run(tmp_path, prepare, "lint", "unit", "e2e", "kind-tier", failing_phase="e2e")
    assert rc == 3, err
    assert "kind-prepare (stopped)" in err
    sleeper = int(pid_file.read_text())
    deadline = time.monotonic() + DEADLINE
    while _alive(sleeper):
        assert time.monotonic() < deadline, "the preparation's child outlived the run"
        time.sleep(0.1)
