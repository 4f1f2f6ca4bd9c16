"""`walrus-operator` / `python -m walrus_operator`: start the operator.

Reads the settings once (`settings.OperatorSettings.from_environment`), checks that there
are Kubernetes credentials, registers the handlers and runs Kopf. Kopf runs standalone
(its peering would freeze every replica of equal priority); replicas elect a leader over
a Lease instead (`walrus_operator.leadership`), and only the leader acts. Configured by
environment only; `--help` lists it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import sys

import kopf
import lightkube.config.kubeconfig
import lightkube.core.exceptions

from walrus_operator import errors, handlers, settings

__all__ = ["main"]

_LOG_FORMATS = {
    "json": kopf.LogFormat.JSON,
    "plain": kopf.LogFormat.PLAIN,
    "full": kopf.LogFormat.FULL,
}


def _parser() -> argparse.ArgumentParser:
    defaults = settings.OperatorSettings()
    lines = [
        f"  WALRUS_OPERATOR_{field.name.upper():<24} default: "
        f"{_shown(getattr(defaults, field.name))}"
        for field in dataclasses.fields(defaults)
    ]
    parser = argparse.ArgumentParser(
        prog="walrus-operator",
        description=(
            "Run the Kubernetes operator for Walrus storage networks: reconciles "
            "WalrusNetwork, WalrusNode and WalrusNodePool resources and drives epochs. "
            "Credentials: the pod's service account, else $KUBECONFIG or ~/.kube/config."
        ),
        epilog="environment (docs/operator.md explains each):\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=importlib.metadata.version("walrus-k8s")
    )
    return parser


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "(empty: the whole cluster)"
    return str(value) if value != "" else "(empty)"


#: Where a pod's service account token is mounted (the API client's first choice).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _credentials_problem() -> str | None:
    """Why Kopf and the API client would find no credentials, or None if they will."""
    try:
        lightkube.config.kubeconfig.KubeConfig.from_env(service_account=SERVICE_ACCOUNT_DIR)
    except lightkube.core.exceptions.ConfigError as exc:
        return (
            "no Kubernetes credentials: not in a pod with a service account token, and "
            f"no usable kubeconfig ($KUBECONFIG or ~/.kube/config): {exc}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    _parser().parse_args(argv)
    try:
        config = settings.OperatorSettings.from_environment()
    except errors.SettingsInvalid as exc:
        print(f"walrus-operator: invalid setting {exc}", file=sys.stderr)
        return 2
    problem = _credentials_problem()
    if problem is not None:
        print(f"walrus-operator: {problem}", file=sys.stderr)
        return 2
    kopf.configure(log_format=_LOG_FORMATS[config.log_format])
    registry = kopf.OperatorRegistry()
    handlers.register(registry, config)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=config.liveness_endpoint or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
