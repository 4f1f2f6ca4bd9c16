"""The node and operator images, built here (docker/build.sh) and started as Kubernetes
runs them: read-only root filesystem, no capabilities, their own unprivileged user.

Each image answers `--version` with the package's version and serves its health
endpoint: the node its gRPC health service (and metrics), the operator Kopf's liveness
endpoint (and metrics) while it watches the local control plane's API server. Each
carries only what it runs.

Needs a Docker daemon (`.ci/run` starts one); skipped without one, except under CI
(`CI` set), where a missing daemon is a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e import containers
from e2e.controlplane import cluster as controlplane

T = TypeVar("T")
VERSION = importlib.metadata.version("walrus-k8s")
UID = "65532"
# As the operator's StatefulSet and the chart's Deployment run them.
HARDENED = (
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
DEADLINE = 180.0


def wait_for(check: Callable[[], T | None], what: str, container: containers.Container) -> T:
    deadline = time.monotonic() + DEADLINE
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline or not container.running():
            raise AssertionError(f"{what}: not reached; container log:\n{container.logs()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    why = containers.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Docker (.ci/run starts it): {why}")
        pytest.skip(why)
    containers.sweep()
    built = containers.build_images(f"{VERSION}-test-{containers.CHECKOUT}")
    try:
        yield built
    finally:
        # Each checkout tags its own test images; left behind, every CI clone would add
        # its ~600 MB (the layers shared with other images stay).
        containers.docker("rmi", *built.values(), check=False)


def probe(image: str, code: str) -> str:
    """Run `python -c code` in `image` (hardened); its stdout."""
    return containers.docker(
        "run", "--rm", *HARDENED, "--entrypoint", "/opt/walrus/bin/python", image, "-c", code
    ).strip()


IMPORTABLE = (
    "import importlib.util, sys; "
    "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))"
)


@pytest.mark.parametrize("image", ["node", "operator"])
def test_image_prints_the_package_version_as_its_unprivileged_user(
    images: dict[str, str], image: str
) -> None:
    tag = images[image]
    assert containers.docker("run", "--rm", *HARDENED, tag, "--version").strip() == VERSION
    assert containers.docker("image", "inspect", "--format", "{{.Config.User}}", tag).strip() == (
        f"{UID}:{UID}"
    )
    uid = containers.docker("run", "--rm", *HARDENED, "--entrypoint", "id", tag, "-u")
    assert uid.strip() == UID


def test_each_image_carries_only_what_it_runs(images: dict[str, str]) -> None:
    modules = "numpy lmdb walrus_native blake3 kopf lightkube pydantic grpc"
    node = probe(images["node"], f"{IMPORTABLE.replace('sys.argv[1:]', repr(modules.split()))}")
    operator = probe(
        images["operator"], f"{IMPORTABLE.replace('sys.argv[1:]', repr(modules.split()))}"
    )
    assert set(node.split()) == {"numpy", "lmdb", "walrus_native", "blake3", "grpc"}
    assert set(operator.split()) == {"kopf", "lightkube", "pydantic", "grpc"}


def _serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body.decode(errors="replace") if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _readable_dir(path: Path) -> Path:
    """A directory the image's user may read (pytest's tmp_path is root's, mode 0700)."""
    path.mkdir(parents=True)
    path.chmod(0o755)
    return path


def test_node_image_serves_grpc_health_and_metrics(images: dict[str, str], tmp_path: Path) -> None:
    config = _readable_dir(tmp_path / "config")
    keys = _readable_dir(tmp_path / "keys")
    (config / "node.yaml").write_text(
        "name: image-test\n"
        "data_dir: /var/lib/walrus\n"
        "key_file: /etc/walrus/keys/node.key\n"
        "committee_file: /etc/walrus/config/committee.yaml\n"
        "grpc_port: 9185\n"
        "metrics_port: 9184\n"
        "log_format: json\n"
    )
    walrus_node = Path(sys.executable).parent / "walrus-node"
    subprocess.run(
        [str(walrus_node), "keygen", "--out", str(keys / "node.key")],
        check=True,
        capture_output=True,
    )
    (keys / "node.key").chmod(0o644)
    options = (
        *HARDENED,
        "--tmpfs",
        f"/var/lib/walrus:uid={UID},gid={UID},mode=0700",
        "--volume",
        f"{config}:/etc/walrus/config:ro",
        "--volume",
        f"{keys}:/etc/walrus/keys:ro",
    )
    with containers.running(images["node"], options=options) as node:
        ip = node.address()
        wait_for(lambda: _serving(f"{ip}:9185"), "the node's gRPC health SERVING", node)
        metrics = wait_for(lambda: _http_ok(f"http://{ip}:9184/metrics"), "/metrics", node)
        assert "walrus_" in metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_operator_image_answers_its_liveness_probe_while_watching_the_api(
    images: dict[str, str], cluster: controlplane.Cluster, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", str(containers.REPO_ROOT / "manifests" / "base" / "crds"))
    secrets = _readable_dir(tmp_path / "kube")
    kubeconfig = secrets / "config"
    kubeconfig.write_bytes(cluster.kubeconfig.read_bytes())
    kubeconfig.chmod(0o644)
    # The API server listens on loopback: the operator shares the host's network.
    health, metrics = _free_port(), _free_port()
    options = (
        *HARDENED,
        "--network",
        "host",
        "--volume",
        f"{secrets}:/etc/walrus/kube:ro",
        "--env",
        "KUBECONFIG=/etc/walrus/kube/config",
        "--env",
        f"WALRUS_OPERATOR_LIVENESS_ENDPOINT=http://127.0.0.1:{health}/healthz",
        "--env",
        f"WALRUS_OPERATOR_METRICS_PORT={metrics}",
        "--env",
        "WALRUS_OPERATOR_NAMESPACES=default",
        "--env",
        "WALRUS_OPERATOR_LOG_FORMAT=plain",
    )
    with containers.running(images["operator"], options=options) as operator:
        wait_for(
            lambda: _http_ok(f"http://127.0.0.1:{health}/healthz"), "Kopf's /healthz", operator
        )
        url = f"http://127.0.0.1:{metrics}/metrics"
        wait_for(lambda: _http_ok(url), "the operator's /metrics", operator)
