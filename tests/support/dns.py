"""A tiny authoritative DNS server on UDP for tests: A records from a table, nothing else.

Who uses it: tests of clients that resolve node names with a DNS server of their own
choosing (`tests/integration/test_client_dns.py`). Binds port 0 on loopback, answers in
a thread, records every question it was asked. Names not in the table get NXDOMAIN;
other record types of known names an empty answer.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

_A = 1
_IN = 1


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels).lower(), offset
        labels.append(packet[offset : offset + length].decode("ascii"))
        offset += length


class DnsServer:
    def __init__(self, records: dict[str, str]) -> None:
        self.records = {name.lower().rstrip("."): ip for name, ip in records.items()}
        self.questions: list[tuple[str, int]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            reply = self._answer(packet)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _answer(self, packet: bytes) -> bytes | None:
        if len(packet) < 12:
            return None
        ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
        if qdcount != 1:
            return None
        name, end = _name(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end : end + 4])
        question = packet[12 : end + 4]
        self.questions.append((name, qtype))
        known = name in self.records
        rd = flags & 0x0100
        rcode = 0 if known else 3
        answers = b""
        count = 0
        if known and qtype == _A:
            address = socket.inet_aton(self.records[name])
            # A pointer to the question's name, type A, class IN, TTL 5 s, 4 bytes.
            answers = struct.pack("!HHHIH", 0xC00C, _A, _IN, 5, 4) + address
            count = 1
        header = struct.pack("!HHHHHH", ident, 0x8400 | rd | rcode, 1, count, 0, 0)
        return header + question + answers
