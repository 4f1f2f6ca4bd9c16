"""Where the control plane's binaries are: runs `install.sh` and reads its answer.

`install.sh` builds (once) and caches kube-apiserver, kube-controller-manager, kubectl,
helm and etcd, and prints one "<tool> <path>" line per binary. `e2e.controlplane.cluster`
and the e2e fixtures call `ensure()`; a warm cache makes it take well under a second.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

INSTALL_SCRIPT = Path(__file__).with_name("install.sh")


class InstallError(Exception):
    """install.sh failed or did not name a binary the control plane needs."""


@dataclasses.dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    helm: Path
    etcd: Path
    etcdctl: Path


def ensure() -> Binaries:
    """Build or find every binary; raises InstallError with install.sh's output on failure."""
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise InstallError(
            f"{INSTALL_SCRIPT} exited with {result.returncode}:\n{result.stderr[-4000:]}"
        )
    paths: dict[str, Path] = {}
    for line in result.stdout.splitlines():
        tool, _, path = line.partition(" ")
        paths[tool.replace("-", "_")] = Path(path)
    fields = [field.name for field in dataclasses.fields(Binaries)]
    missing = [name for name in fields if name not in paths or not paths[name].is_file()]
    if missing:
        raise InstallError(f"{INSTALL_SCRIPT} did not provide: {', '.join(missing)}")
    return Binaries(**{name: paths[name] for name in fields})
