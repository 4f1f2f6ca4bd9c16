"""The WalrusNetwork reconciler (before any node exists), operator settings, and metrics."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest

from tests.unit.operator import memory_kube, records
from walrus_operator import (
    addresses,
    admin,
    epochs,
    errors,
    kube,
    metrics,
    networks,
    nodeclient,
    settings,
)

NETWORK = {
    "apiVersion": "walrus-k8s.io/v1alpha1",
    "kind": "WalrusNetwork",
    "metadata": {"name": "devnet", "namespace": "walrus", "generation": 2},
    "spec": {"shardCount": 16},
}


def _reconciler(api: memory_kube.MemoryKube) -> networks.NetworkReconciler:
    controller = epochs.Controller(
        api,
        nodeclient.GrpcNodeClient(timeout=1.0),
        admin.AdminKeys(api),
        addresses.DnsAddresses("cluster.local"),
        metrics.Metrics(),
        clock=lambda: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    return networks.NetworkReconciler(controller, clock=lambda: "t0")


@pytest.mark.asyncio
async def test_new_network_without_nodes_is_pending_in_epoch_zero() -> None:
    api = memory_kube.MemoryKube()
    api.put(NETWORK)
    result = await _reconciler(api).reconcile(NETWORK)
    assert result.error is None
    assert result.status == {}  # the epoch controller writes the status itself
    status = api.find(kube.Kind.WALRUS_NETWORK, "devnet", "walrus")["status"]
    assert (status["phase"], status["currentEpoch"], status["observedGeneration"]) == (
        "Pending",
        0,
        2,
    )
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "WaitingForNodes")
    assert "spec.minimumStake" in ready["message"]
    assert [e.reason for e in result.events] == ["Waiting"]
    # Nothing changed: the next pass writes nothing and announces nothing.
    writes = len(api.writes)
    again = await _reconciler(api).reconcile(NETWORK)
    assert (len(api.writes), again.events) == (writes, ())


@pytest.mark.asyncio
async def test_network_cap_above_shard_count_is_refused() -> None:
    body = {**NETWORK, "spec": {"shardCount": 8, "maxShardsPerNode": 9}}
    result = await _reconciler(memory_kube.MemoryKube()).reconcile(body)
    assert isinstance(result.error, errors.SpecInvalid)
    assert "maxShardsPerNode" in str(result.error)


def test_settings_default_without_environment() -> None:
    assert settings.OperatorSettings.from_environment({}) == settings.OperatorSettings()


def test_node_tls_is_on_unless_turned_off() -> None:
    assert settings.OperatorSettings.from_environment({}).node_tls is True
    off = {"WALRUS_OPERATOR_NODE_TLS": "False"}
    assert settings.OperatorSettings.from_environment(off).node_tls is False
    on = {"WALRUS_OPERATOR_NODE_TLS": "true"}
    assert settings.OperatorSettings.from_environment(on).node_tls is True


def test_settings_are_read_from_the_environment() -> None:
    parsed = settings.OperatorSettings.from_environment(
        {
            "WALRUS_OPERATOR_NAMESPACES": "a, b,",
            "WALRUS_OPERATOR_RESYNC_SECONDS": "5",
            "WALRUS_OPERATOR_METRICS_PORT": "0",
            "WALRUS_OPERATOR_NODE_IMAGE": "img:1",
            "WALRUS_OPERATOR_ENDPOINT_MODE": "pod-ip",
            "WALRUS_OPERATOR_EPOCH_POLL_SECONDS": "0.5",
        }
    )
    assert parsed.endpoint_mode == "pod-ip"
    assert parsed.epoch_poll_seconds == 0.5
    assert parsed.namespaces == ("a", "b")
    assert parsed.resync_seconds == 5.0
    assert parsed.metrics_port == 0
    assert parsed.node_image == "img:1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WALRUS_OPERATOR_RESYNC_SECONDS", "soon"),
        ("WALRUS_OPERATOR_RESYNC_SECONDS", "0"),
        ("WALRUS_OPERATOR_METRICS_PORT", "70000"),
        ("WALRUS_OPERATOR_LOG_FORMAT", "xml"),
        ("WALRUS_OPERATOR_NODE_IMAGE", " "),
        ("WALRUS_OPERATOR_ENDPOINT_MODE", "mdns"),
        ("WALRUS_OPERATOR_NODE_TIMEOUT_SECONDS", "0"),
        ("WALRUS_OPERATOR_NODE_TLS", "yes"),
    ],
)
def test_bad_setting_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(errors.SettingsInvalid) as caught:
        settings.OperatorSettings.from_environment({variable: value})
    assert caught.value.variable == variable


def test_nodes_by_phase_gauge_follows_each_node() -> None:
    m = metrics.Metrics()
    m.node_phase("ns", "a", "Running")
    m.node_phase("ns", "b", "Running")
    m.node_phase("ns", "c", "Pending")
    m.node_phase("ns", "b", "Degraded")
    m.node_phase("ns", "c", None)

    def value(phase: str) -> float | None:
        return m.registry.get_sample_value("walrus_operator_nodes", {"phase": phase})

    assert (value("Running"), value("Degraded"), value("Pending")) == (1.0, 1.0, 0.0)


def test_operator_refuses_to_start_with_a_bad_setting() -> None:
    env = {**os.environ, "WALRUS_OPERATOR_RESYNC_SECONDS": "often"}
    done = subprocess.run(
        [sys.executable, "-m", "walrus_operator"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "WALRUS_OPERATOR_RESYNC_SECONDS" in done.stderr


@pytest.mark.asyncio
async def test_unreadable_epoch_state_stops_the_controller_without_overwriting_it() -> None:
    api = memory_kube.MemoryKube()
    api.put({**NETWORK, "status": {"epochState": '{"version": 9}', "currentEpoch": 4}})
    result = await _reconciler(api).reconcile(NETWORK)
    status = api.find(kube.Kind.WALRUS_NETWORK, "devnet", "walrus")["status"]
    assert status["epochState"] == '{"version": 9}'
    assert status["currentEpoch"] == 4
    degraded = {c["type"]: c for c in status["conditions"]}["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidState")
    assert "status.epochState" in degraded["message"]
    assert [(e.reason, e.warning) for e in result.events] == [("InvalidState", True)]


def test_network_metrics_follow_epoch_phase_and_nodes() -> None:
    m = metrics.Metrics()
    m.network("ns", "devnet", 3, "EpochChange")
    m.network_nodes("ns", "devnet", {"a": (True, 4, 1), "b": (False, 6, 0)})
    m.network_nodes("ns", "devnet", {"a": (True, 5, 0)})

    def value(name: str, **labels: str) -> float | None:
        return m.registry.get_sample_value(name, {"namespace": "ns", "network": "devnet", **labels})

    assert value("walrus_operator_network_epoch") == 3
    assert value("walrus_operator_network_phase", phase="EpochChange") == 1
    assert value("walrus_operator_network_phase", phase="Stable") == 0
    assert value("walrus_operator_node_shards", node="a", state="owned") == 5
    assert value("walrus_operator_node_up", node="b") is None  # forgotten
    m.forget_network("ns", "devnet")
    assert value("walrus_operator_network_epoch") is None
    assert value("walrus_operator_node_up", node="a") is None


def _sample(registry: metrics.Metrics, name: str, **labels: str) -> float | None:
    value = registry.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


@pytest.mark.asyncio
async def test_a_pass_reports_offline_shards_against_the_fault_tolerance() -> None:
    """No member of the committee answers: all 16 shards are offline, f is 5."""
    api = memory_kube.MemoryKube()
    record = records.genesis(16, {"node-a": 1000, "node-b": 1000})
    body = {**NETWORK, "status": {"epochState": record.to_text()}}
    api.put(body)
    reconciler = _reconciler(api)
    await reconciler.reconcile(body)
    registry = reconciler.epochs.metrics  # type: ignore[attr-defined]  # the Controller's
    labels = {"namespace": "walrus", "network": "devnet"}
    assert _sample(registry, "walrus_operator_network_shards_offline", **labels) == 16
    assert _sample(registry, "walrus_operator_network_fault_tolerance", **labels) == 5
    assert _sample(registry, "walrus_operator_epoch_change_age_seconds", **labels) == 0
    assert _sample(registry, "walrus_operator_network_last_pass_timestamp_seconds", **labels)


def test_rollout_progress_and_pass_metrics() -> None:
    registry = metrics.Metrics()
    registry.rollout("walrus", "devnet", 3, 7)
    labels = {"namespace": "walrus", "network": "devnet"}
    assert _sample(registry, "walrus_operator_rollout_progress", **labels) == pytest.approx(3 / 7)
    registry.rollout("walrus", "devnet", 0, 0)
    assert _sample(registry, "walrus_operator_rollout_progress", **labels) == 1.0
    registry.passed("WalrusNode", 0.2, ok=False, now=100.0)
    assert (
        _sample(registry, "walrus_operator_last_success_timestamp_seconds", kind="WalrusNode")
        is None
    )
    registry.passed("WalrusNode", 0.3, ok=True, now=200.0)
    assert (
        _sample(registry, "walrus_operator_last_success_timestamp_seconds", kind="WalrusNode")
        == 200.0
    )
    assert (
        _sample(registry, "walrus_operator_reconcile_duration_seconds_count", kind="WalrusNode")
        == 2
    )
    registry.forget_network("walrus", "devnet")
    assert _sample(registry, "walrus_operator_rollout_progress", **labels) is None
