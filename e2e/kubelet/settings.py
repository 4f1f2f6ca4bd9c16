"""The kubelet stand-in's settings, parsed once by `e2e.kubelet.__main__` and passed down."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

PROVISIONER = "e2e.walrus-k8s.io/local-dir"


@dataclasses.dataclass(frozen=True)
class Settings:
    kubeconfig: Path
    #: Where pods' volumes, logs and the stand-in's own records live.
    state_dir: Path
    node_name: str
    #: Images run as processes: those whose repository's last path component is one of
    #: these (`ghcr.io/walrus-k8s/walrus-node:0.1.0` -> "walrus-node"). Others fail.
    images: tuple[str, ...] = ("walrus-node",)
    #: First on each container's PATH, so `walrus-node` is the project's console script.
    venv_bin: Path = Path(sys.executable).parent
    #: The project's checkout, whose files the node "image" runs from (an editable install).
    project_dir: Path = Path(__file__).resolve().parents[2]
    #: The StorageClass this stand-in provisions for (made default when created).
    storage_class: str = "walrus-e2e"
    #: How pods see their volumes: "namespace" bind-mounts them at their mountPath in a
    #: private mount namespace (needs root); "rewrite" replaces mountPath prefixes in the
    #: command, args and environment with the host directories; "auto" picks.
    volume_mode: str = "auto"
    #: Crash-loop back-off before restarting a container: doubles from initial to max
    #: (seconds), reset after a container ran `backoff_reset` seconds. The real kubelet
    #: uses 10 s/300 s/600 s; tests want quick restarts.
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    backoff_reset: float = 60.0
    #: Seconds between Lease renewals and node status heartbeats.
    heartbeat_period: float = 10.0
    #: Seconds between re-renders of ConfigMap, Secret, downward API and projected volumes.
    volume_refresh_period: float = 1.0
    #: Grace period cap (seconds) for stopping pods when the stand-in itself stops.
    shutdown_grace: float = 5.0

    def image_paths(self) -> tuple[Path, ...]:
        """What the node "image" consists of on this host: the project, its virtualenv and
        the Python it was made from. Containers see them even under a volume's mountPath."""
        return (self.project_dir, self.venv_bin.parent, Path(sys.base_prefix))
