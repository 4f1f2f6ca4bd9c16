"""Golden tests of the pure builders: `data/input/<case>.yaml` → `data/output/<case>.yaml`.

An input holds a WalrusNode, its WalrusNetwork (with its epoch state, when it has a
committee) and the reconciler's context values; the output is every child object, as
applied: committee.yaml is the committee file the nodes read. An input with
`expectError: <field>` must be refused with `SpecInvalid` naming that field.
`UPDATE_GOLDEN=1 pytest …` rewrites the outputs; review the diff.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import typing

import pytest
import yaml

from walrus_operator import epoch_record, errors, models
from walrus_operator.builders import children, context

DATA = pathlib.Path(__file__).parent / "data"
CASES = sorted(p.stem for p in (DATA / "input").glob("*.yaml"))


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (node.yaml, committee.yaml) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _context(case: dict[str, typing.Any]) -> context.NodeContext:
    node = models.parse_node(case["node"])
    network = models.parse_network(case["network"])
    values = case.get("context", {})
    record = epoch_record.load(network.status.epoch_state)
    return context.NodeContext(
        node=node,
        image=node.spec.image or values["defaultImage"],
        shard_count=network.spec.shard_count,
        committee_file=None if record is None else record.committee_file(),
        admin_public_keys=tuple(values.get("adminPublicKeys", ())),
        claim_size=values.get("claimSize", node.spec.storage.size),
        cluster_domain=values.get("clusterDomain", "cluster.local"),
        tls=bool(values.get("tls", False)),
    )


@pytest.mark.parametrize("case_name", CASES)
def test_builders_match_golden_output(case_name: str) -> None:
    case = yaml.safe_load((DATA / "input" / f"{case_name}.yaml").read_text())
    expected_field = case.get("expectError")
    if expected_field is not None:
        with pytest.raises(errors.SpecInvalid) as caught:
            children.build_children(_context(case))
        assert caught.value.field == expected_field
        assert expected_field in str(caught.value)
        return
    built = children.build_children(_context(case))
    output = DATA / "output" / f"{case_name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        output.write_text(yaml.dump_all(built, Dumper=_Dumper, sort_keys=False))
    assert built == list(yaml.safe_load_all(output.read_text()))


def test_every_error_case_names_a_field_and_every_other_case_has_an_output() -> None:
    for name in CASES:
        case = yaml.safe_load((DATA / "input" / f"{name}.yaml").read_text())
        has_output = (DATA / "output" / f"{name}.yaml").exists()
        assert has_output != ("expectError" in case), name


def _label_values(body: typing.Any) -> list[str]:
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key in {"labels", "matchLabels"} and isinstance(value, dict):
                found.extend(str(v) for v in value.values())
            else:
                found.extend(_label_values(value))
    elif isinstance(body, list):
        for item in body:
            found.extend(_label_values(item))
    return found


def test_the_longest_names_the_crds_admit_keep_every_child_within_limits() -> None:
    """The CRDs cap a pool at 48 characters and a node at 52 (a pool member is
    `<pool>-999`), a network at 63: every child name, DNS label and label value fits."""
    pool = "p" * 48
    node_name = f"{pool}-999"
    network = "n" * 63
    case = yaml.safe_load((DATA / "input" / "basic.yaml").read_text())
    case["node"]["metadata"]["name"] = node_name
    case["node"]["metadata"]["labels"] = {"walrus-k8s.io/pool": pool}
    case["node"]["spec"]["networkRef"]["name"] = network
    case["network"]["metadata"]["name"] = network
    ctx = _context(case)
    built = children.build_children(dataclasses.replace(ctx, tls=True))
    for body in built:
        assert len(body["metadata"]["name"]) <= 63, body["kind"]
        assert all(len(value) <= 63 for value in _label_values(body)), body["kind"]
    # What the StatefulSet controller derives: the pod's name label and its revision hash
    # label (`<statefulset>-<hash of up to 10 characters>`).
    assert len(f"{node_name}-0") <= 63
    assert len(f"{node_name}-{'h' * 10}") <= 63
    assert len(f"data-{node_name}-0") <= 253
