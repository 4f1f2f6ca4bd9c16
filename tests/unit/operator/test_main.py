"""The `walrus-operator` command line: help, version, and failing fast without credentials."""

from __future__ import annotations

import pathlib

import pytest

from walrus_operator import __main__ as cli
from walrus_operator import settings


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for field in ("NAMESPACES", "NODE_IMAGE", "ENDPOINT_MODE", "EPOCH_POLL_SECONDS"):
        assert f"WALRUS_OPERATOR_{field}" in out
    assert out.count("WALRUS_OPERATOR_") == len(settings.OperatorSettings.__dataclass_fields__)


def test_unknown_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--namespace", "x"])
    assert done.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_no_credentials_is_a_clear_error_not_a_retry_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SERVICE_ACCOUNT_DIR", str(tmp_path / "no-service-account"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "no Kubernetes credentials" in err and "missing" in err


def test_an_invalid_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WALRUS_OPERATOR_ENDPOINT_MODE", "carrier-pigeon")
    assert cli.main([]) == 2
    assert "WALRUS_OPERATOR_ENDPOINT_MODE" in capsys.readouterr().err
