"""WalrusGateway: golden tests of the builders (`data/gateway/input/<case>.yaml` →
`data/gateway/output/<case>.yaml`), the status, and the reconciler over `MemoryKube`.

An input holds a WalrusGateway, its WalrusNetwork and the context values; the output is
every child, as applied. An input with `expectError: <field>` must be refused with
`SpecInvalid` naming that field. `UPDATE_GOLDEN=1 pytest …` rewrites the outputs; review
the diff.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pathlib
import typing

import pytest
import yaml

from tests.unit.operator.memory_kube import MemoryKube
from walrus_operator import epoch_record, errors, gateway_models, gateway_status, gateways, kube
from walrus_operator import models as node_models
from walrus_operator.builders import gateway as gateway_builder

DATA = pathlib.Path(__file__).parent / "data" / "gateway"
CASES = sorted(p.stem for p in (DATA / "input").glob("*.yaml"))
NOW = "2026-01-01T00:00:00Z"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (committee.yaml) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _case(name: str) -> dict[str, typing.Any]:
    loaded: dict[str, typing.Any] = yaml.safe_load((DATA / "input" / f"{name}.yaml").read_text())
    return loaded


def _build(case: dict[str, typing.Any]) -> list[dict[str, typing.Any]]:
    gw = gateway_models.parse_gateway(case["gateway"])
    network = node_models.parse_network(case["network"])
    record = epoch_record.load(network.status.epoch_state)
    assert record is not None
    return gateway_builder.build_children(
        gw,
        image=gw.spec.image or case["context"]["defaultImage"],
        committee_file=record.committee_file(),
        tls=(
            gateway_builder.ClientTls(**case["context"]["clientTls"])
            if "clientTls" in case["context"]
            else None
        ),
    )


@pytest.mark.parametrize("case_name", CASES)
def test_builders_match_golden_output(case_name: str) -> None:
    case = _case(case_name)
    expected_field = case.get("expectError")
    if expected_field is not None:
        with pytest.raises(errors.SpecInvalid) as caught:
            _build(case)
        assert caught.value.field == expected_field
        return
    built = _build(case)
    output = DATA / "output" / f"{case_name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        output.write_text(yaml.dump_all(built, Dumper=_Dumper, sort_keys=False))
    assert built == list(yaml.safe_load_all(output.read_text()))


def test_every_error_case_names_a_field_and_every_other_case_has_an_output() -> None:
    for name in CASES:
        has_output = (DATA / "output" / f"{name}.yaml").exists()
        assert has_output != ("expectError" in _case(name)), name


def test_autoscaling_leaves_replicas_to_the_hpa() -> None:
    kinds = {c["kind"]: c for c in _build(_case("full"))}
    assert "replicas" not in kinds["Deployment"]["spec"]
    assert kinds["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 8
    basic = {c["kind"]: c for c in _build(_case("basic"))}
    assert basic["Deployment"]["spec"]["replicas"] == 1
    assert set(basic) == {"ConfigMap", "Deployment", "Service"}


def _gateway(name: str = "basic") -> gateway_models.WalrusGateway:
    return gateway_models.parse_gateway(_case(name)["gateway"])


def _condition(status: dict[str, typing.Any], kind: str) -> dict[str, typing.Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_status_is_ready_only_when_every_wanted_replica_is() -> None:
    gw = _gateway()
    rolling = {"spec": {"replicas": 2}, "status": {"replicas": 2, "updatedReplicas": 1}}
    status = gateway_status.gateway_status(gw, rolling, now=NOW)
    assert _condition(status, "Ready")["status"] == "False"
    assert _condition(status, "Progressing")["status"] == "True"
    ready = {
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2},
    }
    status = gateway_status.gateway_status(gw, ready, now=NOW)
    assert _condition(status, "Ready")["status"] == "True"
    assert _condition(status, "Degraded")["status"] == "False"
    assert status["url"] == "http://gateway.storage.svc.cluster.local"
    down = {"spec": {"replicas": 2}, "status": {"replicas": 2, "updatedReplicas": 2}}
    assert _condition(gateway_status.gateway_status(gw, down, now=NOW), "Degraded")["status"] == (
        "True"
    )


def _client_secret(network: str, namespace: str) -> dict[str, typing.Any]:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": f"{network}-client-tls", "namespace": namespace},
        "data": {key: encoded(f"pem of {key}") for key in ("tls.crt", "tls.key", "ca.crt")},
    }


def test_reconciler_applies_children_and_waits_for_the_network() -> None:
    case = _case("basic")
    memory = MemoryKube()
    memory.put(_client_secret("mainnet", "storage"))
    reconciler = gateways.GatewayReconciler(memory, "walrus-node:0.1.0", clock=lambda: NOW)

    missing = asyncio.run(reconciler.reconcile(case["gateway"]))
    assert isinstance(missing.error, errors.NotYet)
    assert _condition(missing.status, "Ready")["reason"] == "NetworkNotFound"
    assert memory.find(kube.Kind.DEPLOYMENT, "gateway", "storage") is None

    memory.put(case["network"])
    done = asyncio.run(reconciler.reconcile(case["gateway"]))
    assert done.error is None
    deployment = memory.find(kube.Kind.DEPLOYMENT, "gateway", "storage")
    assert deployment is not None
    config = memory.find(kube.Kind.CONFIG_MAP, "gateway-gateway-client", "storage")
    assert config is not None
    assert "pool-2-0.pool-2.storage.svc.example.internal:9185" in config["data"]["committee.yaml"]
    assert _condition(done.status, "Ready")["status"] == "False"  # no pod is ready yet
    # The nodes serve TLS: the gateway presents the network's client certificate and
    # verifies the nodes against the CA that comes with it.
    client = yaml.safe_load(config["data"]["client.yaml"])
    assert client == {
        "committee_file": "committee.yaml",
        "tls_ca_file": "/etc/walrus/tls/ca.crt",
        "tls_cert_file": "/etc/walrus/tls/tls.crt",
        "tls_key_file": "/etc/walrus/tls/tls.key",
    }
    template = deployment["spec"]["template"]
    assert {"name": "tls", "mountPath": "/etc/walrus/tls", "readOnly": True} in template["spec"][
        "containers"
    ][0]["volumeMounts"]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "mainnet-client-tls"
    assert template["metadata"]["labels"]["walrus-k8s.io/client"] == "mainnet"
    first = template["metadata"]["annotations"]["walrus-k8s.io/certificate-sha256"]

    # A re-issued certificate rolls the pods.
    renewed = _client_secret("mainnet", "storage")
    renewed["data"]["tls.crt"] = base64.b64encode(b"another pem").decode()
    memory.put(renewed)
    assert asyncio.run(reconciler.reconcile(case["gateway"])).error is None
    again = memory.find(kube.Kind.DEPLOYMENT, "gateway", "storage")
    assert again is not None
    assert again["spec"]["template"]["metadata"]["annotations"][
        "walrus-k8s.io/certificate-sha256"
    ] not in ("", first)


def test_gateway_waits_for_the_client_certificate_when_nodes_serve_tls() -> None:
    case = _case("basic")
    memory = MemoryKube()
    memory.put(case["network"])
    reconciler = gateways.GatewayReconciler(memory, "walrus-node:0.1.0", clock=lambda: NOW)
    waiting = asyncio.run(reconciler.reconcile(case["gateway"]))
    assert isinstance(waiting.error, errors.NotYet)
    assert "no client certificate yet" in _condition(waiting.status, "Ready")["message"]
    assert memory.find(kube.Kind.DEPLOYMENT, "gateway", "storage") is None

    memory.put(_client_secret("mainnet", "storage"))
    assert asyncio.run(reconciler.reconcile(case["gateway"])).error is None


def test_gateway_of_a_plaintext_network_gets_no_certificate() -> None:
    case = _case("basic")
    memory = MemoryKube()
    memory.put(case["network"])
    reconciler = gateways.GatewayReconciler(
        memory, "walrus-node:0.1.0", node_tls=False, clock=lambda: NOW
    )
    assert asyncio.run(reconciler.reconcile(case["gateway"])).error is None
    config = memory.find(kube.Kind.CONFIG_MAP, "gateway-gateway-client", "storage")
    assert config is not None
    assert "tls_" not in config["data"]["client.yaml"]
    deployment = memory.find(kube.Kind.DEPLOYMENT, "gateway", "storage")
    assert deployment is not None
    assert "tls" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_invalid_spec_is_reported_not_applied() -> None:
    memory = MemoryKube()
    reconciler = gateways.GatewayReconciler(memory, "walrus-node:0.1.0", clock=lambda: NOW)
    result = asyncio.run(reconciler.reconcile(_case("neither-role")["gateway"]))
    assert isinstance(result.error, errors.SpecInvalid)
    assert _condition(result.status, "Ready")["reason"] == "InvalidSpec"
    assert memory.writes == []
