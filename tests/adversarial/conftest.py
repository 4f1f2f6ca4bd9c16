"""Fixtures for the attack tests: the integration testbed (real node processes on
loopback, real gRPC), reused from tests/integration."""

from __future__ import annotations

from tests.integration.conftest import testbed

__all__ = ["testbed"]
