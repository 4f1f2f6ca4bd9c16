"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
and, optionally, the kubelet stand-in (`e2e.kubelet`) for one fake Node.

Called by the e2e fixtures (`e2e/conftest.py`) and by the CLI (`python -m e2e.controlplane`).
`start(run_dir)` makes fresh certificates, starts every component on free loopback ports,
waits until each is ready, and writes an admin kubeconfig to `run_dir/admin.kubeconfig`.
`Cluster.stop()` stops them in reverse order.

A run directory holds one cluster at a time: `start()` first stops whatever an earlier
run left there (see `e2e.controlplane.process`) and wipes it, so a crashed run never
breaks the next one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from e2e.controlplane import binaries, pki, process

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_NODE_NAME = "walrus-e2e-node"

# Cold starts on a loaded 2-core machine: etcd ~1 s, the API server ~10 s, the
# controller manager ~5 s. The deadlines are generous on purpose.
STARTUP_TIMEOUT = 120.0
PORT_ATTEMPTS = 3


class ClusterError(Exception):
    """A component failed to start or become ready; the message carries its log's tail."""


@dataclasses.dataclass
class Cluster:
    """A running control plane. Stop it with `stop()` or use it as a context manager."""

    run_dir: Path
    kubeconfig: Path
    server: str
    binaries: binaries.Binaries
    node_name: str | None
    children: list[process.Child] = dataclasses.field(default_factory=list)
    kubelet_args: list[str] = dataclasses.field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment for clients of this cluster (kubectl, helm, the operator)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl against this cluster; raises on failure when `check`."""
        result = subprocess.run(
            [str(self.binaries.kubectl), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def get(self, path: str) -> dict[str, Any] | None:
        """GET an API path as the admin; None when it does not exist."""
        return _get_json(self.server + path, _client_tls(self.kubeconfig))

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig that authenticates as the service account `namespace/name`
        (a TokenRequest token valid `seconds`): to run a program, such as the operator,
        with exactly the permissions its RBAC manifests grant."""
        body = json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds},
            }
        ).encode()
        url = f"{self.server}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(
                request, context=_client_tls(self.kubeconfig), timeout=10
            ) as response:
                token = json.loads(response.read())["status"]["token"]
        except urllib.error.HTTPError as error:
            raise ClusterError(
                f"token for service account {namespace}/{name}: HTTP {error.code} "
                f"{error.read().decode(errors='replace')}"
            ) from error
        admin = yaml.safe_load(self.kubeconfig.read_text())
        user = f"system:serviceaccount:{namespace}:{name}"
        config = {
            **admin,
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "walrus-e2e",
                    "context": {"cluster": "walrus-e2e", "user": user, "namespace": namespace},
                }
            ],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def start_kubelet(self) -> None:
        """Start the kubelet stand-in and wait until its Node is Ready."""
        if self.node_name is None:
            raise ClusterError("this cluster was started without the kubelet stand-in")
        node_name = self.node_name
        since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        current = os.environ.get("PYTHONPATH")
        path = str(REPO_ROOT) if not current else f"{REPO_ROOT}{os.pathsep}{current}"
        stand_in = process.start(
            "kubelet",
            [
                *kubelet_argv(self.kubeconfig, self.run_dir / "kubelet", node_name),
                *self.kubelet_args,
            ],
            self.run_dir,
            env={**os.environ, "PYTHONPATH": path},
        )
        self.children.append(stand_in)
        _wait("the kubelet stand-in", stand_in, lambda: _node_ready(self, node_name, since))

    def restart_kubelet(self) -> None:
        """Stop the stand-in (its pods' processes stop; the pods stay) and start it again:
        what a node reboot looks like to the pods."""
        for child in [c for c in self.children if c.name == "kubelet"]:
            child.stop()
            self.children.remove(child)
        self.start_kubelet()

    def stop(self) -> None:
        """Stop every component, the kubelet stand-in (and so its pods) first."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        process.kill_recorded(self.run_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str, tls: ssl.SSLContext | None) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, context=tls, timeout=10) as response:
            decoded: dict[str, Any] = json.loads(response.read())
            return decoded
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _client_tls(kubeconfig: Path) -> ssl.SSLContext:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    tls = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    cert = kubeconfig.with_suffix(".client.crt")
    key = kubeconfig.with_suffix(".client.key")
    if not cert.exists():
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
    tls.load_cert_chain(cert, key)
    return tls


def _wait(
    what: str, child: process.Child, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT
) -> None:
    """Poll `ready` until it holds; fail early, with the log, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running():
            raise ClusterError(f"{what} exited with {child.popen.returncode}:\n{child.log_tail()}")
        try:
            if ready():
                return
        except (OSError, ValueError):
            pass  # not listening yet, or answering "not ready"
        time.sleep(0.2)
    raise ClusterError(f"{what} not ready after {timeout:.0f} s:\n{child.log_tail()}")


def _http_ok(url: str, tls: ssl.SSLContext | None) -> bool:
    with urllib.request.urlopen(url, context=tls, timeout=5) as response:
        return bool(response.status == 200)


def write_kubeconfig(
    path: Path, server: str, ca: Path, cert: Path, key: Path, user: str = "admin"
) -> None:
    """A kubeconfig with one cluster, one user and their certificates embedded."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "walrus-e2e",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [{"name": "walrus-e2e", "context": {"cluster": "walrus-e2e", "user": user}}],
        "current-context": "walrus-e2e",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _etcd_argv(etcd: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(etcd),
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # A throwaway store: durability buys nothing and fsync costs seconds per test.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _apiserver_argv(
    apiserver: Path, keys: pki.Pki, etcd_port: int, port: int, cert_dir: Path
) -> list[str]:
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        # Endpoints may not hold loopback addresses, so the API server cannot publish
        # itself as the `kubernetes` Service's endpoint; in-cluster clients of this
        # cluster get KUBERNETES_SERVICE_HOST=127.0.0.1 from the kubelet stand-in.
        "--endpoint-reconciler-type=none",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--client-ca-file={keys.ca_cert}",
        f"--tls-cert-file={keys.apiserver_cert}",
        f"--tls-private-key-file={keys.apiserver_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={keys.service_account_pub}",
        f"--service-account-signing-key-file={keys.service_account_key}",
        # Request-header authentication, as for a front proxy: aggregated API servers
        # (and the controller manager's delegated authentication) look for it.
        f"--requestheader-client-ca-file={keys.ca_cert}",
        f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={keys.front_proxy_cert}",
        f"--proxy-client-key-file={keys.front_proxy_key}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def _controller_manager_argv(
    kcm: Path, keys: pki.Pki, kubeconfig: Path, port: int, cert_dir: Path
) -> list[str]:
    return [
        str(kcm),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        # Every default controller: StatefulSets, ReplicaSets, Deployments, Jobs, garbage
        # collection, namespace deletion, service accounts and their tokens, the
        # PV/PVC binder, protection and expansion controllers, node lifecycle, ...
        "--controllers=*",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={keys.service_account_key}",
        f"--root-ca-file={keys.ca_cert}",
        f"--cluster-signing-cert-file={keys.ca_cert}",
        f"--cluster-signing-key-file={keys.ca_key}",
        "--profiling=false",
        "--v=1",
    ]


def kubelet_argv(kubeconfig: Path, state_dir: Path, node_name: str) -> list[str]:
    """How the cluster starts the kubelet stand-in (`python -m e2e.kubelet`)."""
    return [
        sys.executable,
        "-m",
        "e2e.kubelet",
        f"--kubeconfig={kubeconfig}",
        f"--state-dir={state_dir}",
        f"--node-name={node_name}",
    ]


def _node_ready(cluster: Cluster, node_name: str, since: str) -> bool:
    """The Node is Ready, by a heartbeat at or after `since` (RFC 3339, seconds)."""
    node = cluster.get(f"/api/v1/nodes/{node_name}")
    if node is None:
        return False
    conditions = node.get("status", {}).get("conditions", [])
    return any(
        c["type"] == "Ready" and c["status"] == "True" and c["lastHeartbeatTime"] >= since
        for c in conditions
    )


def start(
    run_dir: Path,
    *,
    kubelet: bool = True,
    node_name: str = DEFAULT_NODE_NAME,
    kubelet_args: Sequence[str] = (),
) -> Cluster:
    """Start a fresh control plane in `run_dir` (stopping and wiping any earlier one)."""
    tools = binaries.ensure()
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return _start_once(run_dir.resolve(), tools, kubelet, node_name, kubelet_args)
        except ClusterError as error:
            # A free port picked here can be taken by another process before the
            # component binds it; start again on fresh ports.
            if "address already in use" not in str(error) or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _start_once(
    run_dir: Path,
    tools: binaries.Binaries,
    kubelet: bool,
    node_name: str,
    kubelet_args: Sequence[str],
) -> Cluster:
    if run_dir.exists():
        # The stand-in records its pods' processes in its own state directory.
        for pids in sorted(run_dir.rglob(process.PIDS_FILE)):
            process.kill_recorded(pids.parent)
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)

    keys = pki.create(run_dir / "pki", SERVICE_IP)
    etcd_port, peer_port, api_port, kcm_port = (_free_port() for _ in range(4))
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = run_dir / "admin.kubeconfig"
    write_kubeconfig(kubeconfig, server, keys.ca_cert, keys.admin_cert, keys.admin_key)
    kcm_kubeconfig = run_dir / "controller-manager.kubeconfig"
    write_kubeconfig(
        kcm_kubeconfig,
        server,
        keys.ca_cert,
        keys.controller_manager_cert,
        keys.controller_manager_key,
        user="system:kube-controller-manager",
    )
    cluster = Cluster(
        run_dir=run_dir,
        kubeconfig=kubeconfig,
        server=server,
        binaries=tools,
        node_name=node_name if kubelet else None,
    )
    try:
        etcd = process.start(
            "etcd", _etcd_argv(tools.etcd, run_dir / "etcd", etcd_port, peer_port), run_dir
        )
        cluster.children.append(etcd)
        _wait("etcd", etcd, lambda: _http_ok(f"http://127.0.0.1:{etcd_port}/health", None))

        apiserver = process.start(
            "kube-apiserver",
            _apiserver_argv(tools.kube_apiserver, keys, etcd_port, api_port, run_dir / "apiserver"),
            run_dir,
        )
        cluster.children.append(apiserver)
        admin_tls = _client_tls(kubeconfig)
        _wait("kube-apiserver", apiserver, lambda: _http_ok(server + "/readyz", admin_tls))

        kcm = process.start(
            "kube-controller-manager",
            _controller_manager_argv(
                tools.kube_controller_manager, keys, kcm_kubeconfig, kcm_port, run_dir / "kcm"
            ),
            run_dir,
        )
        cluster.children.append(kcm)
        # The controller manager serves a certificate of its own making: check liveness
        # on loopback without verifying it.
        unverified = ssl._create_unverified_context()
        _wait(
            "kube-controller-manager",
            kcm,
            lambda: _http_ok(f"https://127.0.0.1:{kcm_port}/healthz", unverified),
        )
        # Pods can only be created once the controller manager made the namespace's
        # default service account.
        _wait(
            "the default service account",
            kcm,
            lambda: cluster.get("/api/v1/namespaces/default/serviceaccounts/default") is not None,
        )

        if kubelet:
            cluster.kubelet_args = list(kubelet_args)
            cluster.start_kubelet()
    except BaseException:
        cluster.stop()
        raise
    return cluster
