"""Which cluster the scenario suite (`e2e/test_scenarios.py`) runs against.

- `local` (default): the control plane on loopback with the kubelet stand-in
  (`e2e.controlplane`); the suite runs the operator on the host itself.
- `kind`: an existing cluster named by $KUBECONFIG, with the operator already installed
  from the Helm chart, as `make e2e-kind` prepares it (`e2e/kind/run.sh`).

Chosen by $WALRUS_E2E_BACKEND. Only the scenario suite runs on both; the other e2e tests
exercise the local control plane and the stand-in themselves.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Protocol

LOCAL = "local"
KIND = "kind"


class BackendError(Exception):
    pass


def name() -> str:
    value = os.environ.get("WALRUS_E2E_BACKEND", LOCAL)
    if value not in (LOCAL, KIND):
        raise BackendError(f"WALRUS_E2E_BACKEND={value!r}: expected {LOCAL!r} or {KIND!r}")
    return value


class Kube(Protocol):
    """What the scenarios need of a cluster: its admin kubeconfig and kubectl."""

    @property
    def kubeconfig(self) -> Path: ...

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


@dataclasses.dataclass(frozen=True)
class ExistingCluster:
    """A cluster someone else started (kind), reached through `kubeconfig`."""

    kubeconfig: Path
    kubectl_binary: str = "kubectl"

    @classmethod
    def from_environment(cls) -> ExistingCluster:
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig or not Path(kubeconfig).is_file():
            raise BackendError(
                f"WALRUS_E2E_BACKEND={KIND} needs KUBECONFIG naming the cluster's kubeconfig "
                f"(got {kubeconfig!r}); `make e2e-kind` sets it"
            )
        return cls(Path(kubeconfig))

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            check=False,
        )
        if check and result.returncode != 0:
            raise BackendError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result
