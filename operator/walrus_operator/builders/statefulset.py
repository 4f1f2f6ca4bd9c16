"""The StatefulSet that runs one storage node: one replica, one data volume.

A StatefulSet of one (not a Deployment) gives the pod a stable name and DNS entry and
keeps its PVC across rescheduling; one StatefulSet per WalrusNode means no ordinal ever
has to be removed from the middle of a set. The pod follows docs/node-runtime.md:
`walrus-node run --config …`, gRPC on 9185 with the standard health service as the
startup probe (every second until it first answers) and the readiness probe, metrics on
9184, the key and config mounted read-only, the data on the
PVC. It runs non-root with a read-only root filesystem, no capabilities and the
RuntimeDefault seccomp profile.

The update strategy is `OnDelete`: a new pod template becomes a new revision and nothing
restarts until the operator's roller evicts the pod (`walrus_operator.rollouts`), one node
at a time and never beyond f shards offline. Unless `spec.scheduling` gives its own, pods
of one network are spread across hosts and zones (`ScheduleAnyway`: a preference, so a
one-host cluster still runs them).

`spec.podTemplate` may add labels, annotations, env, volumes, mounts and containers; the
operator's own names (volumes, the `node` container, `WALRUS_*` variables that the
operator sets) cannot be taken, and `walrus_operator.pod_policy` refuses what would reach
past the node (host paths, Secrets, tokens, privileges), both with `errors.SpecInvalid`.

Pure; called by `children`.
"""

from __future__ import annotations

import typing

from walrus_operator import errors, naming, node_config, pod_policy
from walrus_operator.builders import context, metadata

__all__ = [
    "NODE_CONTAINER",
    "RUN_AS",
    "SHUTDOWN_MARGIN_SECONDS",
    "STARTUP_SECONDS",
    "build_statefulset",
    "claim_template_size",
]

NODE_CONTAINER = "node"
RUN_AS = 65532
"""The unprivileged uid/gid the node runs as (the image's `nonroot` user); also the
fsGroup, so the PVC is writable by it."""
STARTUP_SECONDS = 300
"""How long the startup probe (once a second) lets a node take to answer on its gRPC port
before the kubelet restarts it: opening the store and starting the service take seconds;
five minutes leaves room for a slow volume without hiding a node that hangs for good."""
SHUTDOWN_MARGIN_SECONDS = 15
"""Added to the node's own `shutdown_grace_seconds` for terminationGracePeriodSeconds, so
the kubelet's SIGKILL never cuts the node's graceful stop short."""
TMP_VOLUME = "tmp"
_RESERVED_VOLUMES = frozenset(
    {naming.DATA_VOLUME, naming.KEYS_VOLUME, naming.CONFIG_VOLUME, naming.TLS_VOLUME, TMP_VOLUME}
)
_RESERVED_ENV = frozenset(f"WALRUS_{key.upper()}" for key in node_config.OPERATOR_KEYS)
_DEFAULT_REQUESTS = {"cpu": "250m", "memory": "512Mi"}


def _check_names(
    field: str, items: list[dict[str, typing.Any]], reserved: frozenset[str], what: str
) -> None:
    for index, item in enumerate(items):
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise errors.SpecInvalid(f"{field}[{index}].name", "is required")
        if name in reserved:
            raise errors.SpecInvalid(
                f"{field}[{index}].name", f"{name!r} is the operator's own {what}"
            )


def _health_probe(ctx: context.NodeContext) -> dict[str, typing.Any]:
    """The probe's check. The kubelet's gRPC probe speaks plaintext only: with TLS it can
    only ask "accepting connections"; the epoch controller's health check (over mutual
    TLS) remains what decides whether the node serves."""
    if ctx.tls:
        return {"tcpSocket": {"port": "grpc"}}
    return {"grpc": {"port": node_config.GRPC_PORT}}


def _node_container(ctx: context.NodeContext) -> dict[str, typing.Any]:
    spec = ctx.node.spec
    template = spec.pod_template
    _check_names("spec.podTemplate.env", template.env, _RESERVED_ENV, "environment variable")
    container: dict[str, typing.Any] = {
        "name": NODE_CONTAINER,
        "image": ctx.image,
        "command": ["walrus-node"],
        "args": ["run", "--config", f"{node_config.CONFIG_DIR}/node.yaml"],
        "ports": [
            {"name": "grpc", "containerPort": node_config.GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": node_config.METRICS_PORT, "protocol": "TCP"},
        ],
        "env": [
            {
                "name": "WALRUS_LISTEN_HOST",
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            },
            *template.env,
        ],
        # Startup: asked every second until the node first answers, so that a started
        # node is Ready within a second or two instead of at the next readiness period
        # (a rolling restart waits for that before it takes the next pod down). Cheap:
        # it stops once it succeeds; it allows STARTUP_SECONDS for the node to start.
        "startupProbe": {
            **_health_probe(ctx),
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": STARTUP_SECONDS,
        },
        "readinessProbe": {
            **_health_probe(ctx),
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        # Liveness only asks "is the process accepting connections": a node that is
        # NOT_SERVING while it syncs or shuts down must not be restarted for it. It starts
        # once the startup probe has succeeded.
        "livenessProbe": {
            "tcpSocket": {"port": "grpc"},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": dict(spec.resources.requests or _DEFAULT_REQUESTS),
            **({"limits": dict(spec.resources.limits)} if spec.resources.limits else {}),
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": naming.DATA_VOLUME, "mountPath": node_config.DATA_DIR},
            {"name": naming.KEYS_VOLUME, "mountPath": node_config.KEYS_DIR, "readOnly": True},
            {"name": naming.CONFIG_VOLUME, "mountPath": node_config.CONFIG_DIR, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            *(
                [{"name": naming.TLS_VOLUME, "mountPath": node_config.TLS_DIR, "readOnly": True}]
                if ctx.tls
                else []
            ),
            *template.volume_mounts,
        ],
    }
    if spec.image_pull_policy is not None:
        container["imagePullPolicy"] = spec.image_pull_policy
    return container


def _default_spread(ctx: context.NodeContext) -> list[dict[str, typing.Any]]:
    """Spread a network's node pods over hosts and zones, as a preference."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "walrus-node",
                    naming.LABEL_NETWORK: ctx.network,
                }
            },
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def _pod_spec(ctx: context.NodeContext, grace_seconds: int) -> dict[str, typing.Any]:
    spec = ctx.node.spec
    template = spec.pod_template
    scheduling = spec.scheduling
    _check_names("spec.podTemplate.volumes", template.volumes, _RESERVED_VOLUMES, "volume")
    pod_policy.check(template)
    _check_names(
        "spec.podTemplate.extraContainers",
        template.extra_containers,
        frozenset({NODE_CONTAINER}),
        "container",
    )
    pod: dict[str, typing.Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": grace_seconds + SHUTDOWN_MARGIN_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if template.service_account_name is not None:
        pod["serviceAccountName"] = template.service_account_name
    if scheduling.priority_class_name is not None:
        pod["priorityClassName"] = scheduling.priority_class_name
    if scheduling.node_selector:
        pod["nodeSelector"] = dict(scheduling.node_selector)
    if scheduling.affinity is not None:
        pod["affinity"] = scheduling.affinity
    if scheduling.tolerations:
        pod["tolerations"] = list(scheduling.tolerations)
    pod["topologySpreadConstraints"] = list(
        scheduling.topology_spread_constraints or _default_spread(ctx)
    )
    if template.init_containers:
        pod["initContainers"] = list(template.init_containers)
    pod["containers"] = [_node_container(ctx), *template.extra_containers]
    pod["volumes"] = [
        {
            "name": naming.KEYS_VOLUME,
            "secret": {
                "secretName": naming.keys_secret_name(ctx.name),
                "defaultMode": 0o440,
            },
        },
        {"name": naming.CONFIG_VOLUME, "configMap": {"name": naming.config_map_name(ctx.name)}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
        *(
            [
                {
                    "name": naming.TLS_VOLUME,
                    "secret": {
                        "secretName": naming.tls_secret_name(ctx.name),
                        "defaultMode": 0o440,
                    },
                }
            ]
            if ctx.tls
            else []
        ),
        *template.volumes,
    ]
    return pod


def build_statefulset(ctx: context.NodeContext, config_hash: str) -> dict[str, typing.Any]:
    """The node's StatefulSet; `config_hash` is `node_config.config_hash(node.yaml)`."""
    spec = ctx.node.spec
    template = spec.pod_template
    labels = {**template.labels, **naming.node_labels(ctx.name, ctx.network, ctx.pool)}
    annotations = {**template.annotations, naming.ANNOTATION_CONFIG_HASH: config_hash}
    claim_spec: dict[str, typing.Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": ctx.claim_size}},
    }
    if spec.storage.storage_class_name is not None:
        claim_spec["storageClassName"] = spec.storage.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata.object_meta(ctx, naming.statefulset_name(ctx.name)),
        "spec": {
            "replicas": 1,
            "serviceName": naming.service_name(ctx.name),
            "selector": {"matchLabels": naming.selector_labels(ctx.name)},
            "updateStrategy": {"type": "OnDelete"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": _pod_spec(ctx, node_config.shutdown_grace_seconds(spec)),
            },
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": naming.DATA_VOLUME,
                        "labels": naming.selector_labels(ctx.name),
                    },
                    "spec": claim_spec,
                }
            ],
        },
    }


def claim_template_size(statefulset: dict[str, typing.Any]) -> str | None:
    """The storage request in an existing StatefulSet's `data` claim template, if any."""
    for claim in statefulset.get("spec", {}).get("volumeClaimTemplates", []):
        if claim.get("metadata", {}).get("name") == naming.DATA_VOLUME:
            size = claim.get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
            return size if isinstance(size, str) else None
    return None
