"""Writes the WalrusNode spec schema (manifests/base/crds/walrusnodes.yaml) into the
WalrusNodePool CRD as `spec.template.spec`, so the two cannot drift. Run by
`scripts/sync-crds.sh` (`make crds`); tests/unit/operator/test_crds.py checks the result.

The node CRD is hand-written and may use YAML anchors; the pool's copy is the expanded
schema, dumped in block style at the template's indentation.
"""

from __future__ import annotations

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODES = ROOT / "manifests" / "base" / "crds" / "walrusnodes.yaml"
POOLS = ROOT / "manifests" / "base" / "crds" / "walrusnodepools.yaml"
INDENT = 20  # `spec:` under `template.properties`


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def main() -> None:
    crd = yaml.safe_load(NODES.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    dumped = yaml.dump(
        {"spec": spec}, Dumper=_NoAliases, sort_keys=False, width=100, allow_unicode=True
    )
    block = "".join(" " * INDENT + line + "\n" for line in dumped.splitlines())
    text = POOLS.read_text()
    pattern = re.compile(r"^ {20}spec:\n(?:^ {21,}.*\n)+", re.M)
    matches = list(pattern.finditer(text))
    assert len(matches) == 1, "the pool CRD must have one template spec block"
    POOLS.write_text(text[: matches[0].start()] + block + text[matches[0].end() :])


if __name__ == "__main__":
    main()
