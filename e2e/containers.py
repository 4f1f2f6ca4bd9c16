"""Docker containers that tests start, and the images they run: one place that knows the
`docker` command line, for the image tests (`e2e/test_images.py`).

Every container is labelled with the checkout it belongs to (`walrus-k8s.checkout`), is
removed when its `with` block ends, and `sweep()` removes whatever an interrupted run of
the same checkout left behind; other checkouts sharing the daemon are never touched.
Images are built by `docker/build.sh` with a tag of their own per checkout, so two
checkouts on one daemon do not overwrite each other's images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]
LABEL = "walrus-k8s.checkout"


class DockerError(Exception):
    pass


def available() -> str | None:
    """None when a Docker daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"no Docker daemon answers: {done.stderr.strip()[-300:]}"
    return None


def docker(*args: str, check: bool = True, timeout: float = 300.0) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and done.returncode != 0:
        raise DockerError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def build_images(tag: str) -> dict[str, str]:
    """Build the node and operator images (docker/build.sh); {"node": tag, ...}."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "docker" / "build.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "WALRUS_IMAGE_TAG": tag},
        timeout=3600,
    )
    if done.returncode != 0:
        raise DockerError(f"docker/build.sh failed:\n{done.stderr[-3000:]}")
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if line)


@dataclasses.dataclass(frozen=True)
class Container:
    id: str

    def address(self) -> str:
        """The container's IP on Docker's default bridge."""
        return docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", self.id).strip()

    def running(self) -> bool:
        return docker("inspect", "--format", "{{.State.Running}}", self.id).strip() == "true"

    def logs(self) -> str:
        done = subprocess.run(
            ["docker", "logs", "--tail", "60", self.id],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout + done.stderr


@contextlib.contextmanager
def running(
    image: str, args: Sequence[str] = (), options: Sequence[str] = ()
) -> Iterator[Container]:
    """`docker run --detach` of `image`; the container is removed when the block ends."""
    label = f"{LABEL}={CHECKOUT}"
    container_id = docker("run", "--detach", "--label", label, *options, image, *args).strip()
    try:
        yield Container(container_id)
    finally:
        docker("rm", "--force", container_id, check=False)


def sweep() -> list[str]:
    """Remove this checkout's containers left by an interrupted run; their ids."""
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}={CHECKOUT}").split()
    if ids:
        docker("rm", "--force", *ids, check=False)
    return ids
