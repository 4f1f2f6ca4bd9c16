"""``walrus gateway``: the HTTP aggregator and publisher (docs/gateway.md)."""

from __future__ import annotations

import argparse
import pathlib

from walrus_node.client import config as config_mod
from walrus_node.gateway import server
from walrus_node.gateway.settings import GatewaySettings, SettingsError

__all__ = ["add_parser"]


def settings_from(args: argparse.Namespace) -> GatewaySettings:
    both = not (args.aggregator or args.publisher)
    try:
        return GatewaySettings(
            aggregator=args.aggregator or both,
            publisher=args.publisher or both,
            host=args.host,
            port=args.port,
            committee_refresh_seconds=args.committee_refresh_seconds,
            read_window=args.read_window,
            cache_bytes=args.cache_bytes,
            cache_max_blob_bytes=args.cache_max_blob_bytes,
            max_body_bytes=args.max_body_bytes,
            max_concurrent_uploads=args.max_concurrent_uploads,
            max_queued_uploads=args.max_queued_uploads,
            queue_timeout_seconds=args.queue_timeout_seconds,
            max_epochs=args.max_epochs,
            jwt_key_file=pathlib.Path(args.jwt_key_file) if args.jwt_key_file else None,
            jwt_algorithm=args.jwt_algorithm,
            jwt_expiring_seconds=args.jwt_expiring_seconds,
            owner_key_file=pathlib.Path(args.owner_key_file) if args.owner_key_file else None,
        )
    except SettingsError as e:
        raise config_mod.ClientConfigError(str(e)) from e


def _run(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    for path in (settings.jwt_key_file, settings.owner_key_file):
        if path is not None and not path.is_file():
            raise config_mod.ClientConfigError(f"no such file: {path}")
    server.serve(settings, config_mod.load(args.config))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = GatewaySettings()
    p = sub.add_parser(
        "gateway",
        help="serve Walrus's HTTP API: aggregator (reads) and publisher (writes)",
        description="Without --aggregator or --publisher, serves both.",
    )
    p.add_argument("--aggregator", action="store_true", help="serve GET/HEAD /v1/blobs/ID")
    p.add_argument("--publisher", action="store_true", help="serve PUT /v1/blobs")
    p.add_argument("--host", default=defaults.host, help="address to bind")
    p.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    p.add_argument(
        "--committee-refresh-seconds", type=float, default=defaults.committee_refresh_seconds
    )
    p.add_argument(
        "--read-window", type=int, default=defaults.read_window, help="slivers in flight per read"
    )
    p.add_argument("--cache-bytes", type=int, default=defaults.cache_bytes, help="0: no cache")
    p.add_argument("--cache-max-blob-bytes", type=int, default=defaults.cache_max_blob_bytes)
    p.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes)
    p.add_argument("--max-concurrent-uploads", type=int, default=defaults.max_concurrent_uploads)
    p.add_argument("--max-queued-uploads", type=int, default=defaults.max_queued_uploads)
    p.add_argument("--queue-timeout-seconds", type=float, default=defaults.queue_timeout_seconds)
    p.add_argument("--max-epochs", type=int, default=defaults.max_epochs, help="0: no limit")
    p.add_argument("--jwt-key-file", help="secret or PEM public key; requires tokens on PUT")
    p.add_argument("--jwt-algorithm", default=defaults.jwt_algorithm)
    p.add_argument("--jwt-expiring-seconds", type=int, default=defaults.jwt_expiring_seconds)
    p.add_argument("--owner-key-file", help="secret deriving each tenant's owner key")
    p.set_defaults(fn=_run)
