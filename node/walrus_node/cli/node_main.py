"""``walrus-node``: run a storage node, or create its key.

walrus-node run --config node.yaml
walrus-node keygen --out node.key [--force]
walrus-node --version
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import pathlib
import sys

from walrus_node import allocator, logs
from walrus_node import config as config_mod
from walrus_node.protocol import keys
from walrus_node.transport import server, tls

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"walrus-node: {args.config}: {e}", file=sys.stderr)
        return 2
    logs.configure(cfg.log_level, cfg.log_format)
    if cfg.tune_allocator:
        allocator.tune()
    if not cfg.key_file.exists():
        print(
            f"walrus-node: key file {cfg.key_file} does not exist "
            f"(create it with: walrus-node keygen --out {cfg.key_file})",
            file=sys.stderr,
        )
        return 2
    try:
        asyncio.run(server.serve(cfg))
    except tls.TlsError as e:
        print(f"walrus-node: {args.config}: {e}", file=sys.stderr)
        return 2
    return 0


def _keygen(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    if out.exists() and not args.force:
        print(
            f"walrus-node: {out} exists; refusing to overwrite an identity (use --force)",
            file=sys.stderr,
        )
        return 2
    pair = keys.KeyPair.generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    pair.save(out)
    print(keys.encode_public_key(pair.public_key))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="walrus-node", description="Walrus storage node")
    parser.add_argument(
        "--version", action="version", version=importlib.metadata.version("walrus-k8s")
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve until SIGTERM")
    run.add_argument("--config", required=True, help="node.yaml (see docs/node-runtime.md)")
    run.set_defaults(fn=_run)
    keygen = sub.add_parser("keygen", help="create an Ed25519 identity; prints the public key")
    keygen.add_argument("--out", required=True)
    keygen.add_argument("--force", action="store_true", help="overwrite an existing key")
    keygen.set_defaults(fn=_keygen)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
