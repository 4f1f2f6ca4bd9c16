"""Loopback addresses for pods: each pod gets its own address in 127.0.0.0/8.

Linux routes the whole 127.0.0.0/8 block to the loopback interface, so a process can bind
any of its addresses without configuration. The address is derived from the pod's
namespace and name (a StatefulSet pod keeps its address across re-creation, like its
identity) and from the stand-in's state directory (two clusters on one machine do not
collide), and recorded in `addresses.json` so that it also survives a restart of the
stand-in and never collides with another pod's. 127.0.x.x is left alone (127.0.0.1 is
the host's, and the control plane's).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path


class AddressBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Salted with where the book lives, so that two clusters on one machine (two
        # checkouts) give their pods different addresses.
        self._salt = str(path.resolve())
        self._by_pod: dict[str, str] = {}
        if path.exists():
            self._by_pod = json.loads(path.read_text())

    def address(self, namespace: str, name: str) -> str:
        """The pod's address, allocating (and recording) it on first use."""
        pod = f"{namespace}/{name}"
        if pod in self._by_pod:
            return self._by_pod[pod]
        taken = set(self._by_pod.values())
        attempt = 0
        while True:
            candidate = _derive(f"{self._salt}#{pod}", attempt)
            if candidate not in taken:
                break
            attempt += 1
        self._by_pod[pod] = candidate
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._by_pod, indent=1, sort_keys=True))
        tmp.replace(self.path)
        return candidate


def _derive(pod: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{pod}#{attempt}".encode()).digest()
    second = 1 + digest[0] % 255  # 1..255: never 127.0.x.x
    third = digest[1]
    fourth = 1 + digest[2] % 254  # 1..254: no .0 or .255
    return str(ipaddress.IPv4Address(bytes([127, second, third, fourth])))
