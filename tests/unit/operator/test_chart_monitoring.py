"""The chart's alerts and dashboard: off by default, golden when on (`helm template`),
and every operator metric they use is one the operator exports.

`UPDATE_GOLDEN=1` rewrites data/chart/monitoring.yaml; review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import yaml

from tests.unit.operator.test_packaging import CHART, _tool
from walrus_operator import metrics

GOLDEN = pathlib.Path(__file__).parent / "data" / "chart" / "monitoring.yaml"
_ON = [
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "metrics.grafanaDashboard.enabled=true",
]


def _template(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("helm"),
            "template",
            "walrus",
            str(CHART),
            "--namespace",
            "walrus-system",
            "--show-only",
            "templates/monitoring.yaml",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_monitoring_is_off_by_default() -> None:
    rendered = _template()
    # helm refuses --show-only for a template that renders nothing
    assert rendered.returncode != 0
    assert "could not find template" in rendered.stderr


def test_alerts_and_dashboard_match_golden_output() -> None:
    rendered = _template(*_ON)
    assert rendered.returncode == 0, rendered.stderr
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(rendered.stdout)
    assert list(yaml.safe_load_all(rendered.stdout)) == list(yaml.safe_load_all(GOLDEN.read_text()))
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    rule, dashboard = docs["PrometheusRule"], docs["ConfigMap"]
    alerts = {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}
    assert {
        "WalrusEpochChangeStuck",
        "WalrusShardsOffline",
        "WalrusNodeNotServing",
        "WalrusCertificateRateDrop",
    } <= alerts
    assert json.loads(dashboard["data"]["walrus.json"])["uid"] == "walrus-networks"


def test_alert_thresholds_come_from_values() -> None:
    rendered = _template(*_ON, "--set", "metrics.prometheusRule.epochChangeStuckMinutes=90")
    rule = next(
        d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "PrometheusRule"
    )
    [stuck] = [
        r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "WalrusEpochChangeStuck"
    ]
    assert stuck["expr"].endswith("> 5400")


def test_every_operator_metric_used_exists() -> None:
    """A renamed metric must not silently empty a panel or disarm an alert."""
    families = {family.name for family in metrics.Metrics().registry.collect()}
    text = (CHART / "templates" / "monitoring.yaml").read_text() + (
        CHART / "files" / "dashboard.json"
    ).read_text()
    used = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for name in re.findall(r"walrus_operator_[a-z_]+", text)
    }
    assert len(used) >= 10
    assert used <= families, used - families
