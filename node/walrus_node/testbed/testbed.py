"""A local network: N storage-node processes on loopback, with their files under one folder.

Who calls it: ``walrus testbed ...`` (:mod:`walrus_node.cli.client_main`), the demo, the
integration tests and the testbed benchmark.

Layout of the testbed folder::

    testbed.json            nodes, ports, pids, shard count (this module's state)
    admin.key               key allowed to call the nodes' Admin service
    committee.json          the committee every node and the client read
    client.yaml             client configuration pointing at committee.json
    ca.crt, ca.key          the network CA (TLS; absent with --plaintext)
    client.crt, client.key  the client certificate of the CLI, the testbed's admin calls
    node-<i>/node.yaml      node configuration (ports pinned after the first start)
    node-<i>/node.key       node identity
    node-<i>/tls.crt, .key  node certificate (DNS name ``node-<i>``, signed by ca.crt)
    node-<i>/data/          the node's store
    node-<i>/node.log       the node's log (JSON lines)

Nodes first start with port 0; the ports they bound are then written into their
``node.yaml`` so that a restarted node comes back on the same address, which the
committee lists.

Nodes serve TLS by default: the testbed is its network's CA and issues every node and
the client a certificate (:mod:`.pki`). ``plaintext=True`` (``walrus testbed up
--plaintext``) is for benchmarks that measure what TLS costs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from walrus_node.codec import params
from walrus_node.codec.params import SliverType
from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.protocol import committee_file, keys
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.store.store import Store
from walrus_node.testbed import pki
from walrus_node.transport import tls
from walrus_node.transport.client import ChannelPool, RpcError

__all__ = ["NodeHandle", "Testbed", "TestbedError"]

STATE_FILE = "testbed.json"

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Node processes started by this Python process (kept so they are reaped, not leaked)."""
START_TIMEOUT = 60.0
DEFAULT_STAKE = 1000
STOP_TIMEOUT = 30.0


class TestbedError(Exception):
    """Something about the testbed is wrong; the message says what and how to fix it."""

    __test__ = False  # not a pytest test class


@dataclasses.dataclass
class NodeHandle:
    name: str
    directory: pathlib.Path
    public_key: bytes
    grpc_port: int = 0
    metrics_port: int = 0
    pid: int = 0
    stake: int = 1000
    leaving: bool = False
    """Asked to leave: gets no shards from the next epoch, stopped once it holds none."""

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def config_file(self) -> pathlib.Path:
        return self.directory / "node.yaml"

    @property
    def committee_file(self) -> pathlib.Path:
        return self.directory / "committee.json"

    @property
    def runtime_file(self) -> pathlib.Path:
        return self.directory / "runtime.json"

    @property
    def log_file(self) -> pathlib.Path:
        return self.directory / "node.log"

    @property
    def tls_cert_file(self) -> pathlib.Path:
        return self.directory / "tls.crt"

    @property
    def tls_key_file(self) -> pathlib.Path:
        return self.directory / "tls.key"

    @property
    def data_dir(self) -> pathlib.Path:
        return self.directory / "data"

    def is_running(self) -> bool:
        if self.pid <= 0:
            return False
        child = _CHILDREN.get(self.pid)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie still answers kill(0)
            stat = pathlib.Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Testbed:
    __test__ = False

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = pathlib.Path(directory).resolve()
        self.nodes: list[NodeHandle] = []
        self.n_shards = 0
        self.epoch = 1
        self.controller_pid = 0
        """Background epoch controller (``up --epoch-duration``), if any."""
        self.gateway_pid = 0
        self.gateway_url = ""
        """HTTP gateway (``up --gateway``), if any."""
        self.node_settings: dict[str, Any] = {}
        """Extra node.yaml settings for every node (tuning, tests)."""
        self.plaintext = False
        """No TLS anywhere (benchmarks of TLS cost only)."""
        self.network_id = ""
        """The committee file's network ID: admin requests are bound to it."""

    # --- persistence ---------------------------------------------------------------------------

    @property
    def committee_file(self) -> pathlib.Path:
        return self.directory / "committee.json"

    @property
    def client_config(self) -> pathlib.Path:
        return self.directory / "client.yaml"

    @property
    def admin_key(self) -> keys.KeyPair:
        return keys.KeyPair.load(self.directory / "admin.key")

    @property
    def ca_cert_file(self) -> pathlib.Path:
        return self.directory / "ca.crt"

    @property
    def ca_key_file(self) -> pathlib.Path:
        return self.directory / "ca.key"

    @property
    def client_cert_file(self) -> pathlib.Path:
        return self.directory / "client.crt"

    @property
    def client_key_file(self) -> pathlib.Path:
        return self.directory / "client.key"

    def client_tls(self) -> tls.ClientTls | None:
        """The credentials the testbed and its client use (None with --plaintext)."""
        if self.plaintext:
            return None
        return tls.ClientTls.load(self.ca_cert_file, self.client_cert_file, self.client_key_file)

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Testbed:
        bed = cls(directory)
        state_path = bed.directory / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except FileNotFoundError:
            raise TestbedError(
                f"no testbed in {bed.directory} (create one with `walrus testbed up`)"
            ) from None
        bed.n_shards = state["n_shards"]
        bed.epoch = state["epoch"]
        bed.controller_pid = state.get("controller_pid", 0)
        bed.gateway_pid = state.get("gateway_pid", 0)
        bed.gateway_url = state.get("gateway_url", "")
        bed.node_settings = state.get("node_settings", {})
        bed.plaintext = state.get("plaintext", False)
        bed.network_id = state.get("network_id", "")
        bed.nodes = [
            NodeHandle(
                n["name"],
                bed.directory / n["name"],
                keys.parse_public_key(n["public_key"]),
                n["grpc_port"],
                n["metrics_port"],
                n["pid"],
                n.get("stake", DEFAULT_STAKE),
                n.get("leaving", False),
            )
            for n in state["nodes"]
        ]
        return bed

    def save(self) -> None:
        state = {
            "n_shards": self.n_shards,
            "epoch": self.epoch,
            "controller_pid": self.controller_pid,
            "gateway_pid": self.gateway_pid,
            "gateway_url": self.gateway_url,
            "node_settings": self.node_settings,
            "plaintext": self.plaintext,
            "network_id": self.network_id,
            "nodes": [
                {
                    "name": n.name,
                    "public_key": keys.encode_public_key(n.public_key),
                    "grpc_port": n.grpc_port,
                    "metrics_port": n.metrics_port,
                    "pid": n.pid,
                    "stake": n.stake,
                    "leaving": n.leaving,
                }
                for n in self.nodes
            ],
        }
        _atomic_write(self.directory / STATE_FILE, json.dumps(state, indent=2).encode())

    def node(self, name: str) -> NodeHandle:
        for n in self.nodes:
            if n.name == name:
                return n
        names = ", ".join(n.name for n in self.nodes)
        raise TestbedError(f"no node {name!r} in this testbed (nodes: {names})")

    # --- creation ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        n_nodes: int,
        n_shards: int | None = None,
        node_settings: dict[str, Any] | None = None,
        plaintext: bool = False,
    ) -> Testbed:
        """Write a new testbed's files (does not start anything)."""
        bed = cls(directory)
        bed.node_settings = dict(node_settings or {})
        bed.plaintext = plaintext
        shards = n_shards or n_nodes
        if n_nodes < 1:
            raise TestbedError("--nodes: need at least one node")
        if not params.MIN_SHARDS <= shards <= params.MAX_SHARDS:
            raise TestbedError(
                f"--shards: {shards} is not between {params.MIN_SHARDS} and {params.MAX_SHARDS}"
            )
        if n_nodes > shards:
            raise TestbedError(f"--nodes: {n_nodes} nodes cannot share {shards} shards")
        if (bed.directory / STATE_FILE).exists():
            raise TestbedError(
                f"a testbed already exists in {bed.directory} "
                "(stop it with `walrus testbed down`, or pass another --dir)"
            )
        bed.directory.mkdir(parents=True, exist_ok=True)
        bed.n_shards = shards
        bed.network_id = f"testbed-{secrets.token_hex(8)}"
        admin = keys.KeyPair.generate()
        admin.save(bed.directory / "admin.key")
        client: dict[str, Any] = {"committee_file": "committee.json"}
        if not plaintext:
            authority = pki.Authority.generate(bed.network_id)
            authority.save(bed.ca_cert_file, bed.ca_key_file)
            pki.write_leaf(authority.issue("client"), bed.client_cert_file, bed.client_key_file)
            client.update(
                tls_ca_file=bed.ca_cert_file.name,
                tls_cert_file=bed.client_cert_file.name,
                tls_key_file=bed.client_key_file.name,
            )
        for _ in range(n_nodes):
            bed._new_node(admin.public_key)
        _atomic_write(bed.client_config, yaml.safe_dump(client).encode())
        bed.save()
        return bed

    def _new_node(self, admin_public_key: bytes, stake: int = DEFAULT_STAKE) -> NodeHandle:
        taken = {n.name for n in self.nodes}
        name = next(f"node-{i}" for i in range(len(self.nodes) + 1) if f"node-{i}" not in taken)
        node_dir = self.directory / name
        node_dir.mkdir(parents=True, exist_ok=True)
        identity = keys.KeyPair.generate()
        identity.save(node_dir / "node.key")
        handle = NodeHandle(name, node_dir, identity.public_key, stake=stake)
        if not self.plaintext:
            authority = pki.Authority.load(self.ca_cert_file, self.ca_key_file)
            pki.write_leaf(authority.issue(name), handle.tls_cert_file, handle.tls_key_file)
        self.nodes.append(handle)
        self._write_node_config(handle, admin_public_key)
        return handle

    def add_node(self, stake: int = DEFAULT_STAKE) -> NodeHandle:
        """Start a new node in standby; it asks for shards from the next epoch on."""
        if stake < 0:
            raise TestbedError("--stake: must be >= 0")
        node = self._new_node(self.admin_key.public_key, stake)
        self._spawn(node)
        self._wait_started(node)
        self._write_node_config(node, self.admin_key.public_key)
        self.save()
        self.wait_ready([node])
        committees = self.committees()
        self.push_committee(committees, [node])
        return node

    def set_stake(self, name: str, stake: int) -> None:
        if stake < 0:
            raise TestbedError("stake: must be >= 0")
        self.node(name).stake = stake
        self.save()

    def remove_node(self, name: str) -> None:
        """Ask a node to leave: no shards from the next epoch; stopped once it holds none."""
        node = self.node(name)
        node.leaving = True
        self.save()
        if node.name not in self.committees().current and node.is_running():
            self.kill(name, signal.SIGTERM)

    def _write_node_config(self, node: NodeHandle, admin_public_key: bytes) -> None:
        cfg = {
            "name": node.name,
            "data_dir": str(node.data_dir),
            "key_file": str(node.directory / "node.key"),
            "committee_file": str(node.committee_file),
            "listen_host": "127.0.0.1",
            "grpc_port": node.grpc_port,
            "metrics_port": node.metrics_port,
            "runtime_file": str(node.runtime_file),
            "admin_public_keys": [keys.encode_public_key(admin_public_key)],
            "shutdown_grace_seconds": 5,
            "certificate_poll_seconds": 1.0,
            "blob_sync_retry_seconds": 0.5,
            # Many nodes share one disk here: each store keeps 4 MiB allocated past its
            # data for its small writes (the default, for a node with a volume of its
            # own, is 64 MiB).
            "store_disk_reserve_bytes": 4 << 20,
            "log_format": "json",
            **self._node_tls(node),
            **self.node_settings,
        }
        _atomic_write(node.config_file, yaml.safe_dump(cfg, sort_keys=False).encode())

    def _node_tls(self, node: NodeHandle) -> dict[str, str]:
        if self.plaintext:
            return {}
        return {
            "tls_cert_file": str(node.tls_cert_file),
            "tls_key_file": str(node.tls_key_file),
            "tls_ca_file": str(self.ca_cert_file),
        }

    def channel(self, name: str, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
        """A blocking channel to one node with the testbed's credentials (close it),
        with gRPC channel ``options`` beside the testbed's own."""
        return _channel(self.node(name), self.client_tls(), options)

    def pool(self, timeout: float) -> ChannelPool:
        """A channel pool speaking to this testbed's nodes (close it after use)."""
        return ChannelPool(timeout=timeout, credentials=self.client_tls())

    def candidates(self) -> list[NodeCandidate]:
        """Nodes asking for shards: not leaving, with stake, started at least once."""
        return [
            NodeCandidate(
                name=node.name,
                public_key=node.public_key,
                endpoint=node.endpoint,
                stake=node.stake,
            )
            for node in self.nodes
            if not node.leaving and node.stake > 0 and node.grpc_port
        ]

    def committees(self) -> ActiveCommittees:
        """The committee file as last published."""
        try:
            return committee_file.parse(self.committee_file.read_bytes())
        except FileNotFoundError:
            raise TestbedError("no committee yet: run `walrus testbed up` first") from None

    def initial_committee(self) -> ActiveCommittees:
        """The first committee: shards by stake (D'Hondt), assigned in node-name order."""
        chosen = selection.select(self.candidates(), self.n_shards, epoch=self.epoch)
        return ActiveCommittees(
            epoch.EpochState.genesis(chosen.committee),
            committee_file.NetworkParams(network_id=self.network_id),
        )

    def publish_committee(self, committees: ActiveCommittees) -> None:
        """Hand a committee to every node and to the client (its committee file)."""
        _atomic_write(self.committee_file, committees.to_json())
        self.push_committee(committees, self.nodes)

    def push_committee(self, committees: ActiveCommittees, nodes: list[NodeHandle]) -> None:
        """Install a committee on nodes: admin RPC when running, their file otherwise."""
        data = committees.to_json()
        admin = self.admin_key

        async def push() -> None:
            pool = self.pool(timeout=30.0)
            try:
                for node in nodes:
                    if node.is_running():
                        await pool.peer(node.endpoint, node.name).set_committee(
                            admin, data, target=node.public_key
                        )
                    else:
                        _atomic_write(node.committee_file, data)
            finally:
                await pool.close()

        try:
            asyncio.run(push())
        except RpcError as e:
            raise TestbedError(f"could not install the committee: {e}") from e

    # --- processes ---------------------------------------------------------------------------

    def up(self) -> None:
        """Start every node, pin its ports, publish the committee, wait until all serve."""
        for node in self.nodes:
            if not node.is_running():
                self._spawn(node)
        for node in self.nodes:
            self._wait_started(node)
        admin = self.admin_key
        for node in self.nodes:
            self._write_node_config(node, admin.public_key)
        self.save()
        self.publish_committee(self.initial_committee())

    def start(self, name: str) -> None:
        node = self.node(name)
        if node.is_running():
            raise TestbedError(f"{name} is already running (pid {node.pid})")
        self._spawn(node)
        self._wait_started(node)
        self.save()
        self.wait_ready([node])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        node = self.node(name)
        if not node.is_running():
            raise TestbedError(f"{name} is not running")
        os.kill(node.pid, sig)
        _wait_exit(node, STOP_TIMEOUT)
        self.save()

    def corrupt(self, name: str, blob_id: bytes) -> tuple[int, str]:
        """Fault drill: flip a bit of one sliver the node stores for a blob, on disk.

        Returns (shard, sliver type). The node notices on its next read of that sliver
        (checksum), refuses to serve it, and recovers it from its peers.
        """
        node = self.node(name)
        member = self.committees().current.by_key(node.public_key)
        shards = () if member is None else member.shards
        if not shards:
            raise TestbedError(f"{name} owns no shards")
        store = Store(node.data_dir)
        try:
            for shard in shards:
                for sliver_type in SliverType:
                    if store.tamper_sliver(shard, sliver_type, blob_id):
                        return shard, str(sliver_type)
        finally:
            store.close()
        raise TestbedError(f"{name} stores no sliver of that blob")

    def start_controller(self, every_seconds: float) -> None:
        """Advance the epoch every ``every_seconds`` in a background process."""
        log = (self.directory / "controller.log").open("ab")
        with log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "walrus_node.testbed.epochs",
                    "--dir",
                    str(self.directory),
                    "--every",
                    str(every_seconds),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        self.controller_pid = process.pid
        self.save()

    def _stop_controller(self) -> None:
        pid, self.controller_pid = self.controller_pid, 0
        if pid <= 0:
            return
        handle = NodeHandle("controller", self.directory, b"", pid=pid)
        if handle.is_running():
            os.kill(pid, signal.SIGTERM)
            if not _wait_exit(handle, STOP_TIMEOUT):
                os.kill(pid, signal.SIGKILL)
                _wait_exit(handle, STOP_TIMEOUT)

    def start_gateway(
        self, port: int = 0, timeout: float = 60.0, extra_args: tuple[str, ...] = ()
    ) -> str:
        """Run ``walrus gateway`` (aggregator and publisher, and ``extra_args``) for this
        testbed in the background; returns its URL once it is ready."""
        out = self.directory / "gateway.out"
        out.unlink(missing_ok=True)
        with (self.directory / "gateway.log").open("ab") as log, out.open("wb") as stdout:
            command = [sys.executable, "-m", "walrus_node.cli.client_main"]
            command += ["--config", str(self.client_config), "gateway", "--port", str(port)]
            command += extra_args
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=log,
                start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        self.gateway_pid = process.pid
        self.save()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TestbedError(f"the gateway exited; see {self.directory / 'gateway.log'}")
            words = out.read_text().split()
            if len(words) >= 4 and _is_ready(words[3]):
                self.gateway_url = words[3]
                self.save()
                return self.gateway_url
            time.sleep(0.1)
        raise TestbedError(f"the gateway was not ready within {timeout:.0f} s")

    def _stop_gateway(self) -> None:
        pid, self.gateway_pid, self.gateway_url = self.gateway_pid, 0, ""
        if pid <= 0:
            return
        handle = NodeHandle("gateway", self.directory, b"", pid=pid)
        if handle.is_running():
            os.kill(pid, signal.SIGTERM)
            if not _wait_exit(handle, STOP_TIMEOUT):
                os.kill(pid, signal.SIGKILL)
                _wait_exit(handle, STOP_TIMEOUT)

    def down(self) -> None:
        self._stop_gateway()
        self._stop_controller()
        for node in self.nodes:
            if node.is_running():
                os.kill(node.pid, signal.SIGTERM)
        for node in self.nodes:
            if node.is_running() and not _wait_exit(node, STOP_TIMEOUT):
                os.kill(node.pid, signal.SIGKILL)
                _wait_exit(node, STOP_TIMEOUT)
        self.save()

    def _spawn(self, node: NodeHandle) -> None:
        node.runtime_file.unlink(missing_ok=True)
        with node.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "walrus_node.cli.node_main",
                    "run",
                    "--config",
                    str(node.config_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=node.directory,
            )
        node.pid = process.pid
        _CHILDREN[process.pid] = process

    def _wait_started(self, node: NodeHandle) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if node.runtime_file.exists():
                runtime = json.loads(node.runtime_file.read_text())
                node.grpc_port = runtime["grpc_port"]
                node.metrics_port = runtime["metrics_port"]
                return
            if not node.is_running():
                raise TestbedError(f"{node.name} exited during start-up; see {node.log_file}")
            time.sleep(0.05)
        raise TestbedError(
            f"{node.name} did not start within {START_TIMEOUT:.0f} s; see {node.log_file}"
        )

    def wait_ready(
        self, nodes: list[NodeHandle] | None = None, timeout: float = START_TIMEOUT
    ) -> None:
        """Wait until nodes answer health checks."""
        deadline = time.monotonic() + timeout
        credentials = self.client_tls()
        for node in nodes or self.nodes:
            while not _is_serving(node, credentials):
                if time.monotonic() > deadline:
                    raise TestbedError(f"{node.name} is not serving; see {node.log_file}")
                if not node.is_running():
                    raise TestbedError(f"{node.name} exited; see {node.log_file}")
                time.sleep(0.05)

    def status(self) -> Iterator[dict[str, Any]]:
        for node in self.nodes:
            yield {
                "name": node.name,
                "running": node.is_running(),
                "pid": node.pid if node.is_running() else None,
                "endpoint": node.endpoint,
                "metrics": f"http://127.0.0.1:{node.metrics_port}/metrics",
            }


def _channel(
    node: NodeHandle,
    credentials: tls.ClientTls | None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(node.endpoint, options=list(options))
    return grpc.secure_channel(
        node.endpoint,
        credentials.credentials(),
        options=[("grpc.ssl_target_name_override", node.name), *options],
    )


def _is_serving(node: NodeHandle, credentials: tls.ClientTls | None) -> bool:
    if not node.grpc_port:
        return False
    with _channel(node, credentials) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ready", timeout=5) as reply:
            return bool(reply.status == 200)
    except (OSError, ValueError):
        return False


def _wait_exit(node: NodeHandle, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while node.is_running():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
