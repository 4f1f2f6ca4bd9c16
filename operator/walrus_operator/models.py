"""Typed views of the three custom resources: WalrusNetwork, WalrusNode, WalrusNodePool.

The handlers' first step is `parse_*(body)`: a Kubernetes object (a plain dict, camelCase)
becomes a frozen pydantic model, so no untyped dict reaches the reconcilers. A validation
failure becomes `errors.SpecInvalid` naming the field as the CRD spells it
(`spec.staking.commissionBps`). The API server has already applied the CRD's schema,
defaults and CEL rules; these models repeat the rules that matter to the operator so that
a body built in a test, or read from an older API server, is held to the same contract.

Pure: no Kubernetes client, no Kopf. Called by the handlers, reconcilers and tests.
"""

from __future__ import annotations

import collections.abc
import re
import typing

import pydantic
import pydantic.alias_generators

from walrus_operator import errors, quantity

__all__ = [
    "Meta",
    "NetworkPolicy",
    "NetworkRef",
    "NetworkSpec",
    "NetworkStatus",
    "NodePoll",
    "NodeSpec",
    "NodeStatus",
    "PodTemplate",
    "PoolSpec",
    "PoolTemplate",
    "Pricing",
    "Resources",
    "Scheduling",
    "Staking",
    "Storage",
    "WalrusNetwork",
    "WalrusNode",
    "WalrusNodePool",
    "parse_network",
    "parse_node",
    "parse_pool",
]

JsonObject = dict[str, typing.Any]
"""A Kubernetes sub-object the operator passes through untouched (an Affinity, a Container)."""

MAX_SHARDS = 1000
"""The codec's limit (``walrus_node.codec.params.MAX_SHARDS``; a unit test keeps them equal)."""
MIN_SHARDS = 4


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class _Observed(pydantic.BaseModel):
    """Status and metadata: written by others, so unknown fields are ignored, not refused."""

    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


# --------------------------------------------------------------------------- metadata


class Meta(_Observed):
    """The parts of `metadata` the operator uses."""

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = pydantic.Field(default_factory=dict)
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)
    deletion_timestamp: str | None = None


# --------------------------------------------------------------------------- WalrusNetwork


class Pricing(_Model):
    min_storage_price: int = pydantic.Field(default=0, ge=0)
    """Floor of the storage price, in the smallest unit per encoded MiB per epoch."""
    min_write_price: int = pydantic.Field(default=0, ge=0)
    """Floor of the write price, in the smallest unit per encoded MiB written."""
    quantile_bps: int = pydantic.Field(default=6667, ge=1, le=10000)
    """The network price is the stake-weighted quantile of the nodes' votes (6667 = 2/3)."""


class NetworkPolicy(_Model):
    """Who may reach the network's node ports (`builders.network_policy`)."""

    enabled: bool = True
    client_namespace_selector: JsonObject | None = None
    """Namespaces whose pods labelled `walrus-k8s.io/client: <network>` are clients; unset:
    the network's own namespace."""
    from_: list[JsonObject] = pydantic.Field(default_factory=list, alias="from", max_length=32)
    """More NetworkPolicy peers allowed on both ports (an ipBlock, say)."""


class NetworkSpec(_Model):
    shard_count: int = pydantic.Field(ge=MIN_SHARDS, le=MAX_SHARDS)
    epoch_duration_seconds: int = pydantic.Field(default=3600, ge=10)
    minimum_stake: int = pydantic.Field(default=0, ge=0)
    max_shards_per_node: int | None = pydantic.Field(default=None, ge=1)
    pricing: Pricing = pydantic.Field(default_factory=Pricing)
    epoch_reward_pool: int = pydantic.Field(default=0, ge=0)
    """Paid at the end of each epoch to the committee that served it, split by shards."""
    network_policy: NetworkPolicy = pydantic.Field(default_factory=NetworkPolicy)

    @pydantic.model_validator(mode="after")
    def _cap_within_shards(self) -> NetworkSpec:
        f = (self.shard_count - 1) // 3
        if self.max_shards_per_node is not None and self.max_shards_per_node > f:
            raise ValueError(
                f"maxShardsPerNode ({self.max_shards_per_node}) must not exceed "
                f"f = (shardCount - 1) / 3 = {f}"
            )
        return self


class NetworkStatus(_Observed):
    current_epoch: int = 0
    phase: str | None = None
    epoch_state: str | None = None
    """The epoch controller's persisted state (`walrus_operator.epoch_record`), JSON text."""
    conditions: list[JsonObject] = pydantic.Field(default_factory=list)


class WalrusNetwork(_Observed):
    metadata: Meta
    spec: NetworkSpec
    status: NetworkStatus = pydantic.Field(default_factory=NetworkStatus)


# --------------------------------------------------------------------------- WalrusNode


class NetworkRef(_Model):
    name: str = pydantic.Field(min_length=1)


class Storage(_Model):
    size: str
    storage_class_name: str | None = None

    @pydantic.field_validator("size")
    @classmethod
    def _size_is_positive_quantity(cls, value: str) -> str:
        if quantity.parse(value) <= 0:
            raise ValueError("must be a positive quantity such as 100Gi")
        return value


def _quantities(values: dict[str, str | int]) -> dict[str, str | int]:
    for name, value in values.items():
        if isinstance(value, str) and not quantity.is_quantity(value):
            raise ValueError(f"{name}: {value!r} is not a quantity (e.g. 250m, 512Mi)")
    return values


class Resources(_Model):
    requests: dict[str, str | int] = pydantic.Field(default_factory=dict)
    limits: dict[str, str | int] = pydantic.Field(default_factory=dict)

    _requests_are_quantities = pydantic.field_validator("requests", "limits")(_quantities)

    @pydantic.model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name, limit in self.limits.items():
            request = self.requests.get(name)
            if request is not None and quantity.parse(str(request)) > quantity.parse(str(limit)):
                raise ValueError(f"requests.{name} ({request}) exceeds limits.{name} ({limit})")
        return self


class Scheduling(_Model):
    node_selector: dict[str, str] = pydantic.Field(default_factory=dict)
    affinity: JsonObject | None = None
    tolerations: list[JsonObject] = pydantic.Field(default_factory=list)
    topology_spread_constraints: list[JsonObject] = pydantic.Field(default_factory=list)
    priority_class_name: str | None = None


class PodTemplate(_Model):
    """What a user may add to the node's pod; the operator's own fields always win."""

    labels: dict[str, str] = pydantic.Field(default_factory=dict)
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)
    env: list[JsonObject] = pydantic.Field(default_factory=list)
    volume_mounts: list[JsonObject] = pydantic.Field(default_factory=list)
    volumes: list[JsonObject] = pydantic.Field(default_factory=list)
    init_containers: list[JsonObject] = pydantic.Field(default_factory=list)
    extra_containers: list[JsonObject] = pydantic.Field(default_factory=list)
    service_account_name: str | None = None


class Staking(_Model):
    stake: int = pydantic.Field(default=0, ge=0)
    commission_bps: int = pydantic.Field(default=0, ge=0, le=10000)
    storage_price_vote: int = pydantic.Field(default=0, ge=0)
    write_price_vote: int = pydantic.Field(default=0, ge=0)


IMAGE_REFERENCE = re.compile(
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*(:[0-9]+)?/)?"
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
    r"(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?"
    r"(@[a-zA-Z][a-zA-Z0-9]*([-_+.][a-zA-Z][a-zA-Z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
"""An image reference, `[registry[:port]/]path[:tag][@digest]` (the CRD's `spec.image`
pattern, the same expression)."""


class NodeSpec(_Model):
    network_ref: NetworkRef
    image: str | None = pydantic.Field(default=None, max_length=512)
    image_pull_policy: typing.Literal["Always", "IfNotPresent", "Never"] | None = None
    storage: Storage
    resources: Resources = pydantic.Field(default_factory=Resources)
    scheduling: Scheduling = pydantic.Field(default_factory=Scheduling)
    pod_template: PodTemplate = pydantic.Field(default_factory=PodTemplate)
    config: dict[str, typing.Any] = pydantic.Field(default_factory=dict)
    staking: Staking = pydantic.Field(default_factory=Staking)
    paused: bool = False

    @pydantic.field_validator("image")
    @classmethod
    def _image_is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_REFERENCE.match(value):
            # An empty image is refused, not replaced by the default behind the user's back.
            raise ValueError(
                f"{value!r} is not an image reference ([registry/]path[:tag][@digest])"
            )
        return value


class NodePoll(_Observed):
    """`status.polled`: what the epoch controller saw when it last asked the node."""

    serving: bool = False
    """The node answered, and its `grpc.health.v1` check said SERVING."""
    transport: str = ""
    """How the operator reached it: `mutual TLS` or `plaintext`."""


class NodeStatus(_Observed):
    """What the operator reads back from `.status` (its own and the epoch controller's)."""

    phase: str | None = None
    public_key: str | None = None
    epoch: int | None = None
    shards_owned: int = 0
    shards_syncing: int = 0
    polled: NodePoll | None = None
    last_error: str | None = None
    conditions: list[JsonObject] = pydantic.Field(default_factory=list)


class WalrusNode(_Observed):
    metadata: Meta
    spec: NodeSpec
    status: NodeStatus = pydantic.Field(default_factory=NodeStatus)


# --------------------------------------------------------------------------- WalrusNodePool


class TemplateMeta(_Model):
    labels: dict[str, str] = pydantic.Field(default_factory=dict)
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)


class PoolTemplate(_Model):
    metadata: TemplateMeta = pydantic.Field(default_factory=TemplateMeta)
    spec: NodeSpec


class PoolSpec(_Model):
    replicas: int = pydantic.Field(default=1, ge=0)
    template: PoolTemplate


class WalrusNodePool(_Observed):
    metadata: Meta
    spec: PoolSpec


# --------------------------------------------------------------------------- parsing

_M = typing.TypeVar("_M", bound=pydantic.BaseModel)


def _parse(model: type[_M], body: collections.abc.Mapping[str, typing.Any]) -> _M:
    try:
        return model.model_validate(dict(body))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(object)"
        raise errors.SpecInvalid(field, first["msg"]) from exc


def parse_network(body: collections.abc.Mapping[str, typing.Any]) -> WalrusNetwork:
    return _parse(WalrusNetwork, body)


def parse_node(body: collections.abc.Mapping[str, typing.Any]) -> WalrusNode:
    return _parse(WalrusNode, body)


def parse_pool(body: collections.abc.Mapping[str, typing.Any]) -> WalrusNodePool:
    return _parse(WalrusNodePool, body)
