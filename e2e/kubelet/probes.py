"""Startup, readiness and liveness probes, run against a container's process.

`e2e.kubelet.container` starts one `Prober` per probe of a running container and is told
each verdict through `on_result(kind, healthy, message)`. The four handlers of the
Kubernetes API are supported: exec (inside the container's mount namespace), tcpSocket,
httpGet (2xx and 3xx succeed) and grpc (the standard `grpc.health.v1.Health/Check`;
SERVING succeeds). Thresholds follow the kubelet: a verdict changes after
`successThreshold` consecutive successes or `failureThreshold` consecutive failures, and
the startup probe stops once it succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import ssl
from collections.abc import Callable

import aiohttp
import grpc
import grpc.aio

from e2e import kubeapi
from e2e.kubelet import sandbox

log = logging.getLogger(__name__)

OnResult = Callable[[str, bool, str], None]

_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = 1


@dataclasses.dataclass
class Target:
    """What a probe needs to know about the container it probes."""

    pod_ip: str
    ports: dict[str, int]  # named container ports
    env: dict[str, str]
    pid: int
    namespace: bool  # the container runs in its own mount namespace


class ProbeError(Exception):
    """A probe is malformed (no handler, unknown named port)."""


def _port(value: int | str, target: Target) -> int:
    if isinstance(value, int) or value.isdigit():
        return int(value)
    if value not in target.ports:
        raise ProbeError(f"probe port {value!r} names no port of the container")
    return target.ports[value]


def _grpc_request(service: str) -> bytes:
    """A HealthCheckRequest{service} message: field 1, length-delimited."""
    raw = service.encode()
    if not raw:
        return b""
    length = len(raw)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x0a" + bytes(varint) + raw


def _grpc_status(response: bytes) -> int:
    """The status (field 1, varint) of a HealthCheckResponse; 0 (UNKNOWN) if absent."""
    if len(response) >= 2 and response[0] == 0x08:
        return response[1] & 0x7F
    return 0


async def check(probe: kubeapi.JSON, target: Target) -> tuple[bool, str]:
    """Run the probe's handler once: (succeeded, message)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "tcpSocket" in probe:
            handler = probe["tcpSocket"]
            host = handler.get("host") or target.pod_ip
            port = _port(handler["port"], target)
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True, ""
        if "httpGet" in probe:
            return await _http(probe["httpGet"], target, timeout)
        if "grpc" in probe:
            handler = probe["grpc"]
            address = f"{target.pod_ip}:{_port(handler['port'], target)}"
            async with grpc.aio.insecure_channel(address) as channel:
                # No (de)serializers: the call takes and returns raw message bytes.
                call = channel.unary_unary(
                    _HEALTH_CHECK, request_serializer=None, response_deserializer=None
                )
                response = await call(_grpc_request(handler.get("service", "")), timeout=timeout)
            status = _grpc_status(response)
            return status == _SERVING, f"grpc health status {status}"
        if "exec" in probe:
            return await _exec(probe["exec"]["command"], target, timeout)
    except (OSError, TimeoutError, aiohttp.ClientError, grpc.RpcError) as error:
        return False, f"{type(error).__name__}: {error}"
    raise ProbeError(f"probe has no handler (exec, tcpSocket, httpGet or grpc): {probe}")


async def _http(handler: kubeapi.JSON, target: Target, timeout: float) -> tuple[bool, str]:
    scheme = handler.get("scheme", "HTTP").lower()
    host = handler.get("host") or target.pod_ip
    port = _port(handler["port"], target)
    path = handler.get("path", "/")
    headers = {h["name"]: h["value"] for h in handler.get("httpHeaders", [])}
    insecure = ssl._create_unverified_context()  # the kubelet does not verify probe TLS
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(f"{scheme}://{host}:{port}{path}", headers=headers, ssl=insecure) as resp,
    ):
        return 200 <= resp.status < 400, f"HTTP {resp.status}"


async def _exec(command: list[str], target: Target, timeout: float) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        *sandbox.exec_argv(target.pid, target.namespace, command),
        env=target.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"exec probe timed out after {timeout:g} s"
    message = output.decode(errors="replace")[-500:]
    return proc.returncode == 0, message


class Prober:
    """Runs one probe of one container periodically until cancelled."""

    def __init__(self, kind: str, probe: kubeapi.JSON, target: Target, on_result: OnResult):
        self.kind = kind
        self.probe = probe
        self.target = target
        self.on_result = on_result

    async def run(self) -> None:
        period = float(self.probe.get("periodSeconds", 10))
        success_threshold = int(self.probe.get("successThreshold", 1))
        failure_threshold = int(self.probe.get("failureThreshold", 3))
        await asyncio.sleep(float(self.probe.get("initialDelaySeconds", 0)))
        successes = failures = 0
        while True:
            try:
                ok, message = await check(self.probe, self.target)
            except ProbeError as error:
                ok, message = False, str(error)
            if ok:
                successes, failures = successes + 1, 0
                if successes >= success_threshold:
                    self.on_result(self.kind, True, message)
                    if self.kind == "startup":
                        return
            else:
                successes, failures = 0, failures + 1
                log.debug("%s probe failed (%d): %s", self.kind, failures, message)
                if failures >= failure_threshold:
                    self.on_result(self.kind, False, message)
            await asyncio.sleep(period)
