"""The deployment material agrees with itself and with the code.

- the chart's CRDs are byte-identical copies of manifests/base/crds (`make crds`);
- the kustomize base renders, with one operator replica and the Recreate strategy;
- RBAC is namespaced by default: the base grants the operator a Role in its namespace
  (and a read-only ClusterRole), the cluster-wide overlay the same rules in a ClusterRole;
  the chart's rules equal the kustomize ones, and cover every kind the operator's `kube`
  module touches;
- every WALRUS_OPERATOR_* variable set in the manifests is a real setting;
- the chart's values.yaml satisfies its values.schema.json;
- the chart lints and renders in both RBAC modes (helm from `make tools`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import typing

import jsonschema
import pytest
import yaml

from walrus_operator import kube, settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
BASE = ROOT / "manifests" / "base"
CLUSTER_WIDE = ROOT / "manifests" / "cluster-wide"
CHART = ROOT / "charts" / "walrus-operator"


def _tool(name: str) -> str:
    """kubectl/helm: `make tools` links them into the virtualenv's bin (or any on PATH)."""
    venv_bin = str(pathlib.Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    assert found, f"{name} not found: run `make tools` (builds and links it)"
    return found


def _load_all(path: pathlib.Path) -> list[dict[str, typing.Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _base_objects() -> list[dict[str, typing.Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        objects.extend(_load_all(BASE / resource))
    return objects


def _rendered(directory: pathlib.Path) -> list[dict[str, typing.Any]]:
    text = subprocess.run(
        [_tool("kubectl"), "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _of_kind(objects: list[dict[str, typing.Any]], kind: str) -> dict[str, typing.Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_chart_crds_are_copies_of_the_base_crds() -> None:
    base = {p.name: p.read_bytes() for p in (BASE / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert chart == base, "run `make crds`"


def test_operator_runs_two_replicas_that_elect_a_leader() -> None:
    deployment = _of_kind(_base_objects(), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]  # rolling: the standby keeps watch
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    parsed = settings.OperatorSettings.from_environment(
        {item["name"]: item["value"] for item in env if "value" in item}
    )
    assert parsed.leader_election
    assert parsed.node_tls  # the nodes serve TLS, said explicitly
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kustomize_base_renders() -> None:
    rendered = subprocess.run(
        [_tool("kubectl"), "kustomize", str(BASE)], check=True, capture_output=True, text=True
    ).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    assert kinds.count("CustomResourceDefinition") == 4
    assert {"Deployment", "Role", "RoleBinding", "ClusterRole", "ServiceAccount"} <= set(kinds)


def _helper_rules(name: str) -> list[dict[str, typing.Any]]:
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    match = re.search(
        r'define "walrus-operator\.' + name + r'" -}}\n(.*?)\n{{- end -}}', text, re.S
    )
    assert match is not None, name
    return typing.cast(list[dict[str, typing.Any]], yaml.safe_load(match.group(1)))


def _sorted(rules: list[dict[str, typing.Any]]) -> list[str]:
    return sorted(map(json.dumps, rules))


def test_chart_rbac_equals_the_kustomize_rules() -> None:
    base = _base_objects()
    assert _sorted(_helper_rules("namespacedRules")) == _sorted(_of_kind(base, "Role")["rules"])
    assert _sorted(_helper_rules("clusterRules")) == _sorted(_of_kind(base, "ClusterRole")["rules"])
    wide = _load_all(CLUSTER_WIDE / "cluster-role.yaml")
    assert _sorted(_of_kind(wide, "ClusterRole")["rules"]) == _sorted(
        _of_kind(base, "Role")["rules"]
    )


def test_base_rbac_is_namespaced_and_reads_no_secret_elsewhere() -> None:
    base = _base_objects()
    cluster_rules = _of_kind(base, "ClusterRole")["rules"]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in cluster_rules)
    assert not any("secrets" in rule["resources"] for rule in cluster_rules)
    container = _of_kind(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    [watched] = [e for e in container["env"] if e["name"] == "WALRUS_OPERATOR_NAMESPACES"]
    assert watched["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_cluster_wide_overlay_watches_every_namespace() -> None:
    objects = _rendered(CLUSTER_WIDE)
    container = _of_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    [watched] = [e for e in container["env"] if e["name"] == "WALRUS_OPERATOR_NAMESPACES"]
    assert watched == {"name": "WALRUS_OPERATOR_NAMESPACES", "value": ""}
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"}
    assert names == {"walrus-operator-read", "walrus-operator-cluster-wide"}


def test_rbac_covers_every_kind_the_operator_touches() -> None:
    base = _base_objects()
    rules = _of_kind(base, "Role")["rules"] + _of_kind(base, "ClusterRole")["rules"]
    granted = {
        (group, resource)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for kind in kube.Kind:
        info = kind.value._api_info  # lightkube's resource description
        assert (info.resource.group, info.plural) in granted, kind


def test_manifest_settings_are_known_settings() -> None:
    known = {
        f"WALRUS_OPERATOR_{f.name.upper()}" for f in dataclasses.fields(settings.OperatorSettings)
    }
    container = _of_kind(_base_objects(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    assert set(env) <= known
    settings.OperatorSettings.from_environment(env)
    chart_env = re.findall(
        r"name: (WALRUS_OPERATOR_\w+)", (CHART / "templates" / "deployment.yaml").read_text()
    )
    assert set(chart_env) <= known


def test_chart_values_satisfy_the_values_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({**values, "resyncSeconds": 0})


@pytest.mark.parametrize(
    ("extra", "roles", "watched"),
    [
        ([], 1, "walrus-system"),
        (
            [
                "--set", "watchNamespaces={a,b}",
                "--set", "metrics.podMonitor.enabled=true",
                "--set", "metrics.gatewayPodMonitor.enabled=true",
            ],
            3,  # a, b, and the Lease's in the release's namespace
            "a,b",
        ),
        (["--set", "rbac.clusterWide=true"], 0, ""),
    ],
)  # fmt: skip
def test_chart_lints_and_renders(extra: list[str], roles: int, watched: str) -> None:
    subprocess.run([_tool("helm"), "lint", str(CHART), *extra], check=True, capture_output=True)
    rendered = subprocess.run(
        [_tool("helm"), "template", "walrus", str(CHART), "--namespace", "walrus-system", *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    deployment = _of_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2  # leader-elected
    assert "strategy" not in deployment["spec"]
    assert len([o for o in objects if o["kind"] == "Role"]) == roles
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["WALRUS_OPERATOR_NAMESPACES"] == watched
    assert env["WALRUS_OPERATOR_NODE_TLS"] == "true"
    [cluster_role] = [o for o in objects if o["kind"] == "ClusterRole"]
    granted = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert ("secrets" in granted) == (watched == "")
    # Leader election works however namespaces are watched: the release's namespace (where
    # the Lease lives) grants leases, through a Role or the cluster-wide ClusterRole.
    lease_grants = [
        o
        for o in objects
        if o["kind"] in {"Role", "ClusterRole"}
        and o["metadata"].get("namespace", "walrus-system") == "walrus-system"
        and any("leases" in rule["resources"] for rule in o["rules"])
    ]
    assert len(lease_grants) == 1
    assert ("leases" in granted) == (watched == "")  # only cluster-wide grants them there

    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodMonitor"}
    if watched == "a,b":
        gateways = monitors["walrus-walrus-operator-gateways"]
        assert gateways["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == (
            "walrus-gateway"
        )
        assert gateways["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    else:
        assert monitors == {}


@pytest.mark.parametrize(
    ("extra", "node_tls"),
    [
        (["--set", "nodeTls=false"], False),
        (["--set", "nodeTls=true"], True),
        # values of an older chart (an upgrade with --reuse-values): the defaults hold
        (
            [
                "--set",
                "nodeTls=null,certificateValidityDays=null,certificateRenewDays=null,"
                "rolloutSettleSeconds=null",
            ],
            True,
        ),
    ],
)
def test_chart_turns_node_tls_off_only_when_asked(extra: list[str], node_tls: bool) -> None:
    env = _operator_env(*extra)
    assert env["WALRUS_OPERATOR_NODE_TLS"] == str(node_tls).lower()
    parsed = settings.OperatorSettings.from_environment(env)
    assert parsed.node_tls is node_tls
    assert (parsed.certificate_validity_days, parsed.certificate_renew_days) == (90, 30)
    assert parsed.rollout_settle_seconds == 30


def _operator_env(*extra: str) -> dict[str, str]:
    """The literal environment of the operator's container as the chart renders it."""
    rendered = subprocess.run(
        [_tool("helm"), "template", "walrus", str(CHART), *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    container = _of_kind([d for d in yaml.safe_load_all(rendered) if d], "Deployment")["spec"][
        "template"
    ]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_chart_sets_the_rollout_settle_time() -> None:
    env = _operator_env("--set", "rolloutSettleSeconds=0")
    assert settings.OperatorSettings.from_environment(env).rollout_settle_seconds == 0


def test_chart_refuses_cluster_wide_with_namespaces() -> None:
    refused = subprocess.run(
        [
            _tool("helm"),
            "template",
            "walrus",
            str(CHART),
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "watchNamespaces={a}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "cannot be combined" in refused.stderr
