"""The CRDs (manifests/base/crds) against the samples, the typed models and their rules.

Every sample must be admitted (defaults, OpenAPI schema, CEL) and parse into its model;
each refused change must be refused with a message naming the field.
"""

from __future__ import annotations

import copy
import pathlib
import typing

import hypothesis
import hypothesis.strategies
import pytest
import yaml

from tests.unit.operator import crd_validation
from walrus_node.codec import params
from walrus_operator import errors, gateway_models, models, pod_policy

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
    ("WalrusNode", "spec.image", "", "spec.image"),
    ("WalrusNode", "spec.image", "Walrus Node:latest", "spec.image"),
    ("WalrusNode", "spec.image", "walrus-node:", "spec.image"),
    ("WalrusNode", "spec.image", "registry.example/walrus@sha256:xyz", "spec.image"),
    ("WalrusNode", "spec.resources.requests", {"cpu": "lots"}, "spec.resources.requests"),
    ("WalrusNode", "spec.resources.limits", {"memory": "2 GB"}, "spec.resources.limits"),
    (
        "WalrusNode",
        "spec.resources",
        {"requests": {"memory": "4Gi"}, "limits": {"memory": "2Gi"}},
        "spec.resources.requests must not exceed spec.resources.limits",
    ),
    ("WalrusNode", "metadata.name", "n" * 53, "metadata.name must be at most 52"),
    ("WalrusNode", "metadata.name", "Node.A", "metadata.name must be a DNS label"),
    ("WalrusNode", "spec.networkRef.name", "d" * 64, "spec.networkRef.name"),
    ("WalrusNode", "spec.podTemplate", {"labels": {"team": "x" * 64}}, "spec.podTemplate.labels"),
    ("WalrusNodePool", "metadata.name", "p" * 49, "metadata.name must be at most 48"),
    ("WalrusNetwork", "metadata.name", "n" * 64, "metadata.name must be at most 63"),
    ("WalrusNodePool", "spec.template.spec.image", "", "spec.template.spec.image"),
    ("WalrusNetwork", "spec.shardCount", 3, "spec.shardCount"),
    ("WalrusNetwork", "spec.shardCount", 1001, "spec.shardCount"),
    ("WalrusNetwork", "spec.maxShardsPerNode", 17, "spec.maxShardsPerNode"),
    # 16 shards: f = 5; one node holding 6 could lose more than the code tolerates.
    ("WalrusNetwork", "spec.maxShardsPerNode", 6, "must not exceed f"),
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


def test_a_network_of_1000_shards_is_admitted_and_parses() -> None:
    """Walrus's own shard count; the operator's bound is the codec's."""
    body = _edit(_sample("WalrusNetwork"), "spec.shardCount", 1000)
    _, problems = crd_validation.admit("WalrusNetwork", body)
    assert not problems
    assert models.parse_network(body).spec.shard_count == 1000
    assert models.MAX_SHARDS == params.MAX_SHARDS


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


POD_TEMPLATE_ATTACKS = [
    ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "hostPath volumes are not allowed"),
    (
        {"volumes": [{"name": "s", "secret": {"secretName": "node-b-keys"}}]},
        "Secret volumes are not allowed",
    ),
    (
        {"volumes": [{"name": "p", "projected": {"sources": [{"secret": {"name": "x"}}]}}]},
        "projected Secrets are not allowed",
    ),
    (
        {
            "volumes": [
                {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
            ]
        },
        "service-account tokens are not allowed",
    ),
    (
        {"volumes": [{"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "x"}}}]},
        "csi.nodePublishSecretRef is not allowed",
    ),
    (
        {"volumes": [{"name": "f", "flexVolume": {"driver": "d", "secretRef": {"name": "x"}}}]},
        "volume types that read a Secret are not allowed",
    ),
    (
        {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "admin", "key": "k"}}}]},
        "valueFrom.secretKeyRef is not allowed",
    ),
    (
        {"extraContainers": [{"name": "s", "image": "x", "securityContext": {"privileged": True}}]},
        "privileged containers are not allowed",
    ),
    (
        {
            "initContainers": [
                {
                    "name": "i",
                    "image": "x",
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                }
            ]
        },
        "capabilities.add is not allowed",
    ),
    (
        {
            "extraContainers": [
                {"name": "s", "image": "x", "ports": [{"containerPort": 1, "hostPort": 80}]}
            ]
        },
        "hostPort is not allowed",
    ),
    (
        {
            "extraContainers": [
                {"name": "s", "image": "x", "envFrom": [{"secretRef": {"name": "admin"}}]}
            ]
        },
        "envFrom.secretRef is not allowed",
    ),
    (
        {
            "extraContainers": [
                {
                    "name": "s",
                    "image": "x",
                    "env": [
                        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "a", "key": "k"}}}
                    ],
                }
            ]
        },
        "valueFrom.secretKeyRef is not allowed",
    ),
]


@pytest.mark.parametrize(("template", "message"), POD_TEMPLATE_ATTACKS)
def test_pod_template_cannot_escalate(template: dict[str, typing.Any], message: str) -> None:
    for kind, path in [
        ("WalrusNode", "spec.podTemplate"),
        ("WalrusNodePool", "spec.template.spec.podTemplate"),
    ]:
        body = _edit(_sample(kind), path, template)
        _, problems = crd_validation.admit(kind, body)
        assert any(message in problem for problem in problems), (kind, problems)


def test_host_namespaces_have_no_field_in_the_pod_template() -> None:
    body = _edit(_sample("WalrusNode"), "spec.podTemplate", {"hostNetwork": True, "hostPID": True})
    problems = crd_validation.admit("WalrusNode", body)[1]
    assert any("hostNetwork" in p for p in problems)


def test_harmless_overlays_are_admitted() -> None:
    template = {
        "labels": {"team": "storage", "example.com/tier": "gold"},
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "extra", "configMap": {"name": "extra"}},
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "extra"}}]}},
        ],
        "env": [{"name": "LOG", "value": "debug"}],
        "extraContainers": [
            {
                "name": "exporter",
                "image": "exporter:1",
                "ports": [{"containerPort": 9100}],
                "securityContext": {"privileged": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    body = _edit(_sample("WalrusNode"), "spec.podTemplate", template)
    body = _edit(
        body, "spec.resources", {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": "2"}}
    )
    body = _edit(
        body, "spec.image", "registry.example:5000/walrus/walrus-node:0.2.0@sha256:" + "a" * 64
    )
    assert crd_validation.admit("WalrusNode", body)[1] == []


@pytest.mark.parametrize(("template", "message"), POD_TEMPLATE_ATTACKS)
def test_the_operator_refuses_the_same_overlays_naming_the_field(
    template: dict[str, typing.Any], message: str
) -> None:
    """On an API server without the CEL rules, the operator's own check names the field."""
    with pytest.raises(errors.SpecInvalid) as refused:
        pod_policy.check(models.PodTemplate.model_validate(template))
    assert refused.value.field.startswith("spec.podTemplate.")
    key = refused.value.field.rsplit(".", 1)[-1]
    assert key in {
        "hostPath",
        "secret",
        "nodePublishSecretRef",
        "serviceAccountToken",
        "flexVolume",
        "secretKeyRef",
        "secretRef",
        "privileged",
        "add",
        "hostPort",
    }, refused.value.field


def test_the_operators_check_is_an_allow_list() -> None:
    template = models.PodTemplate.model_validate(
        {"volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}
    )
    with pytest.raises(errors.SpecInvalid, match="nfs volumes are not allowed"):
        pod_policy.check(template)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": ""}, "spec.image"),
        ({"image": "Not An Image"}, "spec.image"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "spec.resources.requests"),
        (
            {"resources": {"requests": {"memory": "4Gi"}, "limits": {"memory": "2Gi"}}},
            "spec.resources",
        ),
    ],
)
def test_models_refuse_what_the_schema_refuses(spec: dict[str, typing.Any], field: str) -> None:
    body = _sample("WalrusNode")
    body["spec"].update(spec)
    with pytest.raises(errors.SpecInvalid) as refused:
        models.parse_node(body)
    assert refused.value.field.startswith(field)


def test_the_operator_refuses_a_label_key_that_is_not_one() -> None:
    template = models.PodTemplate.model_validate({"labels": {"bad key!": "x"}})
    with pytest.raises(errors.SpecInvalid) as refused:
        pod_policy.check(template)
    assert refused.value.field == "spec.podTemplate.labels"
    pod_policy.check(models.PodTemplate.model_validate({"labels": {"example.com/tier": "a"}}))


_VOLUME_TYPES = sorted(
    pod_policy.ALLOWED_VOLUMES
    | {"hostPath", "secret", "nfs", "iscsi", "rbd", "cephfs", "flexVolume", "gitRepo"}
)


@hypothesis.given(
    kinds=hypothesis.strategies.lists(
        hypothesis.strategies.sampled_from(_VOLUME_TYPES), min_size=1, max_size=4
    )
)
def test_a_volume_is_admitted_exactly_when_its_source_is_allowed(kinds: list[str]) -> None:
    volumes = [{"name": f"v{i}", kind: {}} for i, kind in enumerate(kinds)]
    template = models.PodTemplate.model_validate({"volumes": volumes})
    allowed = all(kind in pod_policy.ALLOWED_VOLUMES for kind in kinds)
    try:
        pod_policy.check(template)
    except errors.SpecInvalid as refused:
        assert not allowed
        first = next(i for i, k in enumerate(kinds) if k not in pod_policy.ALLOWED_VOLUMES)
        assert refused.field == f"spec.podTemplate.volumes[{first}].{kinds[first]}"
    else:
        assert allowed
