"""Golden vectors of signed messages: fixed inputs, the exact bytes signed and the
signature of a fixed key over them.

``signed_golden.json`` (next to this file) stores, for each input below, the bytes
:func:`walrus_node.protocol.messages.deletion_message` builds and the Ed25519 signature
of the key with seed ``SEED`` (Ed25519 signatures are deterministic).
``test_signed_golden.py`` rebuilds and compares, so a change of the layout, the domain
tag or the field order cannot slip through unnoticed: every client's deletions would stop
verifying on every node.

When a format change is deliberate, give it a new domain tag, regenerate the file and
commit it with the change, saying why in the commit message::

    .venv/bin/python -m tests.unit.node.signed_golden --write

Without ``--write`` the command only reports which vectors differ.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from walrus_node.protocol import keys, messages

PATH = pathlib.Path(__file__).with_name("signed_golden.json")

SEED = bytes(range(32))
"""Private key seed of the signing key."""

INPUTS: list[dict[str, Any]] = [
    {"name": "deletion-no-network", "network_id": "", "epoch": 0, "blob_id": "00" * 32},
    {"name": "deletion-prod", "network_id": "walrus/prod", "epoch": 7, "blob_id": "ab" * 32},
    {
        "name": "deletion-long-epoch",
        "network_id": "testbed-0123456789abcdef",
        "epoch": 2**64 - 1,
        "blob_id": bytes(range(32, 64)).hex(),
    },
]


def signer() -> keys.KeyPair:
    return keys.KeyPair(ed25519.Ed25519PrivateKey.from_private_bytes(SEED))


def compute(vector: dict[str, Any]) -> dict[str, str]:
    key = signer()
    message = messages.deletion_message(
        vector["network_id"], vector["epoch"], bytes.fromhex(vector["blob_id"]), key.public_key
    )
    return {
        "owner_public_key": key.public_key.hex(),
        "message": message.hex(),
        "signature": key.sign(message).hex(),
    }


def load() -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = json.loads(PATH.read_text())
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the golden file")
    args = parser.parse_args(argv)
    vectors = [{**v, "expected": compute(v)} for v in INPUTS]
    if args.write:
        PATH.write_text(json.dumps(vectors, indent=2) + "\n")
        return 0
    stored = {v["name"]: v for v in load()} if PATH.exists() else {}
    differ = [v["name"] for v in vectors if stored.get(v["name"]) != v]
    for name in differ:
        print(f"differs: {name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
