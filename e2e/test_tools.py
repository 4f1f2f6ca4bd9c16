"""The client tools built with the control plane: helm and kubectl's kustomize, against
the real API server. The operator's chart and manifests are tested with these."""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e.controlplane import cluster as controlplane


def helm(cluster: controlplane.Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.binaries.helm), *args],
        capture_output=True,
        text=True,
        env=cluster.env(),
        check=False,
    )


def write_chart(root: Path) -> Path:
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


def test_helm_lints_renders_and_installs_a_chart(
    cluster: controlplane.Cluster, tmp_path: Path
) -> None:
    chart = write_chart(tmp_path)
    assert helm(cluster, "version", "--short").stdout.startswith("v3.22.0")
    lint = helm(cluster, "lint", str(chart))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = helm(cluster, "template", "demo", str(chart), "--set", "greeting=hi").stdout
    assert "name: demo-cm" in rendered
    assert 'greeting: "hi"' in rendered

    installed = helm(cluster, "install", "demo", str(chart), "--namespace", "default", "--wait")
    assert installed.returncode == 0, installed.stderr
    got = cluster.kubectl("get", "configmap", "demo-cm", "-o", "jsonpath={.data.greeting}")
    assert got.stdout == "hello"
    assert helm(cluster, "uninstall", "demo", "--namespace", "default").returncode == 0


def test_kubectl_kustomize_renders_a_kustomization(
    cluster: controlplane.Cluster, tmp_path: Path
) -> None:
    (tmp_path / "kustomization.yaml").write_text("namePrefix: walrus-\nresources: [cm.yaml]\n")
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: b}\n"
    )
    rendered = cluster.kubectl("kustomize", str(tmp_path)).stdout
    assert "name: walrus-settings" in rendered
    applied = cluster.kubectl("apply", "-k", str(tmp_path), "--namespace", "default")
    assert "configmap/walrus-settings" in applied.stdout


def test_service_account_kubeconfig_has_only_the_accounts_permissions(
    cluster: controlplane.Cluster, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "--namespace", "default")
    cluster.kubectl(
        "create",
        "role",
        "cm-reader",
        "--verb=get,list",
        "--resource=configmaps",
        "--namespace",
        "default",
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "reader",
        "--role=cm-reader",
        "--serviceaccount=default:reader",
        "--namespace",
        "default",
    )
    config = cluster.service_account_kubeconfig("default", "reader", tmp_path / "reader")
    env = {**cluster.env(), "KUBECONFIG": str(config)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cluster.binaries.kubectl), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    assert kubectl("get", "configmaps").returncode == 0
    denied = kubectl("get", "secrets")
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
