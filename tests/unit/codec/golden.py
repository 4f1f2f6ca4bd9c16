"""Golden vectors: fixed inputs and the exact encodings they must produce.

``golden_vectors.json`` (next to this file) stores, for each input below, its blob ID,
symbol size, SHA-256 of the metadata bytes and of every sliver, and one recovery symbol
with its proof. ``test_golden.py`` re-encodes the inputs and compares, so no change to
the code, the field, the layout, the hash or the wire format can slip through unnoticed:
any of them changes every blob ID in the network.

SHA-256 (not the codec's own BLAKE3) fingerprints the outputs, so the file also catches
a change of the codec's hash function.

When a format change is deliberate, regenerate the file and commit it with the change,
saying why in the commit message::

    .venv/bin/python -m tests.unit.codec.golden --write

Without ``--write`` the command only reports which vectors differ.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
from typing import Any

from walrus_node.codec import decoder, encoder, recovery
from walrus_node.codec.params import SliverType

PATH = pathlib.Path(__file__).with_name("golden_vectors.json")

INPUTS: list[dict[str, Any]] = [
    {"name": "n4-empty", "n_shards": 4, "hex": ""},
    {"name": "n5-one-byte", "n_shards": 5, "hex": "ff"},
    {"name": "n7-walrus", "n_shards": 7, "hex": b"walrus".hex()},
    {"name": "n10-pattern-10000", "n_shards": 10, "pattern": 10_000},
    {"name": "n31-pattern-65537", "n_shards": 31, "pattern": 65_537},
    {"name": "n256-pattern-1000", "n_shards": 256, "pattern": 1000},
    {"name": "n1000-pattern-100000", "n_shards": 1000, "pattern": 100_000},
]
"""``hex`` gives the blob's bytes; ``pattern: L`` the first L bytes of :func:`pattern`."""


def pattern(length: int) -> bytes:
    """A deterministic, non-repeating byte string: SHAKE-256 of ``walrus-k8s golden``."""
    return hashlib.shake_256(b"walrus-k8s golden").digest(length)


def blob_of(spec: dict[str, Any]) -> bytes:
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return pattern(spec["pattern"])


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def compute(spec: dict[str, Any]) -> dict[str, Any]:
    """The expected outputs for one input, as stored in the JSON file."""
    blob = blob_of(spec)
    n = spec["n_shards"]
    enc = encoder.encode(blob, n)
    assert decoder.decode_primary(enc.metadata, {i: enc.primary(i) for i in range(n)}) == blob
    # The symbol that the last primary sliver gives towards rebuilding secondary sliver 0.
    (symbol,) = recovery.make_symbols(
        enc.params, SliverType.PRIMARY, n - 1, enc.primary(n - 1), enc.symbol_size, [0]
    )
    return {
        "blob_id": str(enc.blob_id),
        "symbol_size": enc.symbol_size,
        "metadata_sha256": sha256_hex(enc.metadata.to_bytes()),
        "primary_sha256": [sha256_hex(enc.primary(i)) for i in range(n)],
        "secondary_sha256": [sha256_hex(enc.secondary(i)) for i in range(n)],
        "recovery_symbol": {
            "source": f"primary {n - 1}",
            "target": "secondary 0",
            "data_sha256": sha256_hex(symbol.data),
            "proof": [node.hex() for node in symbol.proof],
        },
    }


def vectors() -> list[dict[str, Any]]:
    return [{**spec, "expected": compute(spec)} for spec in INPUTS]


def load() -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = json.loads(PATH.read_text())["vectors"]
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {PATH.name}")
    args = parser.parse_args(argv)
    fresh = vectors()
    if args.write:
        document = {
            "about": "Codec golden vectors; see tests/unit/codec/golden.py before editing.",
            "vectors": fresh,
        }
        PATH.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {len(fresh)} vectors to {PATH}")
        return 0
    stored = {v["name"]: v for v in load()} if PATH.exists() else {}
    differ = [v["name"] for v in fresh if stored.get(v["name"]) != v]
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(fresh) - len(differ)} of {len(fresh)} vectors match {PATH.name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
