"""A real ``walrus gateway`` process for tests, and a small HTTP client for it.

The gateway binds port 0 and prints its address; :func:`start` waits (with a generous
deadline) until ``/ready`` answers 200, and :meth:`GatewayProcess.stop` kills it whatever
happened.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse
from typing import Any

__all__ = ["GatewayProcess", "Reply", "start"]


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: pathlib.Path

    @property
    def host_port(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.url)
        assert parsed.hostname is not None and parsed.port is not None
        return parsed.hostname, parsed.port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 300.0,
    ) -> Reply:
        host, port = self.host_port
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start(
    client_config: pathlib.Path, workdir: pathlib.Path, *args: str, timeout: float = 120.0
) -> GatewayProcess:
    log = workdir / "gateway.log"
    out = workdir / "gateway.out"
    with log.open("wb") as err, out.open("wb") as stdout:
        command = [sys.executable, "-m", "walrus_node.cli.client_main"]
        command += ["--config", str(client_config), "gateway", "--port", "0", *args]
        process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + timeout
    gateway: GatewayProcess | None = None
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the gateway exited: {log.read_text()}")
            line = out.read_text().strip()
            if line.startswith("gateway listening on "):
                gateway = GatewayProcess(process, line.split()[-1], log)
                try:
                    if gateway.request("GET", "/ready", timeout=10).status == 200:
                        return gateway
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"the gateway was not ready within {timeout:.0f} s: {log.read_text()}")
    except BaseException:
        process.kill()
        process.wait()
        raise
