"""Certificate catch-ups are shared: callers at the same time share one round (one
question to every peer), and each caller still waits for a round that started after its
call, so it sees every certificate its peers had logged when it asked."""

from __future__ import annotations

import asyncio
import struct
import types
from typing import Any

from walrus_node.protocol import errors, keys
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.service.certificate_sync import CertificateSync

_CONFIG = types.SimpleNamespace(
    pending_deletions=10,
    pending_deletions_per_peer=5,
    pending_vouches=10,
    pending_vouches_per_peer=5,
)


def _sync() -> tuple[CertificateSync, list[tuple[int, float]]]:
    ctx: Any = types.SimpleNamespace(committees=object(), config=_CONFIG)
    sync = CertificateSync(ctx, None, None)  # type: ignore[arg-type]  # not used by a round
    asked: list[tuple[int, float]] = []  # (round, when each peer was asked)

    async def from_peer(member: object) -> None:
        asked.append((sync.rounds, asyncio.get_running_loop().time()))
        await asyncio.sleep(0.05)

    sync._peers = lambda: ["a", "b", "c"]  # type: ignore[method-assign,assignment,return-value]
    sync._from_peer = from_peer  # type: ignore[method-assign,assignment]
    return sync, asked


def test_callers_at_the_same_time_share_one_round() -> None:
    async def go() -> None:
        sync, asked = _sync()
        await asyncio.gather(*(sync.catch_up() for _ in range(91)))
        assert sync.rounds == 1
        assert len(asked) == 3  # every peer asked once, not 91 times

    asyncio.run(asyncio.wait_for(go(), 10))


def test_a_caller_during_a_round_waits_for_one_that_starts_after_its_call() -> None:
    async def go() -> None:
        sync, asked = _sync()
        first = asyncio.create_task(sync.catch_up())
        await asyncio.sleep(0.02)  # the first round is asking its peers
        called_at = asyncio.get_running_loop().time()
        await asyncio.gather(sync.catch_up(), sync.catch_up())
        await first
        assert sync.rounds == 2
        second = [t for r, t in asked if r == 2]
        assert len(second) == 3 and min(second) >= called_at

    asyncio.run(asyncio.wait_for(go(), 10))


def test_a_cancelled_caller_does_not_cancel_the_round_of_others() -> None:
    async def go() -> None:
        sync, asked = _sync()
        quitter = asyncio.create_task(sync.catch_up())
        stayer = asyncio.create_task(sync.catch_up())
        await asyncio.sleep(0.01)
        quitter.cancel()
        await stayer
        assert len(asked) == 3 and sync.rounds == 1

    asyncio.run(asyncio.wait_for(go(), 10))


def test_a_peer_is_asked_for_its_logs_only_past_what_this_node_has_seen() -> None:
    """The peer's NodeInfo says how far its certificate and deletion logs go: a log that
    did not grow since the cursor costs no listing call (every peer is asked every
    `certificate_poll_seconds`, most of the time with nothing new)."""

    async def go() -> None:
        state: dict[str, bytes] = {}

        async def read(fn: object, key: str) -> bytes | None:
            return state.get(key)

        async def write(fn: object, key: str, value: bytes) -> None:
            state[key] = value

        ctx: Any = types.SimpleNamespace(
            read=read, write=write, store=types.SimpleNamespace(), config=_CONFIG
        )
        ctx.store.get_state = ctx.store.put_state = None
        sync = CertificateSync(ctx, None, None)  # type: ignore[arg-type]  # not used here
        calls: list[tuple[str, int]] = []

        class Peer:
            async def list_certificates(self, after: int, limit: int) -> list[Any]:
                calls.append(("certificates", after))
                return []

            async def list_deletions(self, after: int, limit: int) -> list[Any]:
                calls.append(("deletions", after))
                return []

        member: Any = types.SimpleNamespace(public_key=bytes(32), name="peer")
        await sync._certificates_from(member, Peer(), 0)  # type: ignore[arg-type]
        other: Any = types.SimpleNamespace(public_key=bytes(31) + b"\x01", name="other")
        await sync._deletions_from(other, Peer(), 0)  # type: ignore[arg-type]
        assert calls == []
        # persisted by the node before a restart: read at the first round
        state["deletion-cursor/" + keys.encode_public_key(bytes(32))] = struct.pack("<Q", 4)
        await sync._deletions_from(member, Peer(), 4)  # type: ignore[arg-type]
        assert calls == []
        await sync._certificates_from(member, Peer(), 2)  # type: ignore[arg-type]
        await sync._deletions_from(member, Peer(), 5)  # type: ignore[arg-type]
        assert calls == [("certificates", 0), ("deletions", 4)]

    asyncio.run(asyncio.wait_for(go(), 10))


class _Committee:
    """Seven members, one shard each: f = 2."""

    n_shards = 7

    def shard_count_of(self, public_key: bytes) -> int:
        return 1 if public_key[:1] in b"ABCDEFG" else 0


def test_a_restart_lists_again_what_was_vouched_for_only_in_part() -> None:
    """A certificate of an epoch this node never knew waits until more than f shards'
    worth of members listed it. Two listed it (not enough), then the node restarted: the
    persisted cursors of those two stay before it, so after the restart they list it again
    and, with a third member, it counts. (With the cursors persisted past it, the third
    member alone was all the node heard again, and the certificate never counted.)"""
    old = Certificate(1, b"\x07" * 32, BlobRegistration(40), ((b"A" * 32, b"s" * 64),))
    other = Certificate(1, b"\x08" * 32, BlobRegistration(40), ((b"A" * 32, b"s" * 64),))
    logs = {  # each member's certificate log: (position, certificate)
        b"A" * 32: [(4, other), (5, old), (6, other)],
        b"B" * 32: [(1, other), (2, old)],
        b"C" * 32: [(3, old)],
    }
    state: dict[str, bytes] = {}
    vouched: list[tuple[Certificate, int]] = []

    class Registrations:
        async def adds_nothing(self, certificate: Certificate) -> bool:
            return certificate is other  # known here already

        async def accept_certificate(self, certificate: Certificate) -> None:
            raise errors.StaleEpoch("epoch 1 is before this node's first")

        def unknown_past(self, certificate: Certificate) -> bool:
            return True

        async def accept_vouched(self, certificate: Certificate, weight: int) -> None:
            vouched.append((certificate, weight))

    class Peer:
        def __init__(self, key: bytes) -> None:
            self.key = key

        async def list_certificates(self, after: int, limit: int) -> list[Any]:
            return [(i, c) for i, c in logs[self.key] if i > after][:limit]

    async def read(fn: object, key: str) -> bytes | None:
        return state.get(key)

    async def write(fn: object, key: str, value: bytes) -> None:
        state[key] = value

    def node() -> CertificateSync:
        committees = types.SimpleNamespace(current=_Committee(), epoch=3)
        ctx: Any = types.SimpleNamespace(
            read=read,
            write=write,
            store=types.SimpleNamespace(get_state=None, put_state=None),
            config=_CONFIG,
            require_committees=lambda: committees,
        )
        return CertificateSync(ctx, Registrations(), None)  # type: ignore[arg-type]

    async def listing(sync: CertificateSync, key: bytes) -> None:
        member: Any = types.SimpleNamespace(public_key=key, name=key[:1].decode())
        await sync._certificates_from(member, Peer(key), logs[key][-1][0])  # type: ignore[arg-type]

    async def go() -> None:
        before = node()
        await listing(before, b"A" * 32)
        await listing(before, b"B" * 32)
        assert vouched == []  # two of seven shards: not more than f
        cursor = "certificate-cursor/" + keys.encode_public_key(b"A" * 32)
        assert struct.unpack("<Q", state[cursor])[0] == 4  # before the waiting one
        after = node()  # restarted: the table of vouches is gone, the cursors are not
        await listing(after, b"C" * 32)
        await listing(after, b"A" * 32)
        await listing(after, b"B" * 32)
        assert vouched == [(old, 3)]
        await listing(after, b"A" * 32)  # the next round: its log did not grow, and
        assert struct.unpack("<Q", state[cursor])[0] == 6  # nothing waits: past its log

    asyncio.run(asyncio.wait_for(go(), 10))
