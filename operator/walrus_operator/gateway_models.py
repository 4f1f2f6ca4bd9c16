"""Typed view of the WalrusGateway custom resource: the HTTP gateway (docs/gateway.md) run
as a Deployment for a WalrusNetwork.

Like `models`, `parse_gateway(body)` turns the Kubernetes object into a frozen pydantic
model, and a validation failure becomes `errors.SpecInvalid` naming the field as the CRD
spells it. Pure; called by the gateway reconciler, builders and tests.
"""

from __future__ import annotations

import collections.abc
import typing

import pydantic
import pydantic.alias_generators

from walrus_operator import errors, models

__all__ = [
    "Autoscaling",
    "GatewaySpec",
    "GatewayStatus",
    "Ingress",
    "SecretKeyRef",
    "WalrusGateway",
    "parse_gateway",
]


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class SecretKeyRef(_Model):
    """One key of a Secret in the gateway's namespace, mounted as a file."""

    name: str = pydantic.Field(min_length=1)
    key: str = pydantic.Field(min_length=1)


class Jwt(_Model):
    secret_ref: SecretKeyRef
    algorithm: str = "HS256"
    expiring_seconds: int = pydantic.Field(default=0, ge=0)


class Ingress(_Model):
    host: str = pydantic.Field(min_length=1)
    class_name: str | None = None
    tls_secret_name: str | None = None
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)


class Autoscaling(_Model):
    min_replicas: int = pydantic.Field(default=1, ge=1)
    max_replicas: int = pydantic.Field(ge=1)
    target_cpu_utilization_percentage: int = pydantic.Field(
        default=70, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )

    @pydantic.model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        return self


class GatewaySpec(_Model):
    network_ref: models.NetworkRef
    replicas: int = pydantic.Field(default=1, ge=0)
    aggregator: bool = True
    publisher: bool = True
    image: str | None = None
    image_pull_policy: typing.Literal["Always", "IfNotPresent", "Never"] | None = None
    cache_bytes: int = pydantic.Field(default=0, ge=0)
    max_body_bytes: int = pydantic.Field(default=256 << 20, ge=1)
    max_concurrent_uploads: int = pydantic.Field(default=4, ge=1)
    max_epochs: int = pydantic.Field(default=0, ge=0)
    jwt: Jwt | None = None
    owner_secret_ref: SecretKeyRef | None = None
    resources: models.Resources = pydantic.Field(default_factory=models.Resources)
    ingress: Ingress | None = None
    autoscaling: Autoscaling | None = None

    @pydantic.model_validator(mode="after")
    def _serves_something(self) -> GatewaySpec:
        if not (self.aggregator or self.publisher):
            raise ValueError("enable the aggregator, the publisher or both")
        return self


class GatewayStatus(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel, populate_by_name=True, extra="ignore"
    )
    conditions: list[dict[str, typing.Any]] = pydantic.Field(default_factory=list)


class WalrusGateway(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )
    metadata: models.Meta
    spec: GatewaySpec
    status: GatewayStatus = pydantic.Field(default_factory=GatewayStatus)


def parse_gateway(body: collections.abc.Mapping[str, typing.Any]) -> WalrusGateway:
    try:
        return WalrusGateway.model_validate(dict(body))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(object)"
        raise errors.SpecInvalid(field, first["msg"]) from exc
