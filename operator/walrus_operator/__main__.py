"""`walrus-operator` / `python -m walrus_operator`: start the operator.

Reads the settings once (`settings.OperatorSettings.from_environment`), registers the
handlers and runs Kopf. Standalone (no peering): the Deployment runs one replica with the
Recreate strategy, so two operators never handle the same object.
"""

from __future__ import annotations

import sys

import kopf

from walrus_operator import errors, handlers, settings

__all__ = ["main"]

_LOG_FORMATS = {
    "json": kopf.LogFormat.JSON,
    "plain": kopf.LogFormat.PLAIN,
    "full": kopf.LogFormat.FULL,
}


def main() -> int:
    try:
        config = settings.OperatorSettings.from_environment()
    except errors.SettingsInvalid as exc:
        print(f"walrus-operator: invalid setting {exc}", file=sys.stderr)
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
