"""What `spec.podTemplate` may add to a node's pod: the operator's own check of the rules
the CRD's CEL also states (docs/security.md, "Kubernetes blast radius").

A node pod holds one storage node's key; what a user adds to it must not reach further
than that. Refused, each as `errors.SpecInvalid` naming the field:

- volumes other than `emptyDir`, `configMap`, `persistentVolumeClaim`, `downwardAPI`,
  `ephemeral`, `image`, `csi` (without `nodePublishSecretRef`) and `projected` (with
  `configMap`, `downwardAPI` or `clusterTrustBundle` sources only): so no `hostPath`, no
  Secret (the node's own key and certificates are mounted by the operator) and no
  service-account token;
- environment read from a Secret (`valueFrom.secretKeyRef`, `envFrom[].secretRef`), in the
  node container and in every added container;
- privileged containers, added capabilities and host ports;
- label keys that are not label keys (`[prefix/]name`, name at most 63 characters; the
  CRD checks the values, but a rule over every key costs more than CEL's budget allows).

Host namespaces (`hostNetwork`, `hostPID`, `hostIPC`) have no field in the overlay, and the
pod never mounts a service-account token (`automountServiceAccountToken: false`).

This is an allow-list, so a volume type the CEL rules do not name is refused here too:
the CEL rules refuse at admission on API servers that run them, this check refuses on the
operator's side (a condition naming the field) whatever admitted the object. Pure; called
by the StatefulSet builder.
"""

from __future__ import annotations

import collections.abc
import re
import typing

from walrus_operator import errors, models

__all__ = ["ALLOWED_PROJECTIONS", "ALLOWED_VOLUMES", "check"]

Json = collections.abc.Mapping[str, typing.Any]

ALLOWED_VOLUMES = frozenset(
    {
        "emptyDir",
        "configMap",
        "persistentVolumeClaim",
        "downwardAPI",
        "ephemeral",
        "image",
        "csi",
        "projected",
    }
)
ALLOWED_PROJECTIONS = frozenset({"configMap", "downwardAPI", "clusterTrustBundle"})
_FIELD = "spec.podTemplate"
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_MAX_PREFIX = 253


def _volume(field: str, volume: Json) -> None:
    for key in sorted(set(volume) - {"name"}):
        if key not in ALLOWED_VOLUMES:
            raise errors.SpecInvalid(
                f"{field}.{key}",
                f"{key} volumes are not allowed (allowed: {', '.join(sorted(ALLOWED_VOLUMES))})",
            )
    csi = volume.get("csi")
    if isinstance(csi, collections.abc.Mapping) and "nodePublishSecretRef" in csi:
        raise errors.SpecInvalid(f"{field}.csi.nodePublishSecretRef", "is not allowed")
    projected = volume.get("projected")
    sources = projected.get("sources") if isinstance(projected, collections.abc.Mapping) else None
    for index, source in enumerate(sources or []):
        for key in sorted(source if isinstance(source, collections.abc.Mapping) else {}):
            if key not in ALLOWED_PROJECTIONS:
                raise errors.SpecInvalid(
                    f"{field}.projected.sources[{index}].{key}", "is not an allowed projection"
                )


def _env(field: str, env: collections.abc.Sequence[Json]) -> None:
    for index, variable in enumerate(env):
        source = variable.get("valueFrom")
        if isinstance(source, collections.abc.Mapping) and "secretKeyRef" in source:
            raise errors.SpecInvalid(
                f"{field}[{index}].valueFrom.secretKeyRef",
                "is not allowed: a node pod reads no Secret but its own",
            )


def _container(field: str, container: Json) -> None:
    _env(f"{field}.env", container.get("env") or [])
    for index, source in enumerate(container.get("envFrom") or []):
        if isinstance(source, collections.abc.Mapping) and "secretRef" in source:
            raise errors.SpecInvalid(f"{field}.envFrom[{index}].secretRef", "is not allowed")
    for index, port in enumerate(container.get("ports") or []):
        if isinstance(port, collections.abc.Mapping) and port.get("hostPort"):
            raise errors.SpecInvalid(f"{field}.ports[{index}].hostPort", "is not allowed")
    security = container.get("securityContext") or {}
    if security.get("privileged"):
        raise errors.SpecInvalid(f"{field}.securityContext.privileged", "is not allowed")
    if (security.get("capabilities") or {}).get("add"):
        raise errors.SpecInvalid(f"{field}.securityContext.capabilities.add", "is not allowed")


def check(template: models.PodTemplate) -> None:
    """Raise `errors.SpecInvalid` naming the first field of `template` that breaks a rule."""
    for key in sorted(template.labels):
        prefix = key.rpartition("/")[0]
        if not _LABEL_KEY.match(key) or len(prefix) > _MAX_PREFIX:
            raise errors.SpecInvalid(
                f"{_FIELD}.labels", f"{key!r} is not a label key ([prefix/]name, name ≤ 63)"
            )
    for index, volume in enumerate(template.volumes):
        _volume(f"{_FIELD}.volumes[{index}]", volume)
    _env(f"{_FIELD}.env", template.env)
    for kind, containers in (
        ("initContainers", template.init_containers),
        ("extraContainers", template.extra_containers),
    ):
        for index, container in enumerate(containers):
            _container(f"{_FIELD}.{kind}[{index}]", container)
