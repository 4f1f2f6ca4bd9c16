"""The CRDs (manifests/base/crds) against the samples, the typed models and their rules.

Every sample must be admitted (defaults, OpenAPI schema, CEL) and parse into its model;
each refused change must be refused with a message naming the field.
"""

from __future__ import annotations

import copy
import pathlib
import typing

import pytest
import yaml

from tests.unit.operator import crd_validation
from walrus_operator import gateway_models, models

SAMPLES = sorted(crd_validation.SAMPLES_DIR.glob("*.yaml"))
PARSERS: dict[str, typing.Callable[[typing.Any], object]] = {
    "WalrusNetwork": models.parse_network,
    "WalrusNode": models.parse_node,
    "WalrusNodePool": models.parse_pool,
    "WalrusGateway": gateway_models.parse_gateway,
}


def _sample(kind: str) -> dict[str, typing.Any]:
    for path in SAMPLES:
        body = yaml.safe_load(path.read_text())
        if body["kind"] == kind:
            return typing.cast(dict[str, typing.Any], body)
    raise AssertionError(f"no sample of kind {kind}")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_is_admitted_and_parses(path: pathlib.Path) -> None:
    body = yaml.safe_load(path.read_text())
    defaulted, problems = crd_validation.admit(body["kind"], body)
    assert problems == []
    PARSERS[body["kind"]](defaulted)
    PARSERS[body["kind"]](body)  # the models' defaults match the schema's


def test_there_is_a_sample_of_every_kind() -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in SAMPLES}
    assert kinds == set(crd_validation.KINDS)


def test_pool_template_spec_schema_is_the_node_spec_schema() -> None:
    node_spec = crd_validation.schema("WalrusNode")["properties"]["spec"]
    pool = crd_validation.schema("WalrusNodePool")["properties"]["spec"]
    assert pool["properties"]["template"]["properties"]["spec"] == node_spec


def test_pool_has_scale_subresource() -> None:
    version = crd_validation.crd("WalrusNodePool")["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.labelSelector",
    }


def _edit(body: dict[str, typing.Any], path: str, value: object) -> dict[str, typing.Any]:
    edited = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = edited
    for part in parents:
        target = target.setdefault(part, {})
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return edited


_DELETE = object()

REFUSED_CREATES = [
    ("WalrusNode", "spec.staking.stake", -1, "spec.staking.stake"),
    ("WalrusNode", "spec.staking.commissionBps", 10001, "spec.staking.commissionBps"),
    ("WalrusNode", "spec.staking.commissionBps", -5, "spec.staking.commissionBps"),
    ("WalrusNode", "spec.storage.size", "0", "spec.storage.size"),
    ("WalrusNode", "spec.storage.size", "lots", "spec.storage.size"),
    ("WalrusNode", "spec.networkRef", _DELETE, "networkRef"),
    (
        "WalrusNode",
        "spec.podTemplate",
        {"volumes": [{"name": "keys", "emptyDir": {}}]},
        "spec.podTemplate.volumes",
    ),
    (
        "WalrusNode",
        "spec.podTemplate",
        {"extraContainers": [{"name": "node", "image": "x"}]},
        "spec.podTemplate.extraContainers",
    ),
    ("WalrusNetwork", "spec.shardCount", 3, "spec.shardCount"),
    ("WalrusNetwork", "spec.shardCount", 257, "spec.shardCount"),
    ("WalrusNetwork", "spec.maxShardsPerNode", 17, "spec.maxShardsPerNode"),
    ("WalrusNetwork", "spec.pricing.quantileBps", 0, "spec.pricing.quantileBps"),
    ("WalrusNodePool", "spec.replicas", -1, "spec.replicas"),
    ("WalrusNodePool", "spec.template.spec.staking.stake", -3, "staking.stake"),
]


@pytest.mark.parametrize(("kind", "path", "value", "named"), REFUSED_CREATES)
def test_invalid_spec_is_refused_naming_the_field(
    kind: str, path: str, value: object, named: str
) -> None:
    body = _edit(_sample(kind), path, value)
    _, problems = crd_validation.admit(kind, body)
    assert problems, f"{path}={value!r} was admitted"
    assert any(named in problem for problem in problems), problems


REFUSED_UPDATES = [
    ("WalrusNode", "spec.storage.size", "99Gi", "spec.storage.size may only grow"),
    ("WalrusNode", "spec.storage.size", "100G", "spec.storage.size may only grow"),
    (
        "WalrusNode",
        "spec.storage.storageClassName",
        "fast",
        "spec.storage.storageClassName is immutable",
    ),
    ("WalrusNode", "spec.networkRef.name", "other", "spec.networkRef.name is immutable"),
    ("WalrusNetwork", "spec.shardCount", 32, "spec.shardCount is immutable"),
    (
        "WalrusNodePool",
        "spec.template.spec.storage.size",
        "10Gi",
        "spec.storage.size may only grow",
    ),
    (
        "WalrusNodePool",
        "spec.template.spec.storage.storageClassName",
        "fast",  # the sample leaves it unset (the default class): setting it later is a change
        "spec.storage.storageClassName is immutable",
    ),
]


@pytest.mark.parametrize(("kind", "path", "value", "message"), REFUSED_UPDATES)
def test_forbidden_change_is_refused_naming_the_field(
    kind: str, path: str, value: object, message: str
) -> None:
    old = _sample(kind)
    new = _edit(old, path, value)
    assert crd_validation.admit(kind, new)[1] == []  # fine as a new object...
    assert message in crd_validation.admit(kind, new, old)[1]  # ...refused as a change


ALLOWED_UPDATES = [
    ("WalrusNode", "spec.storage.size", "200Gi"),
    ("WalrusNode", "spec.storage.size", "0.5Ti"),
    ("WalrusNode", "spec.staking.stake", 0),
    ("WalrusNode", "spec.paused", True),
    ("WalrusNetwork", "spec.epochDurationSeconds", 60),
    ("WalrusNodePool", "spec.replicas", 0),
    ("WalrusNodePool", "spec.template.spec.storage.size", "51Gi"),
]


@pytest.mark.parametrize(("kind", "path", "value"), ALLOWED_UPDATES)
def test_allowed_change_is_admitted(kind: str, path: str, value: object) -> None:
    old = _sample(kind)
    assert crd_validation.admit(kind, _edit(old, path, value), old)[1] == []


def test_unknown_field_in_a_typed_object_is_flagged() -> None:
    body = _edit(_sample("WalrusNode"), "spec.staking.stak", 5)
    assert any("stak" in p for p in crd_validation.admit("WalrusNode", body)[1])
