"""The deployment material agrees with itself and with the code.

- the chart's CRDs are byte-identical copies of manifests/base/crds (`make crds`);
- the kustomize base renders, with one operator replica and the Recreate strategy;
- the chart's RBAC rules equal the kustomize ClusterRole's, and cover every kind the
  operator's `kube` module touches;
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


def _of_kind(objects: list[dict[str, typing.Any]], kind: str) -> dict[str, typing.Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def test_chart_crds_are_copies_of_the_base_crds() -> None:
    base = {p.name: p.read_bytes() for p in (BASE / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert chart == base, "run `make crds`"


def test_operator_runs_once_with_recreate() -> None:
    deployment = _of_kind(_base_objects(), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kustomize_base_renders() -> None:
    rendered = subprocess.run(
        [_tool("kubectl"), "kustomize", str(BASE)], check=True, capture_output=True, text=True
    ).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    assert kinds.count("CustomResourceDefinition") == 4
    assert {"Deployment", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} <= set(kinds)


def _helper_rules(name: str) -> list[dict[str, typing.Any]]:
    text = (CHART / "templates" / "_helpers.tpl").read_text()
    match = re.search(
        r'define "walrus-operator\.' + name + r'" -}}\n(.*?)\n{{- end -}}', text, re.S
    )
    assert match is not None, name
    return typing.cast(list[dict[str, typing.Any]], yaml.safe_load(match.group(1)))


def test_chart_rbac_equals_the_base_cluster_role() -> None:
    base_rules = _of_kind(_base_objects(), "ClusterRole")["rules"]
    chart_rules = _helper_rules("namespacedRules") + _helper_rules("clusterRules")
    key = json.dumps
    assert sorted(map(key, chart_rules)) == sorted(map(key, base_rules))


def test_rbac_covers_every_kind_the_operator_touches() -> None:
    rules = _of_kind(_base_objects(), "ClusterRole")["rules"]
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
    env = {item["name"]: item["value"] for item in container["env"]}
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
    "extra",
    [
        [],
        [
            "--set", "watchNamespaces={a,b}",
            "--set", "metrics.podMonitor.enabled=true",
            "--set", "metrics.gatewayPodMonitor.enabled=true",
        ],
    ],
)  # fmt: skip
def test_chart_lints_and_renders(extra: list[str]) -> None:
    subprocess.run([_tool("helm"), "lint", str(CHART), *extra], check=True, capture_output=True)
    rendered = subprocess.run(
        [_tool("helm"), "template", "walrus", str(CHART), "--namespace", "walrus-system", *extra],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    deployment = _of_kind(objects, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    roles = [o for o in objects if o["kind"] == "Role"]
    assert len(roles) == (2 if extra else 0)
    monitors = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodMonitor"}
    if extra:
        gateways = monitors["walrus-walrus-operator-gateways"]
        assert gateways["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == (
            "walrus-gateway"
        )
        assert gateways["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    else:
        assert monitors == {}
