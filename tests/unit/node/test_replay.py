"""The replay guard: a control request is obeyed once, by the node and network it names."""

from __future__ import annotations

import os

import pytest

from walrus_node.protocol import errors
from walrus_node.protocol.messages import Binding
from walrus_node.service.replay import WINDOW_MS, ReplayGuard

ME = b"\x01" * 32
OTHER = b"\x02" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now


def _binding(clock: Clock, *, network: str = "net-a", target: bytes = ME) -> Binding:
    return Binding(network, target, clock.now, os.urandom(16))


def test_a_fresh_request_for_this_node_and_network_passes_once() -> None:
    clock = Clock()
    guard = ReplayGuard(10, clock)
    b = _binding(clock)
    guard.check(b, "net-a", ME, "SetCommittee")
    with pytest.raises(errors.PermissionDenied, match="replay"):
        guard.check(b, "net-a", ME, "SetCommittee")


def test_a_request_for_another_network_is_refused() -> None:
    clock = Clock()
    with pytest.raises(errors.PermissionDenied, match="network 'net-b'"):
        ReplayGuard(10, clock).check(_binding(clock, network="net-b"), "net-a", ME, "x")


def test_a_request_for_another_node_is_refused() -> None:
    clock = Clock()
    with pytest.raises(errors.PermissionDenied, match="not this node"):
        ReplayGuard(10, clock).check(_binding(clock, target=OTHER), "net-a", ME, "x")


def test_an_old_request_is_refused() -> None:
    clock = Clock()
    guard = ReplayGuard(10, clock)
    b = _binding(clock)
    clock.now += WINDOW_MS + 1
    with pytest.raises(errors.PermissionDenied, match="minutes off"):
        guard.check(b, "net-a", ME, "x")


def test_a_request_signed_before_the_node_started_is_refused() -> None:
    clock = Clock()
    b = _binding(clock)
    clock.now += 1000  # the node restarts after the request was signed
    with pytest.raises(errors.PermissionDenied, match="before this node started"):
        ReplayGuard(10, clock).check(b, "net-a", ME, "x")


def test_a_full_cache_refuses_instead_of_forgetting_and_frees_as_nonces_age() -> None:
    clock = Clock()
    guard = ReplayGuard(2, clock)
    guard.check(_binding(clock), "net-a", ME, "x")
    guard.check(_binding(clock), "net-a", ME, "x")
    with pytest.raises(errors.ResourceExhausted):
        guard.check(_binding(clock), "net-a", ME, "x")
    clock.now += WINDOW_MS + 1
    guard.check(_binding(clock), "net-a", ME, "x")
